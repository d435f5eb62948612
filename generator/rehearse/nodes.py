"""The cluster's Kubernetes nodes as Node objects, labelled and tainted as the kubelet and
kubeadm would, and kwok acting as their kubelets: it keeps them Ready and runs their pods
(every pod bound to one becomes Running and Ready), so DaemonSets and Deployments roll out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import yamlio
from ..model import Inventory, Node
from ..simulate.speakers import node_labels
from . import toolset
from .kube import Kubectl
from .processes import Daemons, free_port

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
CONTROL_PLANE_ROLE = "node-role.kubernetes.io/control-plane"
# What a node of unknown size offers the scheduler (kwok's own example node's values).
DEFAULT_CPUS, DEFAULT_MEMORY_GIB, MAX_PODS = 32, 256, 110


def taints(node: Node) -> list[dict[str, str]]:
    """kubeadm taints a control plane NoSchedule (ControlPlaneTaint); workers have none."""
    return [{"key": CONTROL_PLANE_ROLE, "effect": "NoSchedule"}] if node.role == "control-plane" else []


def node_object(inv: Inventory, node: Node) -> dict[str, Any]:
    cpus = node.vm.cpus if node.vm and node.vm.cpus else DEFAULT_CPUS
    memory = node.vm.memory_gib if node.vm and node.vm.memory_gib else DEFAULT_MEMORY_GIB
    capacity = {"cpu": str(cpus), "memory": f"{memory}Gi", "pods": str(MAX_PODS)}
    spec: dict[str, Any] = {"taints": taints(node)} if taints(node) else {}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": node.name, "labels": node_labels(inv, node), "annotations": {KWOK_ANNOTATION: "fake"}},
        "spec": spec,
        "status": {
            "capacity": capacity, "allocatable": capacity,
            "addresses": [{"type": "InternalIP", "address": str(node.ip)}, {"type": "Hostname", "address": node.name}],
            "nodeInfo": {"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "", "osImage": "Ubuntu 22.04 (kwok)"},
        },
    }


def start_kwok(daemons: Daemons, kubectl: Kubectl, inv: Inventory, folder: Path) -> None:
    kwok, stages = toolset.kwok()
    daemons.start("kwok", [
        kwok, f"--config={stages}", "--kubeconfig", kubectl.kubeconfig, "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake",
        "--server-address", f"127.0.0.1:{free_port()}", "--cidr", str(inv.kubernetes.pod_cidr),
        "--node-lease-duration-seconds", "40",
    ], cwd=folder)


def first_and_joining(inv: Inventory) -> tuple[list[Node], list[Node]]:
    """The README's order: `kubeadm init` on the first control plane, the bootstrap while it is the
    only node, then the other nodes join."""
    found = inv.kubernetes_nodes
    first = next(n for n in found if n.role == "control-plane")
    return [first], [n for n in found if n is not first]


def register(kubectl: Kubectl, inv: Inventory, names: list[Node]) -> None:
    """Create the Node objects (kwok adopts each as it appears) and wait until they are Ready."""
    documents = []
    for node in names:
        obj = node_object(inv, node)
        obj["status"]["nodeInfo"]["kubeletVersion"] = f"v{inv.kubernetes.version}"
        documents.append(obj)
    kubectl("create", "-f", "-", input=yamlio.dump_all(documents))
    kubectl("wait", "--for=condition=Ready", "--timeout=60s", *(f"node/{n.name}" for n in names), timeout=90)
