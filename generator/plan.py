"""`clusterforge plan`: what rendering cluster.yaml would change, as a file diff,
and what an operator then has to do outside git (GitOps applies the rest).

Steps are derived from which rendered files change, so every renderer's output
is covered by the path layout alone; version changes are read from the files
themselves (the kubeadm ClusterConfiguration, the bootstrap values' chart).

The runbooks of the change (render/change_runbooks.py) compare the inventory the files
were rendered from (.clusterforge/inventory.json) with the edited cluster.yaml;
`write_runbooks` puts them into docs/runbooks/ through the writer.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from . import loader, rules, versions, writer
from . import repo as repository
from .model import Inventory, Node
from .render import bootstrap, change_runbooks, cilium, cloudinit, layout, tree

_KUBERNETES_VERSION = re.compile(r"^kubernetesVersion: v(\S+)$", re.M)
_CILIUM_VERSION = re.compile(r"--version (\S+)")


@dataclass
class Plan:
    diff: str
    steps: list[str] = field(default_factory=list)
    runbooks: dict[str, str] = field(default_factory=dict)  # path -> text, for docs/runbooks/


def plan(repo: Path) -> Plan:
    inv = repository.load(repo).inventory
    rendered = tree.render(inv)
    files = writer.plan(repo, rendered)
    changed = sorted(files.create + files.update + files.remove + files.conflicts)
    on_disk = writer.read_texts(repo, [*changed, *_versioned_files(inv)])
    diff = "".join(_diff(rel, on_disk[rel], rendered.get(rel)) for rel in changed)
    steps = _steps(inv, rendered, files, {rel: text for rel, (_, text) in on_disk.items()})
    old = rendered_from(repo)
    runbooks = change_runbooks.for_change(old, inv) if old is not None and diff else {}
    if diff and old is None:
        steps.append(f"no runbooks: {layout.INVENTORY_SNAPSHOT} is missing or unreadable (run `clusterforge render` once "
                     "with this clusterforge before changing cluster.yaml)")
    english = [path for path in runbooks if not path.endswith(".ja.md")]
    if english:
        steps.append(f"runbooks of this change, step by step with a check after each: {', '.join(english)}")
    return Plan(diff, steps, runbooks)


def rendered_from(repo: Path) -> Inventory | None:
    """The inventory the repository's files were rendered from, or None when the snapshot is
    missing, not a regular file, too large or not a valid inventory (it is in the repository: hostile).
    It is read as the writer reads: never through a symbolic link, a FIFO never blocks."""
    try:
        with writer.opened(repo) as disk:
            if disk.kind(layout.INVENTORY_SNAPSHOT) != "file":
                return None
            with disk.reading(layout.INVENTORY_SNAPSHOT) as file:
                raw = file.read(loader.MAX_BYTES + 1)
    except (writer.Blocked, OSError):
        return None
    if len(raw) > loader.MAX_BYTES:
        return None
    try:
        old = Inventory.model_validate(json.loads(raw))
    except (ValueError, ValidationError, RecursionError):  # RecursionError: JSON nested deeper than Python recurses
        return None
    errors, _ = rules.check(old)  # a snapshot no cluster.yaml could give would make runbooks of a change that never was
    return None if errors else old


def write_runbooks(repo: Path, result: Plan) -> list[str]:
    """The change's runbooks into docs/runbooks/ (not owned by the lock: they stay when the
    change is rendered, to be committed with it), through the writer."""
    with writer.session(repo) as disk:
        for rel, text in sorted(result.runbooks.items()):
            disk.write_file(rel, text)
    return sorted(result.runbooks)


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
            steps.append(f"new VM {node.name} ({node.role}, {node.ip} on {node.host}): {_new_vm(inv, node)}")
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


def _new_vm(inv: Inventory, node: Node) -> str:
    """How a new VM comes into the cluster, as bootstrap.mode makes it happen (the add-node runbook has each command)."""
    seed = f"`clusterforge seed {node.name} {layout.SEEDS_DIR}/{node.name} --iso`"
    if node.role == "loadbalancer":
        return f"{seed}, create the VM, then check the VIP"
    # The token of `kubeadm init` lived 24 hours, the uploaded control-plane certificates 2 hours.
    certs = (f" and `sudo kubeadm init phase upload-certs --upload-certs --config {cloudinit.KUBEADM_CONFIG}`"
             if node.role == "control-plane" else "")
    ready = (f"on {inv.control_planes[0].name} `sudo kubeadm token create TOKEN` (TOKEN: bootstrapToken in "
             f"{layout.SECRETS_FILE}){certs}")
    if inv.bootstrap.mode == "auto":
        return (f"{ready} before the VM boots, then {seed} and create the VM: it runs `kubeadm join` by itself at first boot "
                f"(bootstrap.mode auto); follow it there with `{bootstrap.follow_command()}`")
    return (f"{ready}, then {seed}, create the VM, and on it, once `cloud-init status --wait` is done, "
            f"`sudo kubeadm join --config {cloudinit.KUBEADM_CONFIG}`")
