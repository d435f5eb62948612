"""`clusterforge plan`: what rendering cluster.yaml would change, as a file diff,
and what an operator then has to do outside git (GitOps applies the rest).

Steps are derived from which rendered files change, so every renderer's output
is covered by the path layout alone; version changes are read from the files
themselves (the kubeadm ClusterConfiguration, the bootstrap values' chart).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import repo as repository
from . import versions, writer
from .model import Inventory
from .render import cilium, layout, tree

_KUBERNETES_VERSION = re.compile(r"^kubernetesVersion: v(\S+)$", re.M)
_CILIUM_VERSION = re.compile(r"--version (\S+)")


@dataclass
class Plan:
    diff: str
    steps: list[str] = field(default_factory=list)


def plan(repo: Path) -> Plan:
    inv = repository.load(repo).inventory
    rendered = tree.render(inv)
    files = writer.plan(repo, rendered)
    changed = sorted(files.create + files.update + files.remove + files.conflicts)
    on_disk = writer.read_texts(repo, [*changed, *_versioned_files(inv)])
    diff = "".join(_diff(rel, on_disk[rel], rendered.get(rel)) for rel in changed)
    return Plan(diff, _steps(inv, rendered, files, {rel: text for rel, (_, text) in on_disk.items()}))


def _versioned_files(inv: Inventory) -> list[str]:
    """The files whose versions the upgrade steps compare."""
    return [layout.kubeadm_file(inv, inv.control_planes[0]), layout.CILIUM_BOOTSTRAP]


def _diff(rel: str, old: tuple[str | None, str], new: str | None) -> str:
    kind, text = old
    fromfile = "/dev/null" if kind is None else f"a/{rel}" if kind == "file" else f"a/{rel} ({_KINDS[kind]}, not read)"
    return "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            (new or "").splitlines(keepends=True),
            fromfile=fromfile,
            tofile=f"b/{rel}" if new is not None else "/dev/null",
        )
    )


_KINDS = {"link": "a symbolic link", "folder": "a folder", "other": "not a regular file"}


def _steps(inv: Inventory, rendered: dict[str, str], files: writer.Plan, on_disk: dict[str, str]) -> list[str]:
    steps: list[str] = []
    touched = set(files.create + files.update + files.remove + files.conflicts)
    if files.conflicts:
        steps.append(f"{len(files.conflicts)} file(s) were edited by hand: `clusterforge render` refuses them until "
                     "the change moves into cluster.yaml (or --force overwrites them)")
    steps += _kubernetes_upgrade(inv, rendered, on_disk)
    steps += _cilium_upgrade(rendered, on_disk)
    steps += _node_steps(inv, files)
    for node in inv.loadbalancers:
        if any(rel.startswith(layout.loadbalancer_dir(node) + "/") for rel in touched):
            steps.append(f"load balancer {node.name}: copy its files from {layout.loadbalancer_dir(node)}/ to /etc/haproxy and "
                         "/etc/keepalived, then `sudo systemctl reload haproxy keepalived` (one load balancer at a time)")
    for peer in inv.bgp.peers if inv.bgp else []:
        if layout.router_file(peer) in touched:
            steps.append(f"router {peer.name}: apply {layout.router_file(peer)} again (its header says how)")
    if any(rel.startswith(("infrastructure/", "clusters/", f"{layout.ARGOCD_DIR}/")) for rel in touched):
        steps.append(f"in the cluster: nothing by hand; {inv.gitops.engine} applies infrastructure/ once the change is merged")
    return steps


def _kubernetes_upgrade(inv: Inventory, rendered: dict[str, str], on_disk: dict[str, str]) -> list[str]:
    first = layout.kubeadm_file(inv, inv.control_planes[0])
    before = _KUBERNETES_VERSION.search(on_disk[first])
    after = _KUBERNETES_VERSION.search(rendered[first])
    if not before or not after or before.group(1) == after.group(1):
        return []
    current, target = before.group(1), after.group(1)
    if versions.parse(target) < versions.parse(current):
        return [f"Kubernetes {current} -> {target} is a downgrade, which kubeadm does not do: keep {current} or rebuild the cluster"]
    (major, minor), (_, target_minor) = versions.minor(current), versions.minor(target)
    if target_minor > minor + 1:
        return [f"Kubernetes {current} -> {target} skips a minor: kubeadm upgrades one minor at a time; "
                f"set {major}.{minor + 1}.x first, upgrade, then {target}"]
    others = ", ".join(cp.name for cp in inv.control_planes[1:]) or "none"
    return [
        f"Kubernetes {current} -> {target}, in kubeadm's order: on every node first install "
        f"kubeadm {target} from the v{'.'.join(target.split('.')[:2])} package repository; on {inv.control_planes[0].name} "
        f"`sudo kubeadm upgrade apply v{target}`; on the other control planes ({others}) `sudo kubeadm upgrade node`; "
        "then per node, one at a time: `kubectl drain NODE --ignore-daemonsets --delete-emptydir-data`, upgrade and restart "
        "kubelet and kubectl, `kubectl uncordon NODE`; workers last"
    ]


def _cilium_upgrade(rendered: dict[str, str], on_disk: dict[str, str]) -> list[str]:
    before = _CILIUM_VERSION.search(on_disk[layout.CILIUM_BOOTSTRAP])
    after = _CILIUM_VERSION.search(rendered[layout.CILIUM_BOOTSTRAP])
    if not before or not after or before.group(1) == after.group(1):
        return []
    return [
        f"Cilium {before.group(1)} -> {after.group(1)}: read its upgrade notes (docs.cilium.io, operations/upgrade) for "
        f"every minor in between, run the pre-flight check, then merge; the {cilium.RELEASE_NAME} release is upgraded "
        "by GitOps with the same values the bootstrap used"
    ]


def _node_steps(inv: Inventory, files: writer.Plan) -> list[str]:
    steps = []
    for node in inv.nodes:
        seed = f"{layout.seed_dir(node)}/user-data"
        if seed in files.create:
            how = "then `kubeadm join` as in the README" if node.role != "loadbalancer" else "then check the VIP"
            steps.append(f"new VM {node.name} ({node.role}, {node.ip} on {node.host}): "
                         f"`clusterforge seed {node.name} {layout.SEEDS_DIR}/{node.name} --iso`, create the VM, {how}")
        elif seed in files.update:
            steps.append(f"VM {node.name}: its seed changed, but cloud-init applies a seed at first boot only: "
                         "apply the change on the VM by hand, or rebuild the VM from the new seed")
    names = {n.name for n in inv.nodes}
    for rel in files.remove:
        parts = rel.split("/")
        if parts[0] == "nodes" and parts[-1] == "user-data" and parts[1] not in names:
            steps.append(f"node {parts[1]} is gone from cluster.yaml: `kubectl drain {parts[1]} --ignore-daemonsets "
                         f"--delete-emptydir-data`, `kubectl delete node {parts[1]}`, `sudo kubeadm reset` on it (a control "
                         "plane leaves etcd with it), then delete the VM")
    return steps
