"""Cilium: the Helm values (one file, read by the bootstrap install and by the
GitOps release), the bootstrap script, the BGP control plane resources and the
LoadBalancer IP pools (cilium.io/v2, Cilium >= 1.18).

The CNI has to exist before Flux or Argo CD can run a pod, so it is installed
once with plain Helm; the GitOps release then uses the same release name,
namespace, chart, version and values file. The bootstrap install differs only by
what one node can hold (`bootstrap_overrides`), so the GitOps release's first
sync is a plain upgrade to the inventory's replicas.
"""

from __future__ import annotations

from shlex import quote
from typing import Any

from .. import yamlio
from ..model import BgpPeer, BgpTimers, Inventory
from ..rules import is_ibgp
from . import layout

CHART_REPOSITORY = "https://helm.cilium.io"
CHART = "cilium"
RELEASE_NAME = "cilium"
# Helm's own records of that release (Secrets sh.helm.release.v1.cilium.vN).
HELM_RELEASE_SELECTOR = f"owner=helm,name={RELEASE_NAME}"
NAMESPACE = "kube-system"
CILIUM_API_VERSION = "cilium.io/v2"
# What the chart names its agent DaemonSet and operator Deployment.
AGENT_DAEMONSET = "cilium"
OPERATOR_DEPLOYMENT = "cilium-operator"
# CiliumBGPPeerConfig families select CiliumBGPAdvertisements by this label.
ADVERTISE_LABEL = ("advertise", "bgp")
# The operator tolerates the control-plane taint but keeps one replica per node.
MAX_OPERATOR_REPLICAS = 2
# kubelet sets this label on every node itself, so no labelling step can be forgotten.
ALL_NODES_LABEL = ("kubernetes.io/os", "linux")
# Per-node pod CIDR size in multi-pool mode: the chart's default for cluster-pool.
NODE_POD_CIDR_MASK_SIZE = 24

Document = dict[str, Any]


def render(inv: Inventory) -> dict[str, str]:
    tree = {
        layout.CILIUM_VALUES: yamlio.dump(values(inv)),
        layout.CILIUM_BOOTSTRAP: bootstrap_script(inv),
    }
    tree.update({path: yamlio.dump_all(docs) for path, docs in _configs(inv).items()})
    return tree


def config_files(inv: Inventory) -> list[str]:
    """The files under layout.CONFIGS_DIR this inventory gets (they need Cilium's CRDs)."""
    return sorted(_configs(inv))


def _configs(inv: Inventory) -> dict[str, list[Document]]:
    configs = {layout.CILIUM_BGP: bgp_resources(inv), layout.LB_IPPOOLS: ip_pools(inv)}
    return {path: docs for path, docs in configs.items() if docs}


# --- Helm values -------------------------------------------------------------


def values(inv: Inventory) -> Document:
    c = inv.cilium
    hubble = c.hubble
    relay = hubble if c.hubble_relay is None else c.hubble_relay
    out: Document = {
        "kubeProxyReplacement": c.kube_proxy_replacement,
        # Without kube-proxy nothing serves the kubernetes Service IP before the agent runs.
        "k8sServiceHost": str(inv.api_server.vip),
        "k8sServicePort": inv.api_server.port,
        "ipam": _ipam(inv),
        "routingMode": c.routing_mode,
    }
    if c.routing_mode == "tunnel":
        out["tunnelProtocol"] = c.tunnel_protocol
    else:
        out["ipv4NativeRoutingCIDR"] = str(inv.kubernetes.pod_cidr)
        # Every node sits in network.subnet, one L2 segment: routes to peers' podCIDRs are direct.
        out["autoDirectNodeRoutes"] = True
    if c.kube_proxy_replacement:
        out["bpf"] = {"masquerade": True}
    out["bgpControlPlane"] = {"enabled": inv.bgp is not None}
    out["l2announcements"] = {"enabled": False}
    out["hubble"] = {"enabled": hubble, "relay": {"enabled": hubble and relay}}
    if c.encryption == "wireguard":
        out["encryption"] = {"enabled": True, "type": "wireguard"}
    out["operator"] = {"replicas": min(MAX_OPERATOR_REPLICAS, len(inv.kubernetes_nodes))}
    return out


def _ipam(inv: Inventory) -> Document:
    pod_cidr = str(inv.kubernetes.pod_cidr)
    mode = inv.cilium.ipam
    if mode == "cluster-pool":
        return {"mode": mode, "operator": {"clusterPoolIPv4PodCIDRList": [pod_cidr]}}
    if mode == "multi-pool":
        pool = {"ipv4": {"cidrs": [pod_cidr], "maskSize": NODE_POD_CIDR_MASK_SIZE}}
        return {"mode": mode, "operator": {"autoCreateCiliumPodIPPools": {"default": pool}}}
    # kubernetes: the controller-manager hands out node podCIDRs from kubeadm's podSubnet.
    return {"mode": mode}


# --- bootstrap ---------------------------------------------------------------


def bootstrap_overrides(inv: Inventory) -> dict[str, object]:
    """Helm values the bootstrap install sets on top of the values file, so that it
    fits the cluster it runs on: the first control plane alone, tainted, right
    after `kubeadm init` (the README's order; cp1's own cloud-init in auto mode).

    - The chart gives the operator a required pod anti-affinity (one replica per
      node): a second replica stays Pending until another node joins.
    - Hubble Relay tolerates no control-plane taint: it stays Pending until a
      worker joins (or the taint goes).

    The GitOps release later applies the values file without these, which is a
    `helm upgrade` of this same release (Flux) or an apply of the same objects
    (Argo CD): the operator reaches its replicas and Relay starts once the other
    nodes have joined, with no reinstall."""
    intended = values(inv)
    overrides: dict[str, object] = {}
    if intended["operator"]["replicas"] > 1:
        overrides["operator.replicas"] = 1
    if intended["hubble"]["relay"]["enabled"]:
        overrides["hubble.relay.enabled"] = False
    return overrides


OVERRIDE_REASONS = {
    "operator.replicas": "the chart keeps one operator per node (required anti-affinity)",
    "hubble.relay.enabled": "Relay tolerates no control-plane taint and would stay Pending",
}


def _helm_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def helm_command(inv: Inventory, values_file: str) -> list[str]:
    """`helm upgrade --install`, one option per item; the GitOps release mirrors each
    of them except the bootstrap overrides. No `--wait`: it would wait for every
    object of the release; the script waits for the agent and the operator only."""
    return [
        f"helm upgrade --install {RELEASE_NAME} {CHART}",
        f"--repo {CHART_REPOSITORY}",
        f"--version {quote(inv.cilium.version)}",
        f"--namespace {NAMESPACE}",
        f"--values {values_file}",
        *(f"--set {key}={_helm_value(value)}" for key, value in bootstrap_overrides(inv).items()),
    ]


def bootstrap_script(inv: Inventory, values_file: str | None = None) -> str:
    """bootstrap/install-cilium.sh, reading the repository's values file; with
    `values_file`, the same install reading that file instead (the first control
    plane's copy in bootstrap.mode auto)."""
    up = "/".join([".."] * layout.CILIUM_BOOTSTRAP.count("/"))
    in_repo = values_file is None
    helm = helm_command(inv, f'"${{repo_root}}/{layout.CILIUM_VALUES}"' if in_repo else values_file)
    rollout = f"kubectl --namespace {NAMESPACE} rollout status"
    exec_agent = f"kubectl --namespace {NAMESPACE} exec daemonset/{AGENT_DAEMONSET} -c cilium-agent --"
    overrides = bootstrap_overrides(inv)
    lines = [
        "#!/usr/bin/env bash",
        f"# Installs Cilium {inv.cilium.version} with plain Helm: the CNI must run before Flux or",
        "# Argo CD can start a pod. Run it once, right after `kubeadm init`, wherever kubectl",
        "# reaches the cluster: the first control plane is then the only node.",
    ]
    if overrides:
        lines.append("# What that one tainted node can hold is set on top of the values file (--set):")
        lines += [f"#   {key}={_helm_value(value)}: {OVERRIDE_REASONS[key]}" for key, value in overrides.items()]
    if inv.gitops.engine == "flux":
        lines += [
            "# Flux's HelmRelease has the same release name, namespace, chart, version and values",
            "# file without those overrides: its first sync upgrades this release in place to the",
            "# inventory's replicas once the other nodes have joined.",
        ]
    else:
        lines += [
            "# Argo CD's cilium Application renders the same chart, version and values file without",
            "# those overrides and applies the objects itself. It never reads Helm's release records,",
            "# so once it is Synced and Healthy this Helm release is stale: the README's Argo CD step",
            f"# deletes the record (kubectl --namespace {NAMESPACE} delete secret --selector {HELM_RELEASE_SELECTOR}).",
        ]
    lines += [
        "# It waits only for what the cluster needs now: the agent (the CNI) and the operator.",
        "set -euo pipefail",
        "",
        'for tool in helm kubectl; do',
        '  command -v "$tool" >/dev/null || { echo "$tool is needed on PATH" >&2; exit 1; }',
        "done",
        "",
        *([f'repo_root="$(cd "$(dirname "${{BASH_SOURCE[0]}}")/{up}" && pwd)"', ""] if in_repo else []),
        " \\\n  ".join(helm),
        "",
        f"{rollout} daemonset/{AGENT_DAEMONSET} --timeout=10m",
        f"{rollout} deployment/{OPERATOR_DEPLOYMENT} --timeout=10m",
        "",
        f'echo "Cilium {inv.cilium.version} is running. To verify:"',
        'echo "  every node Ready:     kubectl get nodes -o wide"',
        f'echo "  agent healthy:        {exec_agent} cilium-dbg status --brief"',
    ]
    if inv.bgp is not None:
        lines.append(f'echo "  sessions Established: {exec_agent} cilium-dbg bgp peers"')
        lines.append('echo "  (BGP starts once GitOps applies the BGP resources: kubectl get ciliumbgpnodeconfigs -o yaml)"')
    return "\n".join(lines) + "\n"


# --- BGP control plane ---------------------------------------------------------


def _meta(name: str, labels: dict[str, str] | None = None) -> Document:
    return {"name": name, "labels": labels} if labels else {"name": name}


def _doc(kind: str, name: str, spec: Document, labels: dict[str, str] | None = None) -> Document:
    return {"apiVersion": CILIUM_API_VERSION, "kind": kind, "metadata": _meta(name, labels), "spec": spec}


def bgp_resources(inv: Inventory) -> list[Document]:
    """CiliumBGPClusterConfig, one CiliumBGPPeerConfig per peer, the advertisements."""
    if inv.bgp is None:
        return []
    bgp = inv.bgp
    peers = [
        {"name": p.name, "peerASN": p.asn, "peerAddress": str(p.address), "peerConfigRef": {"name": p.name}}
        for p in bgp.peers
    ]
    # Every Kubernetes node speaks BGP: each announces its own podCIDR, and with
    # kube-proxy replacement any node can forward a LoadBalancer IP to its backends.
    cluster = _doc(
        "CiliumBGPClusterConfig",
        inv.name,
        {
            "nodeSelector": {"matchLabels": dict([ALL_NODES_LABEL])},
            "bgpInstances": [{"name": f"instance-{bgp.local_asn}", "localASN": bgp.local_asn, "peers": peers}],
        },
    )
    return [cluster, *(_peer_config(inv, p) for p in bgp.peers), *_advertisements(inv)]


def _timers(timers: BgpTimers) -> Document:
    return {
        "holdTimeSeconds": timers.hold_time_seconds,
        "keepAliveTimeSeconds": timers.keepalive_time_seconds,
        "connectRetryTimeSeconds": timers.connect_retry_time_seconds,
    }


def _peer_config(inv: Inventory, peer: BgpPeer) -> Document:
    assert inv.bgp is not None
    spec: Document = {"timers": _timers(peer.timers or inv.bgp.timers)}
    if peer.auth_secret_ref:
        # A Secret in bgpControlPlane.secretsNamespace (kube-system) with key `password`.
        spec["authSecretRef"] = peer.auth_secret_ref
    if peer.ebgp_multihop and not is_ibgp(inv, peer):
        spec["ebgpMultihop"] = peer.ebgp_multihop
    spec["gracefulRestart"] = {"enabled": True}
    spec["families"] = [{"afi": "ipv4", "safi": "unicast", "advertisements": {"matchLabels": dict([ADVERTISE_LABEL])}}]
    return _doc("CiliumBGPPeerConfig", peer.name, spec)


def _advertisements(inv: Inventory) -> list[Document]:
    assert inv.bgp is not None
    advertise = inv.bgp.advertise
    out = []
    if advertise.load_balancer_ips:
        service = {
            "advertisementType": "Service",
            "service": {"addresses": ["LoadBalancerIP"]},
            # Without a selector a Service advertisement selects nothing; this one is always true.
            "selector": {"matchExpressions": [{"key": "somekey", "operator": "NotIn", "values": ["never-used-value"]}]},
        }
        out.append(_doc("CiliumBGPAdvertisement", "load-balancer-ips", {"advertisements": [service]}, dict([ADVERTISE_LABEL])))
    if advertise.pod_cidrs:
        pod_cidr = {"advertisementType": "PodCIDR"}
        out.append(_doc("CiliumBGPAdvertisement", "pod-cidrs", {"advertisements": [pod_cidr]}, dict([ADVERTISE_LABEL])))
    return out


# --- LoadBalancer IP pools -----------------------------------------------------


def ip_pools(inv: Inventory) -> list[Document]:
    out = []
    for pool in inv.load_balancer_pools:
        spec: Document = {"blocks": [{"cidr": str(pool.cidr)}]}
        if pool.service_selector:
            spec["serviceSelector"] = {"matchLabels": dict(sorted(pool.service_selector.items()))}
        elif pool.default and (others := _selected_elsewhere(inv)):
            spec["serviceSelector"] = {"matchExpressions": others}
        out.append(_doc("CiliumLoadBalancerIPPool", pool.name, spec))
    return out


def _selected_elsewhere(inv: Inventory) -> list[Document]:
    """The default pool's selector: every Service that no other pool selects. LB IPAM
    picks at random among the pools matching a Service (Go map order in the
    operator's lbipam), so the default pool must not match the others' Services.
    rules.pool_selection keeps each other selector to one label, which NotIn can
    exclude exactly (NotIn also matches a Service without that label)."""
    values: dict[str, set[str]] = {}
    for pool in inv.load_balancer_pools:
        for key, value in pool.service_selector.items():
            values.setdefault(key, set()).add(value)
    return [{"key": key, "operator": "NotIn", "values": sorted(vals)} for key, vals in sorted(values.items())]
