"""Every semantic rule of an inventory, in one place.

Each rule reads the whole typed inventory and reports findings by field path;
the loader turns paths into `cluster.yaml:LINE` and sorts. Rules never stop at
the first finding: the user sees everything at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from itertools import combinations

from . import formats, versions
from .model import BgpPeer, Inventory

Loc = tuple[str | int, ...]

MAX_ASN = 4_294_967_295
MAX_2BYTE_ASN = 65_535
YAMAHA_MAX_NEIGHBORS = 32
YAMAHA_MAX_HOLD_TIME = 28_800  # `bgp neighbor ... hold-time=` accepts 3-28800 seconds
CONTROL_PLANE_COUNTS = (1, 3, 5, 7)
PODCIDR_IPAM_MODES = ("kubernetes", "cluster-pool")


@dataclass(frozen=True)
class Finding:
    path: Loc
    message: str


@dataclass
class Findings:
    errors: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)

    def error(self, path: Loc, message: str) -> None:
        self.errors.append(Finding(path, message))

    def warn(self, path: Loc, message: str) -> None:
        self.warnings.append(Finding(path, message))


Rule = Callable[[Inventory, Findings], None]


def check(inv: Inventory) -> tuple[list[Finding], list[Finding]]:
    findings = Findings()
    for each in RULES:
        each(inv, findings)
    return findings.errors, findings.warnings


def show_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if not isinstance(part, int) and not (part and part.isprintable() and part == part.strip() and len(part) <= formats.SHOWN_CHARACTERS):
            part = formats.shown(part)  # a newline, escape or edge space of a quoted key stays visible and on one line, a long key short
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def is_ibgp(inv: Inventory, peer: BgpPeer) -> bool:
    assert inv.bgp is not None
    return peer.asn == inv.bgp.local_asn


# --- names -----------------------------------------------------------------


def unique_names(inv: Inventory, out: Findings) -> None:
    owners: dict[str, Loc] = {}
    named: list[tuple[Loc, str]] = [(("hosts", i, "name"), h.name) for i, h in enumerate(inv.hosts)]
    named += [(("nodes", i, "name"), n.name) for i, n in enumerate(inv.nodes)]
    for loc, name in named:
        if name in owners:
            out.error(loc, f"name {name!r} is already used by {show_path(owners[name])}; host and node names must be unique")
        else:
            owners[name] = loc
    for section, items in (("loadBalancerPools", inv.load_balancer_pools), ("bgp.peers", inv.bgp.peers if inv.bgp else [])):
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            loc = (*section.split("."), i, "name")
            if item.name in seen:
                out.error(loc, f"name {item.name!r} is already used by {section}[{seen[item.name]}]")
            seen.setdefault(item.name, i)


def hosts_declared(inv: Inventory, out: Findings) -> None:
    declared = {h.name for h in inv.hosts}
    for i, node in enumerate(inv.nodes):
        if node.host not in declared:
            out.error(("nodes", i, "host"), f"host {node.host!r} is not declared under hosts ({', '.join(sorted(declared))})")


def unique_macs(inv: Inventory, out: Findings) -> None:
    seen: dict[str, int] = {}
    for i, node in enumerate(inv.nodes):
        if node.mac is None:
            continue
        if node.mac in seen:
            out.error(("nodes", i, "mac"), f"MAC {node.mac} is also the MAC of nodes[{seen[node.mac]}] ({inv.nodes[seen[node.mac]].name})")
        seen.setdefault(node.mac, i)


# --- addresses ---------------------------------------------------------------


def _addresses(inv: Inventory) -> Iterator[tuple[Loc, IPv4Address, str]]:
    """Every address that must be a distinct host in the node subnet, with its owner."""
    yield ("network", "gateway"), inv.network.gateway, "the gateway"
    yield ("apiServer", "vip"), inv.api_server.vip, "the API VIP"
    for i, node in enumerate(inv.nodes):
        yield ("nodes", i, "ip"), node.ip, f"node {node.name}"


def addresses_in_subnet(inv: Inventory, out: Findings) -> None:
    subnet = inv.network.subnet
    for loc, address, _owner in _addresses(inv):
        if address not in subnet:
            out.error(loc, f"{address} is outside network.subnet {subnet}")
        elif subnet.prefixlen <= 30 and address == subnet.network_address:
            out.error(loc, f"{address} is the network address of {subnet}")
        elif subnet.prefixlen <= 30 and address == subnet.broadcast_address:
            out.error(loc, f"{address} is the broadcast address of {subnet}")


def addresses_unique(inv: Inventory, out: Findings) -> None:
    owners: dict[IPv4Address, tuple[Loc, str]] = {}
    for loc, address, owner in _addresses(inv):
        if address in owners:
            first_loc, first_owner = owners[address]
            out.error(loc, f"{address} of {owner} is also the address of {first_owner} ({show_path(first_loc)})")
        else:
            owners[address] = (loc, owner)


# --- CIDRs -------------------------------------------------------------------


def _ranges(inv: Inventory) -> list[tuple[Loc, IPv4Network, str]]:
    ranges = [
        (("network", "subnet"), inv.network.subnet, "the node subnet"),
        (("kubernetes", "podCIDR"), inv.kubernetes.pod_cidr, "the pod CIDR"),
        (("kubernetes", "serviceCIDR"), inv.kubernetes.service_cidr, "the service CIDR"),
    ]
    ranges += [(("loadBalancerPools", i, "cidr"), p.cidr, f"LB pool {p.name}") for i, p in enumerate(inv.load_balancer_pools)]
    return ranges


def ranges_disjoint(inv: Inventory, out: Findings) -> None:
    for (loc_a, net_a, what_a), (loc_b, net_b, what_b) in combinations(_ranges(inv), 2):
        if net_a.overlaps(net_b):
            overlap = net_a if net_a.prefixlen >= net_b.prefixlen else net_b
            out.error(loc_b, f"{what_b} {net_b} overlaps {what_a} {net_a} ({show_path(loc_a)}) in {overlap}")


def pools_avoid_addresses(inv: Inventory, out: Findings) -> None:
    for i, pool in enumerate(inv.load_balancer_pools):
        for loc, address, owner in _addresses(inv):
            if address in pool.cidr:
                out.error(("loadBalancerPools", i, "cidr"), f"LB pool {pool.name} {pool.cidr} contains {address}, {owner} ({show_path(loc)})")


# --- BGP ---------------------------------------------------------------------


def bgp_asns(inv: Inventory, out: Findings) -> None:
    if inv.bgp is None:
        return
    asns = [(("bgp", "localASN"), inv.bgp.local_asn)] + [(("bgp", "peers", i, "asn"), p.asn) for i, p in enumerate(inv.bgp.peers)]
    for loc, asn in asns:
        if not 1 <= asn <= MAX_ASN:
            out.error(loc, f"AS number {asn} is outside 1-{MAX_ASN}")
    for i, peer in enumerate(inv.bgp.peers):
        if peer.router != "yamaha-rtx":
            continue
        for loc, asn, side in ((("bgp", "localASN"), inv.bgp.local_asn, "the cluster's"), (("bgp", "peers", i, "asn"), peer.asn, "the router's")):
            if MAX_2BYTE_ASN < asn <= MAX_ASN:  # out of range altogether: reported above
                out.error(loc, f"{side} AS {asn} is a 4-byte AS number; Yamaha RTX peer {peer.name} supports only 1-{MAX_2BYTE_ASN}")


def bgp_peer_addresses(inv: Inventory, out: Findings) -> None:
    if inv.bgp is None:
        return
    ranges = _ranges(inv)[1:]  # pod, service and LB pools; the node subnet is where peers belong
    taken = {address: owner for _loc, address, owner in _addresses(inv) if owner != "the gateway"}
    subnet = inv.network.subnet
    seen: dict[IPv4Address, int] = {}
    for i, peer in enumerate(inv.bgp.peers):
        loc = ("bgp", "peers", i, "address")
        if peer.address in seen:
            out.error(loc, f"peer {peer.name} address {peer.address} is also the address of bgp.peers[{seen[peer.address]}]; one session per router")
        seen.setdefault(peer.address, i)
        if subnet.prefixlen <= 30 and peer.address in (subnet.network_address, subnet.broadcast_address):
            out.error(loc, f"peer {peer.name} address {peer.address} is the network or broadcast address of {subnet}")
        for range_loc, net, what in ranges:
            if peer.address in net:
                out.error(loc, f"peer {peer.name} address {peer.address} is inside {what} {net} ({show_path(range_loc)})")
        if peer.address in taken:
            out.error(loc, f"peer {peer.name} address {peer.address} is {taken[peer.address]}: a BGP peer must be a router, not a cluster address")
        if peer.address not in inv.network.subnet and not any(peer.address in net for _l, net, _w in ranges):
            hint = "" if is_ibgp(inv, peer) or peer.ebgp_multihop else " and, being eBGP, ebgpMultihop"
            out.warn(loc, f"peer {peer.name} address {peer.address} is outside network.subnet {inv.network.subnet}: every node needs a route to it{hint}")


def bgp_advertisements(inv: Inventory, out: Findings) -> None:
    if inv.bgp is None:
        return
    advertise = inv.bgp.advertise
    if not (advertise.load_balancer_ips or advertise.pod_cidrs):
        out.error(("bgp", "advertise"), "BGP is configured but advertises nothing: enable loadBalancerIPs or podCIDRs")
    if advertise.load_balancer_ips and not inv.load_balancer_pools:
        out.error(("bgp", "advertise", "loadBalancerIPs"), "LoadBalancer IPs are advertised but loadBalancerPools is empty")
    if advertise.pod_cidrs and inv.cilium.ipam not in PODCIDR_IPAM_MODES:
        out.error(
            ("bgp", "advertise", "podCIDRs"),
            f"PodCIDR advertisement needs cilium.ipam {' or '.join(PODCIDR_IPAM_MODES)}, not {inv.cilium.ipam}",
        )


def bgp_timers(inv: Inventory, out: Findings) -> None:
    if inv.bgp is None:
        return
    timed = [(("bgp", "timers"), inv.bgp.timers)]
    timed += [(("bgp", "peers", i, "timers"), p.timers) for i, p in enumerate(inv.bgp.peers) if p.timers]
    for loc, timers in timed:
        if timers.keepalive_time_seconds > timers.hold_time_seconds:
            out.error(
                (*loc, "keepaliveTimeSeconds"),
                f"keepalive {timers.keepalive_time_seconds}s is longer than the hold time {timers.hold_time_seconds}s",
            )


def yamaha_hold_time(inv: Inventory, out: Findings) -> None:
    if inv.bgp is None:
        return
    for i, peer in enumerate(inv.bgp.peers):
        loc, timers = (("bgp", "peers", i, "timers"), peer.timers) if peer.timers else (("bgp", "timers"), inv.bgp.timers)
        if peer.router == "yamaha-rtx" and timers.hold_time_seconds > YAMAHA_MAX_HOLD_TIME:
            out.error(
                (*loc, "holdTimeSeconds"),
                f"hold time {timers.hold_time_seconds}s is longer than Yamaha RTX peer {peer.name} accepts (at most {YAMAHA_MAX_HOLD_TIME}s)",
            )


def yamaha_neighbor_limit(inv: Inventory, out: Findings) -> None:
    if inv.bgp is None:
        return
    count = len(inv.kubernetes_nodes)
    for i, peer in enumerate(inv.bgp.peers):
        if peer.router == "yamaha-rtx" and count > YAMAHA_MAX_NEIGHBORS:
            out.error(("bgp", "peers", i, "router"), f"Yamaha RTX takes at most {YAMAHA_MAX_NEIGHBORS} BGP neighbors; this cluster has {count} Kubernetes nodes")


# --- roles and placement -----------------------------------------------------


def role_counts(inv: Inventory, out: Findings) -> None:
    control_planes, lbs = len(inv.control_planes), len(inv.loadbalancers)
    if control_planes not in CONTROL_PLANE_COUNTS:
        if control_planes == 0:
            why = "a cluster needs at least one"
        elif control_planes % 2 == 0:
            why = "an even count adds no etcd fault tolerance over one less"
        else:
            why = "more than 7 etcd members slow down every write for little extra fault tolerance"
        out.error(("nodes",), f"{control_planes} control planes: use 1, 3, 5 or 7 ({why})")
    if not inv.workers:
        out.warn(("nodes",), "no worker nodes: the control planes will run workloads (their NoSchedule taint is removed)")
    if lbs == 1:
        out.error(("nodes",), "exactly one loadbalancer node: keepalived needs a pair to move the VIP; use 0 or at least 2")
    elif lbs == 0:
        out.warn(("apiServer", "vip"), f"no loadbalancer nodes: something outside this inventory must serve the VIP {inv.api_server.vip}")


def placement(inv: Inventory, out: Findings) -> None:
    by_host: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, node in enumerate(inv.nodes):
        by_host[(node.role, node.host)].append(i)
    for (role, host), indexes in sorted(by_host.items()):
        if len(indexes) < 2 or role == "worker":
            continue
        names = ", ".join(inv.nodes[i].name for i in indexes)
        if role == "control-plane":
            out.warn(("nodes", indexes[1], "host"), f"control planes {names} share host {host}: losing it loses {len(indexes)} etcd members")
        elif len(indexes) == len(inv.loadbalancers):
            out.warn(("nodes", indexes[1], "host"), f"load balancers {names} all run on host {host}: the VIP dies with it")


# --- versions ----------------------------------------------------------------


def version_support(inv: Inventory, out: Findings) -> None:
    kube, cilium = versions.minor(inv.kubernetes.version), versions.minor(inv.cilium.version)
    if kube < versions.MIN_KUBERNETES:
        out.error(
            ("kubernetes", "version"),
            f"Kubernetes {inv.kubernetes.version} is older than {versions.show(versions.MIN_KUBERNETES)}, the first with kubeadm.k8s.io/v1beta4",
        )
    if (1, 17) <= cilium < versions.MIN_CILIUM:
        out.error(
            ("cilium", "version"),
            f"Cilium {inv.cilium.version} is older than {versions.show(versions.MIN_CILIUM)}, the first with the BGP control plane "
            f"resources and CiliumLoadBalancerIPPool as cilium.io/v2 (Cilium {versions.show(cilium)} has them only as cilium.io/v2alpha1)",
        )
        return
    if cilium < versions.MIN_CILIUM:
        out.error(
            ("cilium", "version"),
            f"Cilium {inv.cilium.version} is older than {versions.show(versions.MIN_CILIUM)}. Its MetalLB-based `bgp.*` Helm values "
            "were removed in 1.17 and are silently ignored by newer charts; BGP is now the BGP control plane "
            "(bgpControlPlane.enabled with CiliumBGPClusterConfig, CiliumBGPPeerConfig and CiliumBGPAdvertisement, "
            "cilium.io/v2 from 1.18) and LoadBalancer IPs come from CiliumLoadBalancerIPPool",
        )
        return
    tested = versions.CILIUM_TESTED_KUBERNETES.get(cilium)
    if tested is None:
        known = ", ".join(versions.show(v) for v in versions.CILIUM_TESTED_KUBERNETES)
        out.error(("cilium", "version"), f"Cilium {versions.show(cilium)} is not a version clusterforge knows ({known})")
    elif kube >= versions.MIN_KUBERNETES and kube not in tested:
        listed = ", ".join(versions.show(v) for v in tested)
        if kube > max(tested):
            out.warn(
                ("kubernetes", "version"),
                f"Kubernetes {versions.show(kube)} is newer than any Kubernetes Cilium {versions.show(cilium)} is tested with ({listed}); "
                "Cilium's compatibility page leaves it to Kubernetes' backward compatibility",
            )
        else:
            out.error(
                ("kubernetes", "version"),
                f"Kubernetes {versions.show(kube)} with Cilium {versions.show(cilium)} is not a known combination "
                f"(Cilium {versions.show(cilium)} is tested with Kubernetes {listed})",
            )
    newest = max(versions.PAUSE_VERSIONS)
    if kube > newest:
        out.error(
            ("kubernetes", "version"),
            f"Kubernetes {versions.show(kube)} is newer than {versions.show(newest)}, the last minor clusterforge knows the node packages of "
            "(containerd, the pause image kubeadm expects)",
        )


# --- Cilium features ---------------------------------------------------------


def cilium_features(inv: Inventory, out: Findings) -> None:
    if inv.cilium.hubble_relay and not inv.cilium.hubble:
        out.error(("cilium", "hubbleRelay"), "Hubble Relay needs cilium.hubble: true")


# --- LoadBalancer pools --------------------------------------------------------


def _pool_names(inv: Inventory, indexes: list[int]) -> str:
    return ", ".join(inv.load_balancer_pools[i].name for i in indexes)


def pool_selection(inv: Inventory, out: Findings) -> None:
    """Cilium LB IPAM gives a Service an address from one of the pools whose
    serviceSelector matches it, picked in Go map order, i.e. at random
    (operator/pkg/lbipam). With several pools each Service must match one pool:
    every pool has a selector, or one is the default that takes the rest."""
    pools = inv.load_balancer_pools
    defaults = [i for i, p in enumerate(pools) if p.default]
    for i in defaults:
        if pools[i].service_selector:
            out.error(
                ("loadBalancerPools", i, "serviceSelector"),
                f"pool {pools[i].name} is the default pool: it takes every Service no other pool selects and has no serviceSelector",
            )
    if len(defaults) > 1:
        out.error(("loadBalancerPools", defaults[1], "default"), f"pools {_pool_names(inv, defaults)} are each marked default: true; at most one pool is the default")
    if len(pools) < 2:
        return
    unselected = [i for i, p in enumerate(pools) if not p.service_selector and not p.default]
    for i in unselected:
        out.error(
            ("loadBalancerPools", i),
            f"pool {pools[i].name} has no serviceSelector: with several pools, Cilium gives a Service an address from any pool "
            f"that selects it, chosen at random (pools without a selector: {_pool_names(inv, unselected)}); "
            "give each pool a serviceSelector, or mark one `default: true` to take the Services no other pool selects",
        )
    for (i, a), (j, b) in combinations(enumerate(pools), 2):
        labels_a, labels_b = set(a.service_selector.items()), set(b.service_selector.items())
        if labels_a and labels_b and (labels_a <= labels_b or labels_b <= labels_a):
            wide, narrow = (a, b) if labels_a <= labels_b else (b, a)
            out.error(
                ("loadBalancerPools", j, "serviceSelector"),
                f"every Service pool {narrow.name} selects, pool {wide.name} selects too (its labels are among {narrow.name}'s): "
                "Cilium would pick between them at random",
            )
    if defaults:
        default = pools[defaults[0]].name
        for i, pool in enumerate(pools):
            if len(pool.service_selector) > 1:
                out.error(
                    ("loadBalancerPools", i, "serviceSelector"),
                    f"pool {pool.name} selects by {len(pool.service_selector)} labels, but the default pool {default} can leave out "
                    "only Services selected by one label (a label selector cannot say 'not both'): select it by one label",
                )


def kubernetes_end_of_life(inv: Inventory, out: Findings) -> None:
    kube = versions.minor(inv.kubernetes.version)
    end = versions.KUBERNETES_END_OF_LIFE.get(kube)
    if end is not None and end <= versions.today():
        out.warn(
            ("kubernetes", "version"),
            f"Kubernetes {versions.show(kube)} reached its end of life on {end.isoformat()} (no more patches, security fixes "
            "included): plan the upgrade to a supported minor",
        )


def yamaha_ibgp(inv: Inventory, out: Findings) -> None:
    """Yamaha's RTX command reference (chapter BGP: `bgp autonomous-system`, `bgp neighbor
    ID REMOTE_AS ADDRESS`, mirrored at https://net-skills.net/yamaha-menu1/bgp02/ and
    .../bgp03/, read 2026-11-28) documents neighbours by their remote AS and nothing of
    iBGP: no same-AS session, no next-hop or local-preference handling. Such a session
    may come up, but nothing documents that the router installs its routes."""
    if inv.bgp is None:
        return
    for i, peer in enumerate(inv.bgp.peers):
        if peer.router == "yamaha-rtx" and is_ibgp(inv, peer):
            out.warn(
                ("bgp", "peers", i, "asn"),
                f"peer {peer.name} is a Yamaha RTX in the cluster's own AS {peer.asn} (iBGP), which Yamaha's command reference "
                "does not document (its BGP chapter knows neighbours only by their remote AS): give the router its own private "
                "AS (eBGP), e.g. one of 64512-65534 other than bgp.localASN",
            )


# --- GitOps ------------------------------------------------------------------


def gitops_url(inv: Inventory, out: Findings) -> None:
    if inv.gitops.engine == "flux" and formats.is_scp_like(inv.gitops.repository):
        out.error(
            ("gitops", "repository"),
            f"Flux clones only http://, https:// and ssh:// URLs, not {inv.gitops.repository}: write it as ssh://USER@HOST/PATH",
        )


# Listed rather than registered by a decorator: mutmut cannot mutate decorated functions.
RULES: tuple[Rule, ...] = (
    unique_names,
    hosts_declared,
    unique_macs,
    addresses_in_subnet,
    addresses_unique,
    ranges_disjoint,
    pools_avoid_addresses,
    bgp_asns,
    bgp_peer_addresses,
    bgp_advertisements,
    bgp_timers,
    yamaha_hold_time,
    yamaha_neighbor_limit,
    role_counts,
    placement,
    version_support,
    cilium_features,
    pool_selection,
    kubernetes_end_of_life,
    yamaha_ibgp,
    gitops_url,
)
