"""Cilium's operator as a local process: the pinned build of the cluster's Cilium version,
configured from the cilium-config ConfigMap the bootstrap's chart installed (what its pod
mounts), against the rehearsal's API server. It registers Cilium's CRDs itself, runs LB
IPAM and computes each node's CiliumBGPNodeConfig.

The agents do not run (they need a kernel datapath per node): the rehearsal writes the
CiliumNode objects an agent writes at start (the node's name, labels and addresses, its
pod CIDR), which is all the operator reads of them here."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from .. import yamlio
from ..errors import ClusterforgeError
from ..model import Inventory
from . import toolset
from .kube import Kubectl
from .processes import Daemon, Daemons, free_port

NAMESPACE = "kube-system"
CONFIG_MAP = "cilium-config"
CRDS = ("ciliumnodes.cilium.io", "ciliumloadbalancerippools.cilium.io", "ciliumbgpclusterconfigs.cilium.io",
        "ciliumbgppeerconfigs.cilium.io", "ciliumbgpadvertisements.cilium.io", "ciliumbgpnodeconfigs.cilium.io")
CRD_LIMIT = 120  # seconds for the operator to register and the API server to establish its CRDs
AGENT_STAND_IN = "CiliumNode objects written by the rehearsal as each node's agent would (name, labels, InternalIP, pod CIDR): no agent runs"


def write_config(kubectl: Kubectl, folder: Path, version: str) -> Path:
    """The ConfigMap as the pod of this version sees it (one file per key), with every
    listening address on loopback and a free port."""
    data = dict(json.loads(kubectl("get", "configmap", CONFIG_MAP, "--namespace", NAMESPACE, "-o", "json").stdout).get("data", {}))
    data.update({
        "operator-api-serve-addr": f"127.0.0.1:{free_port()}",
        "operator-prometheus-serve-addr": f"127.0.0.1:{free_port()}",
        "gops-port": str(free_port()),  # gops binds 127.0.0.1
    })
    config = folder / f"cilium-config-{version}"
    config.mkdir(mode=0o700)
    for key, value in data.items():
        (config / key).write_text(value)
    return config


def start(daemons: Daemons, kubectl: Kubectl, inv: Inventory, folder: Path, version: str | None = None) -> Daemon:
    """The operator of `version` (default: the cluster's), as its pod would run after the
    chart of that version is installed."""
    version = version or inv.cilium.version
    config = write_config(kubectl, folder, version)
    host = next(n.name for n in inv.nodes if n.role == "control-plane")
    operator = daemons.start("cilium-operator", [
        toolset.cilium_operator(version), f"--config-dir={config}", f"--k8s-kubeconfig-path={kubectl.kubeconfig}",
    ], env={"K8S_NODE_NAME": host, "CILIUM_K8S_NAMESPACE": NAMESPACE}, cwd=folder)
    # The operator registers its CRDs one by one after it starts: wait for them to exist, then to be served.
    deadline = time.monotonic() + CRD_LIMIT
    while missing := [c for c in CRDS if kubectl.get("crd", c) is None]:
        operator.check_alive()
        if time.monotonic() > deadline:
            raise ClusterforgeError(f"the Cilium operator did not register {', '.join(missing)} within {CRD_LIMIT} s")
        time.sleep(1)
    kubectl("wait", "--for=condition=Established", f"--timeout={CRD_LIMIT}s", *(f"crd/{c}" for c in CRDS), timeout=CRD_LIMIT + 30)
    wait_healthy(operator, (config / "operator-api-serve-addr").read_text())
    return operator


def wait_healthy(operator: Daemon, address: str) -> None:
    """Until the operator's API answers /healthz (the chart's liveness probe): running, not just started."""
    deadline = time.monotonic() + CRD_LIMIT
    while True:
        operator.check_alive()
        try:
            with urllib.request.urlopen(f"http://{address}/healthz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise ClusterforgeError(f"the Cilium operator's /healthz on {address} did not answer within {CRD_LIMIT} s")
        time.sleep(1)


def cilium_node(node: dict[str, Any], ipam_mode: str) -> dict[str, Any]:
    """The CiliumNode the agent on `node` would write (pkg/nodediscovery: name, labels,
    addresses; ipam.podCIDRs from the Node in ipam mode kubernetes, while in cluster-pool
    mode the operator allocates them)."""
    addresses = [{"type": a["type"], "ip": a["address"]} for a in node["status"].get("addresses", []) if a["type"] == "InternalIP"]
    spec: dict[str, Any] = {"addresses": addresses}
    if ipam_mode == "kubernetes" and node["spec"].get("podCIDRs"):
        spec["ipam"] = {"podCIDRs": node["spec"]["podCIDRs"]}
    return {"apiVersion": "cilium.io/v2", "kind": "CiliumNode",
            "metadata": {"name": node["metadata"]["name"], "labels": node["metadata"].get("labels", {})}, "spec": spec}


def write_cilium_nodes(kubectl: Kubectl, inv: Inventory) -> None:
    kubectl.apply(yamlio.dump_all([cilium_node(n, inv.cilium.ipam) for n in kubectl.items("nodes")]))
