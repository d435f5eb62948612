"""Every kubeadm config through `kubeadm config validate`, run by the kubeadm of
the cluster's own Kubernetes minor.

The committed files hold no secrets, and kubeadm rejects a join config without
a token and CA hash, so the file validated is the committed file's content
with obviously fake secrets filled in where the renderer's `with_secrets` puts
the real ones (not a re-render: a hand-broken file must fail).
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path
from typing import Any

from ... import yamlio
from ...model import Inventory
from ...render import kubeadm as renderer
from ...secrets import ClusterSecrets
from .. import gitops
from ..base import Context, Job, Result
from . import _common
from ._common import RERENDER, Tool

# layout.kubeadm_file(inv, node) for every node (tests hold them together).
FILES = "kubeadm/*.yaml"
CHECK = "kubeadm config validate"

# FAKE secrets, for validation only: well-formed so kubeadm accepts the fields,
# and recognisable at a glance (the token is the one kubeadm's own docs use).
DUMMY_SECRETS = ClusterSecrets(
    bootstrap_token="abcdef." + "0123456789abcdef",  # FAKE, built in two parts: the example token of kubeadm's docs
    certificate_key="0123456789abcdef" * 4,
    ca_cert_hash="sha256:" + "0123456789abcdef" * 4,
)

Path_ = tuple[str, ...]  # a field's keys from the document root


def jobs(ctx: Context) -> list[Job]:
    version = ctx.inventory.kubernetes.version
    tool = _common.find("kubeadm", kubernetes_version=version)
    fields = secret_fields(ctx.inventory)
    return _common.file_jobs(CHECK, tool, _common.repo_files(ctx, FILES), lambda path: validate(ctx, tool, path, fields))


def secret_fields(inv: Inventory) -> dict[str, dict[Path_, Any]]:
    """kind -> {field path: dummy value}: where `with_secrets` adds secrets to each kind of document."""
    fields: dict[str, dict[Path_, Any]] = {}
    # One node per shape of kubeadm file (init on the first control plane, join per role):
    # the secrets sit in the same fields for every node of a shape.
    shapes = {(node == inv.control_planes[0], node.role): node for node in reversed(inv.kubernetes_nodes)}
    for node in shapes.values():
        plain = yamlio.loader().load_all(renderer.config(inv, node))
        filled = yamlio.loader().load_all(renderer.with_secrets(inv, node, DUMMY_SECRETS))
        for before, after in zip(plain, filled, strict=True):
            fields.setdefault(after["kind"], {}).update(_added(before, after, ()))
    return fields


def _added(before: dict, after: dict, prefix: Path_) -> dict[Path_, Any]:
    out: dict[Path_, Any] = {}
    for key, value in after.items():
        if isinstance(value, dict) and isinstance(before.get(key), dict):
            out |= _added(before[key], value, (*prefix, key))
        elif key not in before or before[key] != value:
            out[(*prefix, key)] = value
    return out


def with_dummy_secrets(text: str, fields: dict[str, dict[Path_, Any]]) -> str:
    """The committed YAML with the dummy secrets set; a field is set only where its parent
    exists (a worker's join has no controlPlane, and must not get one). Unparseable text
    is returned unchanged for kubeadm to report."""
    yaml = yamlio.loader()
    yaml.preserve_quotes = True  # kubeadm reads YAML 1.1: a node named y or n stays a string only quoted
    try:
        documents = gitops.parse_all(text, "", yaml)
    except gitops.ManifestError:
        return text
    for doc in documents:
        if not isinstance(doc, dict):
            continue
        for path, value in fields.get(str(doc.get("kind")), {}).items():
            parent: Any = doc
            for key in path[:-1]:
                parent = parent.get(key) if isinstance(parent, dict) else None
            if isinstance(parent, dict):
                parent[path[-1]] = value
    out = io.StringIO()
    yaml.explicit_start = True
    yaml.width = sys.maxsize  # keep every value on its line, however long: kubeadm's line numbers are the file's
    yaml.dump_all(documents, out)
    return out.getvalue()


def validate(ctx: Context, tool: Tool, path: str, fields: dict[str, dict[Path_, Any]]) -> Result:
    with tempfile.TemporaryDirectory(prefix="cf-kubeadm-") as tmp:
        config = Path(tmp) / Path(path).name
        config.write_text(with_dummy_secrets(_common.read(ctx, path), fields), encoding="utf-8")
        hint = f"{tool.name} rejects this config (validated with fake secrets filled in); {RERENDER}"
        return _common.verdict(CHECK, path, [tool.require(), "config", "validate", "--config", config], hint, renames={str(config): path})
