"""The cluster's BGP side as data: which node speaks to which peer, with which
settings, announcing which prefixes ("speaker configs").

They are translated from the RENDERED Cilium objects (CiliumBGPClusterConfig,
CiliumBGPPeerConfig, CiliumBGPAdvertisement, CiliumLoadBalancerIPPool, the Helm
values' IPAM settings and kubeadm's pod subnet), the way Cilium's agent would
configure its GoBGP instance, never from the inventory: a wrong rendering shows up
as a wrong speaker. The plan is plain data with its source named, so another
producer (e.g. CiliumBGPNodeConfig objects computed by the real operator) can take
this module's place.

What the agent would announce needs Services and node PodCIDRs, which only a
running cluster has; the plan stands in one sample LoadBalancer Service per pool
(labelled to match the pool's serviceSelector, its IP the pool's first usable
address, externalTrafficPolicy Cluster: every selected node announces it) and
the PodCIDRs kube-controller-manager (or Cilium's cluster-pool operator) would
hand out to the nodes in the order they join.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ruamel.yaml.error import YAMLError

from .. import yamlio
from ..errors import ClusterforgeError
from ..model import Inventory, Node
from ..render import layout
from .twin import Sources

# Cilium's defaults (cilium.io/v2 CRDs) for what a peer config leaves out.
DEFAULT_HOLD, DEFAULT_KEEPALIVE, DEFAULT_CONNECT_RETRY = 90, 30, 120
DEFAULT_RESTART_TIME = 120
DEFAULT_PEER_PORT = 179
DEFAULT_NODE_MASK = 24  # kube-controller-manager's --node-cidr-mask-size and Cilium's clusterPoolIPv4MaskSize
SOURCE = "the rendered Cilium objects, translated as Cilium's agent configures GoBGP"
REHEARSED = (
    "the CiliumBGPNodeConfig objects Cilium's operator computed in a rehearsal of these files ({record}), "
    "with the rendered peer configs and advertisements, as Cilium's agent configures GoBGP"
)


@dataclass(frozen=True)
class Session:
    """One speaker's session with one peer, as GoBGP is configured for it."""

    peer: str  # the cluster config's name for the peer
    address: IPv4Address
    peer_asn: int
    hold: int
    keepalive: int
    connect_retry: int
    port: int
    password_ref: str | None  # the Secret named by authSecretRef (its value is looked up when the speaker starts)
    multihop: int | None
    graceful_restart: int | None  # restart time in seconds, None when off
    families: tuple[str, ...]  # "ipv4-unicast", ...
    prefixes: tuple[IPv4Network, ...]  # what the session announces
    advertisements: tuple[str, ...]  # the CiliumBGPAdvertisements behind `prefixes`


@dataclass(frozen=True)
class Speaker:
    node: Node
    router_id: IPv4Address
    local_asn: int
    instance: str
    sessions: tuple[Session, ...]


@dataclass(frozen=True)
class SampleService:
    pool: str
    address: IPv4Address
    labels: Mapping[str, str]


@dataclass
class SpeakerPlan:
    speakers: list[Speaker]
    source: str
    files: tuple[str, ...]  # the files they were read from
    samples: list[SampleService] = field(default_factory=list)
    pod_cidrs: dict[str, IPv4Network] = field(default_factory=dict)  # node -> its PodCIDR
    problems: list[str] = field(default_factory=list)  # "FILE: what is wrong", for the report

    def expected(self, address: IPv4Address) -> dict[str, Session]:
        """node -> its session with the peer at `address`."""
        return {s.node.name: session for s in self.speakers for session in s.sessions if session.address == address}


# --- Kubernetes label selectors ---------------------------------------------------------


def selects(selector: object, labels: Mapping[str, str]) -> bool:
    """A metav1.LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists,
    DoesNotExist) all hold. An empty selector selects everything; None nothing."""
    if selector is None:
        return False
    if not isinstance(selector, Mapping):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(str(key)) != str(value):
            return False
    for expression in selector.get("matchExpressions") or []:
        if not isinstance(expression, Mapping):
            return False
        key, operator = str(expression.get("key")), expression.get("operator")
        values = [str(v) for v in expression.get("values") or []]
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


def node_labels(inv: Inventory, node: Node) -> dict[str, str]:
    """The labels kubelet and kubeadm put on a node themselves."""
    labels = {
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node.name,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
    }
    if node.role == "control-plane":
        labels["node-role.kubernetes.io/control-plane"] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
    return labels


# --- reading the rendered objects -------------------------------------------------------


# Reads a repository file's text; raises ClusterforgeError when it is missing.
Reader = Callable[[str], str]


def _documents(read: Reader, path: str, problems: list[str]) -> list[dict[str, Any]]:
    try:
        text = read(path)
    except ClusterforgeError as e:  # a missing file is one more problem to report
        problems.append(str(e))
        return []
    try:
        docs = list(yamlio.loader().load_all(text))
    except YAMLError as e:
        problems.append(f"{path}: not YAML: {e}")
        return []
    return [d for d in docs if isinstance(d, Mapping)]


def _by_kind(docs: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]


def _name(doc: Mapping[str, Any]) -> str:
    return str((doc.get("metadata") or {}).get("name", ""))


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def plan(sources: Sources) -> SpeakerPlan:
    """The twin's speakers: which node speaks to which peer with which ASN as Cilium's operator
    computed it (CiliumBGPNodeConfig) when a rehearsal of exactly these files has run, else as
    translated from the simulated files; timers, passwords and announcements from the files."""
    from ..rehearse import record  # `clusterforge rehearse` writes it

    read = lambda path: sources.get(path).text  # noqa: E731
    has_pools = (sources.repo / layout.LB_IPPOOLS).exists()
    found = record.load(sources.repo)
    if found is None:
        return plan_from(sources.twin.inventory, read, has_pools)
    path, specs = found
    # The operator saw the real addresses; the twin speaks in simulated ones.
    translated = json.loads(sources.twin.translate_text(json.dumps(specs)))
    return plan_from(sources.twin.inventory, read, has_pools, node_configs=translated, source=REHEARSED.format(record=path))


def plan_from(
    inv: Inventory, read: Reader, has_pools: bool, node_configs: Mapping[str, Any] | None = None, source: str = SOURCE
) -> SpeakerPlan:
    """The speakers the rendered objects configure for the nodes of `inv`, read with `read`,
    with every problem found on the way; with `node_configs` (node name -> CiliumBGPNodeConfig
    spec), each node's BGP instances and peers are those instead of the cluster config's."""
    problems: list[str] = []
    bgp_file, pools_file, values_file = layout.CILIUM_BGP, layout.LB_IPPOOLS, layout.CILIUM_VALUES
    files = (bgp_file, pools_file, values_file, layout.kubeadm_file(inv, inv.control_planes[0]))
    docs = _documents(read, bgp_file, problems)
    pool_docs = _by_kind(_documents(read, pools_file, problems), "CiliumLoadBalancerIPPool") if has_pools else []
    values = (_documents(read, values_file, problems) or [{}])[0]
    result = SpeakerPlan([], source, files, problems=problems)
    if not (values.get("bgpControlPlane") or {}).get("enabled"):
        problems.append(f"{values_file}: bgpControlPlane.enabled is not true: no Cilium agent runs a BGP speaker")
        return result

    result.samples = sample_services(pool_docs, pools_file, problems)
    result.pod_cidrs = pod_cidrs(inv, read, values, problems)
    peer_configs = {_name(d): d.get("spec") or {} for d in _by_kind(docs, "CiliumBGPPeerConfig")}
    advertisements = _by_kind(docs, "CiliumBGPAdvertisement")
    clusters = _by_kind(docs, "CiliumBGPClusterConfig")
    if not clusters:
        problems.append(f"{bgp_file}: no CiliumBGPClusterConfig: no node speaks BGP")
    for node, instances in _instances(inv, clusters, node_configs):
        for instance in instances:
            local_asn = _int(instance.get("localASN"), 0)
            sessions = []
            for peer in instance.get("peers") or []:
                session = _session(node, peer, peer_configs, advertisements, result, local_asn)
                if session:
                    sessions.append(session)
            result.speakers.append(Speaker(node, node.ip, local_asn, str(instance.get("name", "")), tuple(sessions)))
    return result


def _instances(inv: Inventory, clusters: list[dict[str, Any]], node_configs: Mapping[str, Any] | None) -> list[tuple[Node, list[Any]]]:
    """Each speaking node with its BGP instances: from the operator's node configs when given,
    else from every cluster config whose nodeSelector selects the node."""
    if node_configs is not None:
        return [(n, list((node_configs[n.name] or {}).get("bgpInstances") or [])) for n in inv.kubernetes_nodes if n.name in node_configs]
    found = []
    for cluster in clusters:
        spec = cluster.get("spec") or {}
        selector = spec.get("nodeSelector", {})  # absent: every node (Cilium's default)
        found += [(n, list(spec.get("bgpInstances") or [])) for n in inv.kubernetes_nodes if selects(selector, node_labels(inv, n))]
    return found


def _session(
    node: Node, peer: Mapping[str, Any], peer_configs: Mapping[str, Mapping[str, Any]], advertisements: list[dict[str, Any]], plan: SpeakerPlan, local_asn: int
) -> Session | None:
    name = str(peer.get("name", ""))
    try:
        address = IPv4Address(str(peer.get("peerAddress")))
    except ValueError:
        plan.problems.append(f"{layout.CILIUM_BGP}: peer {name}: peerAddress {peer.get('peerAddress')!r} is not an IPv4 address")
        return None
    ref = str((peer.get("peerConfigRef") or {}).get("name", ""))
    config = peer_configs.get(ref)
    if config is None:
        plan.problems.append(f"{layout.CILIUM_BGP}: peer {name}: peerConfigRef {ref!r} names no CiliumBGPPeerConfig (Cilium then uses defaults and announces nothing)")
        config = {}
    timers = config.get("timers") or {}
    graceful = config.get("gracefulRestart") or {}
    families, prefixes, used = [], [], []
    for family in config.get("families") or []:
        families.append(f"{family.get('afi')}-{family.get('safi')}")
        if family.get("afi") != "ipv4" or family.get("safi") != "unicast":
            continue
        for advert in advertisements:
            labels = {str(k): str(v) for k, v in ((advert.get("metadata") or {}).get("labels") or {}).items()}
            if not selects(family.get("advertisements"), labels):
                continue
            announced = announced_by(advert, node, plan)
            used.append(_name(advert))
            prefixes += [p for p in announced if p not in prefixes]
    multihop = config.get("ebgpMultihop")
    return Session(
        peer=name,
        address=address,
        peer_asn=_int(peer.get("peerASN"), local_asn),
        hold=_int(timers.get("holdTimeSeconds"), DEFAULT_HOLD),
        keepalive=_int(timers.get("keepAliveTimeSeconds"), DEFAULT_KEEPALIVE),
        connect_retry=_int(timers.get("connectRetryTimeSeconds"), DEFAULT_CONNECT_RETRY),
        port=_int((config.get("transport") or {}).get("peerPort"), DEFAULT_PEER_PORT),
        password_ref=str(config["authSecretRef"]) if config.get("authSecretRef") else None,
        # Cilium sets multihop only for eBGP and a TTL above 1.
        multihop=multihop if isinstance(multihop, int) and multihop > 1 and _int(peer.get("peerASN"), local_asn) != local_asn else None,
        graceful_restart=_int(graceful.get("restartTimeSeconds"), DEFAULT_RESTART_TIME) if graceful.get("enabled") else None,
        families=tuple(families) or ("ipv4-unicast", "ipv6-unicast"),  # Cilium's default families
        prefixes=tuple(prefixes),
        advertisements=tuple(used),
    )


def announced_by(advert: Mapping[str, Any], node: Node, plan: SpeakerPlan) -> list[IPv4Network]:
    """What one CiliumBGPAdvertisement makes `node` announce, given the sample Services."""
    out: list[IPv4Network] = []
    for item in (advert.get("spec") or {}).get("advertisements") or []:
        kind = item.get("advertisementType")
        if kind == "PodCIDR" and node.name in plan.pod_cidrs:
            out.append(plan.pod_cidrs[node.name])
        elif kind == "Service":
            addresses = (item.get("service") or {}).get("addresses") or []
            selector = item.get("selector")  # without one, Cilium announces no Service
            for sample in plan.samples:
                if "LoadBalancerIP" in addresses and selects(selector, sample.labels):
                    out.append(IPv4Network(f"{sample.address}/32"))
    return out


def sample_address(network: IPv4Network) -> IPv4Address:
    """The first address LB IPAM hands out from a block: it leaves out the network and
    broadcast addresses unless the block is a /31 or /32."""
    return network.network_address + (1 if network.prefixlen < 31 else 0)


def sample_services(pool_docs: list[dict[str, Any]], path: str, problems: list[str]) -> list[SampleService]:
    """One LoadBalancer Service per pool, labelled to match its serviceSelector."""
    samples = []
    for doc in pool_docs:
        spec = doc.get("spec") or {}
        blocks = spec.get("blocks") or []
        cidr = blocks[0].get("cidr") if blocks and isinstance(blocks[0], Mapping) else None
        try:
            network = IPv4Network(str(cidr))
        except ValueError:
            problems.append(f"{path}: pool {_name(doc)}: blocks[0].cidr {cidr!r} is not an IPv4 CIDR")
            continue
        address = sample_address(network)
        selector = spec.get("serviceSelector") or {}
        labels = {str(k): str(v) for k, v in (selector.get("matchLabels") or {}).items()}
        for expression in selector.get("matchExpressions") or []:
            if expression.get("operator") in ("In", "Exists"):
                labels[str(expression.get("key"))] = str((expression.get("values") or [""])[0])
        samples.append(SampleService(_name(doc), address, labels))
    return samples


def pod_cidrs(inv: Inventory, read: Reader, values: Mapping[str, Any], problems: list[str]) -> dict[str, IPv4Network]:
    """Each Kubernetes node's PodCIDR: the n-th /24 (or the configured mask) of the cluster's
    pod range for the n-th node to join (the first control plane first)."""
    ipam = values.get("ipam") or {}
    mode = ipam.get("mode", "cluster-pool")  # Cilium's default
    mask = DEFAULT_NODE_MASK
    if mode == "kubernetes":
        kubeadm_file = layout.kubeadm_file(inv, inv.control_planes[0])
        docs = _documents(read, kubeadm_file, problems)
        cluster = next((d for d in docs if d.get("kind") == "ClusterConfiguration"), {})
        cidr = (cluster.get("networking") or {}).get("podSubnet")
        where = f"{kubeadm_file} networking.podSubnet"
    elif mode == "cluster-pool":
        operator = ipam.get("operator") or {}
        cidr = (operator.get("clusterPoolIPv4PodCIDRList") or [None])[0]
        mask = _int(operator.get("clusterPoolIPv4MaskSize"), DEFAULT_NODE_MASK)
        where = f"{layout.CILIUM_VALUES} ipam.operator.clusterPoolIPv4PodCIDRList"
    else:
        return {}  # multi-pool: no per-node PodCIDR to announce
    try:
        network = IPv4Network(str(cidr))
    except ValueError:
        problems.append(f"{where}: {cidr!r} is not an IPv4 CIDR")
        return {}
    order = [inv.control_planes[0], *(n for n in inv.kubernetes_nodes if n != inv.control_planes[0])]
    return {node.name: subnet for node, subnet in zip(order, network.subnets(new_prefix=max(mask, network.prefixlen)))}
