"""What a rehearsal leaves for `clusterforge simulate`: the CiliumBGPNodeConfig objects
Cilium's operator computed, in the user cache (never in the repository), filed under a
digest of the files they were computed from, so an edit to any of them makes simulate
fall back to its own translation."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..render import layout
from ..validate import caches

RECORDS = "rehearsals"
# What the operator's answer depends on: the inventory (nodes, their labels) and the Cilium objects.
INPUTS = (layout.INVENTORY, layout.CILIUM_BGP, layout.LB_IPPOOLS, layout.CILIUM_VALUES)
MAX_RECORD = 1 << 20  # bytes: a record is a few kilobytes; more is not ours


def key(repo: Path) -> str:
    digest = hashlib.sha256()
    for rel in INPUTS:
        path = repo / rel
        digest.update(rel.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"(absent)") + b"\0")
    return digest.hexdigest()


def record_path(repo: Path) -> Path:
    return caches.cache_dir() / RECORDS / f"{key(repo)}.json"


def save(repo: Path, node_configs: list[dict[str, Any]]) -> Path:
    """Write the operator's node configurations (name and spec of each), atomically."""
    path = record_path(repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"nodeConfigs": [{"name": c["metadata"]["name"], "spec": c.get("spec", {})} for c in node_configs]}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".record-")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return path


def load(repo: Path) -> tuple[Path, dict[str, dict[str, Any]]] | None:
    """(the record, node name -> spec) when a rehearsal of exactly these files has run; None
    when none has, or the record is not one (read as hostile: shape checked, size bounded)."""
    path = record_path(repo)
    try:
        if not path.is_file() or path.stat().st_size > MAX_RECORD:
            return None
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    configs = data.get("nodeConfigs") if isinstance(data, dict) else None
    if not isinstance(configs, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("spec"), dict) for c in configs):
        return None
    return path, {c["name"]: c["spec"] for c in configs}
