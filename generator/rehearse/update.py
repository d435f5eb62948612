"""The git-driven update: change cluster.yaml (one LoadBalancer pool more), render, commit
to the served repository, ask the engine to sync, and list what changed in the cluster."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

from .. import repo as repository
from .. import yamlio
from ..model import Inventory
from ..render import layout
from .kube import Kubectl

ADDED_POOL = "rehearsal-added"
ADDED_LABEL = "rehearse.clusterforge.dev/added"


@dataclass(frozen=True)
class Change:
    description: str
    pool: str
    cidr: IPv4Network


def next_pool_cidr(inv: Inventory) -> IPv4Network:
    """The block right after the last pool, of the same size (rules.py judges whether it fits)."""
    last = inv.load_balancer_pools[-1].cidr if inv.load_balancer_pools else IPv4Network("192.0.2.0/28")
    return IPv4Network((int(last.network_address) + last.num_addresses, last.prefixlen))


def changed_repository(repo: Path, inv: Inventory, target: Path) -> Change:
    """A copy of the repository with one more pool in cluster.yaml, rendered."""
    shutil.copytree(repo, target, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    cidr = next_pool_cidr(inv)
    yaml = yamlio.loader()
    data = yaml.load((target / layout.INVENTORY).read_text())
    pools = data.setdefault("loadBalancerPools", [])
    description = f"cluster.yaml: loadBalancerPools + {ADDED_POOL} ({cidr}, for Services labelled {ADDED_LABEL}=true)"
    # With several pools each needs a selector or one must be the default (rules.py): the pool
    # without a selector becomes the default, as a person adding a pool would do.
    plain = [p for p in pools if not p.get("serviceSelector")]
    if plain and not any(p.get("default") for p in pools):
        plain[0]["default"] = True
        description += f"; pool {plain[0]['name']} default: true"
    pools.append({"name": ADDED_POOL, "cidr": str(cidr), "serviceSelector": {ADDED_LABEL: "true"}})
    out = io.StringIO()
    yaml.dump(data, out)
    (target / layout.INVENTORY).write_text(out.getvalue())
    repository.render_repo(target)
    return Change(description, ADDED_POOL, cidr)


# What the engine applies: Flux's cluster folder and what its Kustomizations point at, or
# the Applications of Argo CD's root and what they point at.
APPLIED_DIRS = ("clusters", "infrastructure", layout.ARGOCD_APPS_DIR)
KUSTOMIZE_CONFIG = "kustomize.config.k8s.io/"


def rendered_objects(repo: Path) -> dict[str, str]:
    """Every object of the rendered tree the engine applies ("Kind name"), with a digest of
    what it says; kustomize's own files are not objects."""
    found: dict[str, str] = {}
    for top in APPLIED_DIRS:
        for path in sorted((repo / top).rglob("*.yaml")):
            for doc in yamlio.loader().load_all(path.read_text()):
                if isinstance(doc, dict) and "kind" in doc and not str(doc.get("apiVersion", "")).startswith(KUSTOMIZE_CONFIG):
                    plain = json.loads(json.dumps(doc))
                    found[f"{plain['kind']} {plain['metadata']['name']}"] = _digest(plain)
    return found


def rendered_changes(before: Path, after: Path) -> list[str]:
    """What the render changed, in the words of `differences`."""
    old, new = rendered_objects(before), rendered_objects(after)
    lines = [f"added {k}" for k in sorted(new.keys() - old.keys())]
    lines += [f"removed {k}" for k in sorted(old.keys() - new.keys())]
    lines += [f"changed {k}" for k in sorted(old.keys() & new.keys()) if old[k] != new[k]]
    return lines


def _identity(entry_id: str) -> tuple[str, str, str, str]:
    """A Flux inventory id: namespace_name_group_kind."""
    namespace, name, group, kind = entry_id.split("_")
    return namespace, name, group, kind


def flux_inventory(kubectl: Kubectl) -> list[tuple[str, str]]:
    """What the Kustomizations applied: (Flux inventory id, API version)."""
    return [(entry["id"], entry["v"]) for k in kubectl.items("kustomizations.kustomize.toolkit.fluxcd.io")
            for entry in (k.get("status", {}).get("inventory") or {}).get("entries", [])]


def snapshot(kubectl: Kubectl, inventory: list[tuple[str, str]]) -> dict[str, str]:
    """Every object of the engine's inventory (Flux inventory ids and API versions) with a
    digest of what it says (spec, data: everything but metadata and status)."""
    found: dict[str, str] = {}
    for entry_id, version in inventory:
        namespace, name, group, kind = _identity(entry_id)
        resource = f"{kind}.{version}.{group}" if group else kind
        obj = kubectl.get(resource, name, namespace or None)
        found[entry_id] = _digest(obj) if obj else "absent"
    return found


def _digest(obj: dict[str, Any]) -> str:
    # Not Argo CD's `operation` either: the request for a sync the controller clears when it is done.
    said = {k: v for k, v in obj.items() if k not in ("metadata", "status", "operation")}
    return hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()


def differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What changed in the cluster ("added Kind name", ...), in the order of rendered_changes."""
    shown = lambda i: "{3} {1}".format(*_identity(i))  # noqa: E731
    lines = [f"added {shown(i)}" for i in sorted(after.keys() - before.keys(), key=shown)]
    lines += [f"removed {shown(i)}" for i in sorted(before.keys() - after.keys(), key=shown)]
    lines += [f"changed {shown(i)}" for i in sorted(before.keys() & after.keys(), key=shown) if before[i] != after[i]]
    return lines
