"""Objects of a kind/apiVersion the cluster's Cilium no longer serves.

kubeconform cannot see these: the CRD schema catalog keeps every version ever
published, so a removed one still validates. After an upgrade Cilium silently
ignores such objects (a CiliumBGPPeeringPolicy on 1.19 announces nothing), so
each one fails here, named with the Cilium version that removed it and what
replaces it. The objects are read exactly as the kubeconform check builds them
(`kustomize build` per unit, or the plain files); Helm charts' output is not
walked here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from ... import versions
from ...errors import ToolFailed
from .. import gitops
from ..base import Context, Job, Result
from . import kubeconform

CHECK = "cilium apiVersions"


@dataclass(frozen=True)
class Removal:
    removed_in: tuple[int, int]  # the Cilium minor that stopped serving it
    replacement: str


# (group, version, kind) -> when Cilium removed it. Only removals an upstream source states.
# Deprecated versions that are still served are not listed: the BGP resources' v2alpha1
# (deprecated in 1.18, cilium/cilium#38239; removal planned for 1.21, #47242),
# CiliumLoadBalancerIPPool v2alpha1 (deprecated in 1.19, #39134), and CiliumNodeConfig
# v2alpha1 (dropped in 1.20.0 by #44739, restored by #48087 because upgrades broke).
REMOVED: dict[tuple[str, str, str], Removal] = {
    # Documentation/operations/upgrade.rst, 1.19 Upgrade Notes: "The previously deprecated
    # CiliumBGPPeeringPolicy CRD and its control plane (BGPv1) has been removed" (cilium/cilium#42278);
    # the 1.19 chart's operator no longer manages ciliumbgppeeringpolicies.cilium.io.
    ("cilium.io", "v2alpha1", "CiliumBGPPeeringPolicy"): Removal(
        (1, 19), "cilium.io/v2 CiliumBGPClusterConfig + CiliumBGPPeerConfig + CiliumBGPAdvertisement"
    ),
}
# Part of every job's cache key: a change to the table must re-run the check.
TABLE_KEY = hashlib.sha256(json.dumps(sorted((list(k), list(v.removed_in), v.replacement) for k, v in REMOVED.items())).encode()).hexdigest()


def removal(doc: dict[str, Any], cilium_version: str) -> Removal | None:
    """What removed the object's kind/apiVersion from this Cilium version, if anything did."""
    group, _, version = str(doc.get("apiVersion", "")).rpartition("/")
    found = REMOVED.get((group, version, str(doc.get("kind", ""))))
    return found if found and versions.minor(cilium_version) >= found.removed_in else None


def _describe(doc: dict[str, Any]) -> str:
    meta = doc.get("metadata") or {}
    name = f"{meta['namespace']}/{meta.get('name', '')}" if meta.get("namespace") else str(meta.get("name", ""))
    return f"{doc.get('apiVersion')} {doc.get('kind')} {name}".strip()


def check_manifests(label: str, text: str, cilium_version: str) -> Result:
    """One Result for one built manifest stream: every object of a removed kind/apiVersion fails it."""
    try:
        docs = gitops.load_docs(text, label)
    except gitops.ManifestError as e:
        return Result(CHECK, label, False, f"its objects cannot be read: {e}")
    found = [(doc, gone) for doc in docs if (gone := removal(doc, cilium_version))]
    if not found:
        return Result(CHECK, label, True)
    lines = [
        f"{_describe(doc)}: removed in Cilium {versions.show(gone.removed_in)}; Cilium {cilium_version} ignores it"
        for doc, gone in found
    ]
    hint = "; ".join(dict.fromkeys(f"use {gone.replacement}" for _, gone in found))
    return Result(CHECK, label, False, "\n".join(lines), hint)


def _unit_job(ctx: Context, unit: gitops.Unit, tool_version: str) -> Job:
    cilium_version = ctx.inventory.cilium.version

    def run() -> list[Result]:
        try:
            manifests = kubeconform.build(ctx, unit)
        except ToolFailed:
            # The kubeconform check reports kustomize's own words; this unit stays failed here too.
            return [Result(CHECK, unit.path, False, "kustomize build fails: its objects cannot be read", "fix the `kustomize build` error of this unit")]
        return [check_manifests(label, text, cilium_version) for label, text in sorted(manifests.items())]

    return Job(CHECK, unit.files, run, tool_version, f"cilium {cilium_version}; table {TABLE_KEY}; {unit.path}")


def jobs(ctx: Context) -> list[Job]:
    discovery = ctx.discovery
    tool_version = kubeconform.tool_version("kustomize")
    # Paths that do not exist are the kubeconform check's finding; there is nothing to read here.
    return [_unit_job(ctx, unit, tool_version) for unit in discovery.units]
