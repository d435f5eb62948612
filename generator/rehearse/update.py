"""The git-driven update: change cluster.yaml (one LoadBalancer pool more, Cilium's patch
version bumped when a bump is pinned), render, commit to the served repository, ask the
engine to sync, and list what changed in the cluster: each change must be one the render
or the new chart explains, and nothing else may change."""

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
    cilium_version: str | None  # the bumped version, or None: unchanged


def next_pool_cidr(inv: Inventory) -> IPv4Network:
    """The block right after the last pool, of the same size (rules.py judges whether it fits)."""
    last = inv.load_balancer_pools[-1].cidr if inv.load_balancer_pools else IPv4Network("192.0.2.0/28")
    return IPv4Network((int(last.network_address) + last.num_addresses, last.prefixlen))


def changed_repository(repo: Path, inv: Inventory, target: Path, cilium_version: str | None = None) -> Change:
    """A copy of the repository with one more pool in cluster.yaml (and `cilium_version`, if
    given, as Cilium's version), rendered."""
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
    if cilium_version:
        data["cilium"]["version"] = cilium_version
        description += f"; cilium.version {inv.cilium.version} -> {cilium_version}"
    out = io.StringIO()
    yaml.dump(data, out)
    (target / layout.INVENTORY).write_text(out.getvalue())
    repository.render_repo(target)
    return Change(description, ADDED_POOL, cidr, cilium_version)


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


def manifest_objects(manifest: str) -> list[dict[str, Any]]:
    """The objects of a multi-document manifest (helm's), as plain data."""
    return [json.loads(json.dumps(d)) for d in yamlio.loader().load_all(manifest) if isinstance(d, dict) and "kind" in d]


def _entry_id(obj: dict[str, Any], namespace: str) -> str:
    """The object's Flux inventory id; a namespaced object without a namespace is in the release's."""
    return f"{obj['metadata'].get('namespace', namespace)}_{obj['metadata']['name']}_{obj['apiVersion'].rpartition('/')[0]}_{obj['kind']}"


def release_entries(manifest: str, namespace: str) -> list[tuple[str, str]]:
    """The objects of a Helm manifest as Flux inventory entries (id, API version)."""
    return [(_entry_id(o, namespace), o["apiVersion"].rpartition("/")[2]) for o in manifest_objects(manifest)]


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


def rendered_digests(manifest: str, namespace: str) -> dict[str, str]:
    """A rendered manifest's objects by Flux inventory id, with the digest `snapshot` takes."""
    return {_entry_id(o, namespace): _digest(o) for o in manifest_objects(manifest)}


@dataclass(frozen=True)
class ChartChanges:
    """What a chart upgrade changes, in the words of `differences`: by_version, what the new
    chart renders differently with the same values; regenerated, what two renders of the old
    chart already differ in (the certificates the chart generates at each render)."""

    by_version: list[str]
    regenerated: list[str]


def chart_changes(old: str, old_again: str, new: str, namespace: str) -> ChartChanges:
    a, b, c = (rendered_digests(m, namespace) for m in (old, old_again, new))
    regenerated = {i for i in a.keys() & b.keys() if a[i] != b[i]}
    stable = lambda d: {i: digest for i, digest in d.items() if i not in regenerated}  # noqa: E731
    return ChartChanges(differences(stable(a), stable(c)), differences({i: a[i] for i in regenerated}, {i: b[i] for i in regenerated}))


def explain(changes: list[str], rendered: list[str], chart: ChartChanges | None, new_version: str | None) -> tuple[list[str], list[str]]:
    """Each change in the cluster with what explains it, and the problems: a change nothing
    explains (something else changed), or one the render or the new chart makes that did not
    happen. A regenerated certificate may change or not."""
    by_version = set(chart.by_version) if chart else set()
    regenerated = set(chart.regenerated) if chart else set()
    lines, problems = [], []
    for change in changes:
        if change in rendered:
            lines.append(f"{change} (the render)")
        elif change in by_version:
            lines.append(f"{change} (the chart {new_version})")
        elif change in regenerated:
            lines.append(f"{change} (certificates the chart generates anew at each upgrade)")
        else:
            lines.append(f"{change} (UNEXPECTED)")
            problems.append(f"{change}: neither the render nor the new chart changes it")
    problems += [f"{c}: the render changes it, the cluster did not" for c in rendered if c not in changes]
    problems += [f"{c}: the chart {new_version} changes it, the cluster did not" for c in sorted(by_version) if c not in changes]
    return lines, problems


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
