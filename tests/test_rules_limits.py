"""Every numeric limit and range of the inventory, at the limit and one past it,
on both sides: the rules of generator/rules.py and the Field bounds of
generator/model.py. Each case edits the reference example (or
tests/data/full.yaml) in one place and checks what `clusterforge check` says.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator import loader, rules, yamlio
from generator.errors import InventoryError
from generator.model import MAX_POOLS

ROOT = Path(__file__).parents[1]
EXAMPLE = json.loads(json.dumps(yamlio.loader().load((ROOT / "generator" / "data" / "cluster.example.yaml").read_text())))
FULL = json.loads(json.dumps(yamlio.loader().load((Path(__file__).parent / "data" / "full.yaml").read_text())))

Data = dict[str, Any]


def findings(data: Data) -> tuple[list[str], list[str]]:
    """(errors, warnings) of `clusterforge check` on the data, as `path: message` lines."""
    try:
        checked = loader.check_text(yamlio.dump(data))
    except InventoryError as e:
        return [f"{p.path}: {p.message}" for p in e.problems], [f"{p.path}: {p.message}" for p in e.warnings]
    return [], [f"{p.path}: {p.message}" for p in checked.warnings]


def errors(data: Data) -> list[str]:
    return findings(data)[0]


def edited(change: Callable[[Data], object], base: Data = EXAMPLE) -> Data:
    data = copy.deepcopy(base)
    change(data)
    return data


def test_every_rule_function_is_listed() -> None:
    """rules.RULES is written out by hand (mutmut cannot mutate decorated functions): a rule
    missing from it would never run."""
    takes_findings = {
        name
        for name, fn in vars(rules).items()
        if inspect.isfunction(fn) and fn.__module__ == rules.__name__ and list(inspect.signature(fn).parameters) == ["inv", "out"]
        and "__mutmut" not in name  # the copies mutmut adds beside each function while it runs
    }
    assert takes_findings == {r.__name__ for r in rules.RULES}
    assert len(rules.RULES) == len(set(rules.RULES))


def test_the_bases_are_valid() -> None:
    assert findings(EXAMPLE) == ([], [])
    assert findings(FULL) == ([], [])


# --- AS numbers (rules.bgp_asns) ------------------------------------------------------------


def frr_peer(data: Data) -> Data:
    """The example's peer as FRR, which takes 4-byte AS numbers."""
    data["bgp"]["peers"][0]["router"] = "frr"
    return data


@pytest.mark.parametrize("where", ["local", "peer"])
@pytest.mark.parametrize(
    ("asn", "ok"),
    [(0, False), (1, True), (rules.MAX_ASN, True), (rules.MAX_ASN + 1, False)],
    ids=["0", "1", "max", "max+1"],
)
def test_asn_range(where: str, asn: int, ok: bool) -> None:
    def change(data: Data) -> None:
        frr_peer(data)
        if where == "local":
            data["bgp"]["localASN"] = asn
        else:
            data["bgp"]["peers"][0]["asn"] = asn

    path = "bgp.localASN" if where == "local" else "bgp.peers[0].asn"
    assert errors(edited(change)) == ([] if ok else [f"{path}: AS number {asn} is outside 1-4294967295"])


@pytest.mark.parametrize("where", ["local", "peer"])
@pytest.mark.parametrize(
    ("asn", "expected"),
    [
        (1, None),
        (rules.MAX_2BYTE_ASN, None),
        (rules.MAX_2BYTE_ASN + 1, "{side} AS 65536 is a 4-byte AS number; Yamaha RTX peer rtx1220 supports only 1-65535"),
        (rules.MAX_ASN, "{side} AS 4294967295 is a 4-byte AS number; Yamaha RTX peer rtx1220 supports only 1-65535"),
        # Out of every range: only the general message, not a second one about 4-byte numbers.
        (rules.MAX_ASN + 1, "AS number 4294967296 is outside 1-4294967295"),
        (0, "AS number 0 is outside 1-4294967295"),
    ],
    ids=["1", "65535", "65536", "max", "max+1", "0"],
)
def test_yamaha_takes_2_byte_asns_only(where: str, asn: int, expected: str | None) -> None:
    def change(data: Data) -> None:
        data["bgp"]["localASN" if where == "local" else "peers"] = asn if where == "local" else [{**data["bgp"]["peers"][0], "asn": asn}]

    path, side = ("bgp.localASN", "the cluster's") if where == "local" else ("bgp.peers[0].asn", "the router's")
    assert errors(edited(change)) == ([f"{path}: {expected.format(side=side)}"] if expected else [])


def test_a_4_byte_asn_is_fine_for_frr_and_bird() -> None:
    def change(data: Data) -> None:
        data["bgp"]["localASN"] = 4_200_000_000
        data["bgp"]["peers"][0]["asn"] = 4_200_000_001
        data["bgp"]["peers"].append({**data["bgp"]["peers"][0], "name": "rs", "address": "192.168.100.250", "router": "bird"})
        frr_peer(data)

    assert errors(edited(change)) == []


def test_every_yamaha_peer_is_named_for_a_4_byte_local_asn() -> None:
    def change(data: Data) -> None:
        data["bgp"]["localASN"] = 70_000
        peer = data["bgp"]["peers"][0]
        data["bgp"]["peers"] = [{**peer, "asn": 64_512}, {**peer, "name": "rtx2", "address": "192.168.100.252", "asn": 64_513}]

    assert errors(edited(change)) == [
        "bgp.localASN: the cluster's AS 70000 is a 4-byte AS number; Yamaha RTX peer rtx1220 supports only 1-65535",
        "bgp.localASN: the cluster's AS 70000 is a 4-byte AS number; Yamaha RTX peer rtx2 supports only 1-65535",
    ]


# --- network and broadcast addresses (rules.addresses_in_subnet, rules.bgp_peer_addresses) ---


def tiny_subnet(subnet: str, gateway: str, vip: str, node: str) -> Data:
    """The example squeezed into `subnet`: one control plane, no load balancers, no BGP."""

    def change(data: Data) -> None:
        data["network"].update(subnet=subnet, gateway=gateway)
        data["apiServer"]["vip"] = vip
        data["nodes"] = [{"name": "cp1", "role": "control-plane", "ip": node, "host": "nuc1"}]
        del data["bgp"]

    return edited(change)


def subnet_errors(data: Data) -> list[str]:
    return [e for e in errors(data) if "network address" in e or "broadcast address" in e]


def test_a_30_bit_subnet_has_a_network_and_a_broadcast_address() -> None:
    assert subnet_errors(tiny_subnet("10.0.0.0/30", "10.0.0.1", "10.0.0.2", "10.0.0.3")) == [
        "nodes[0] (cp1).ip: 10.0.0.3 is the broadcast address of 10.0.0.0/30"
    ]
    assert subnet_errors(tiny_subnet("10.0.0.0/30", "10.0.0.0", "10.0.0.1", "10.0.0.2")) == [
        "network.gateway: 10.0.0.0 is the network address of 10.0.0.0/30"
    ]


def test_a_31_bit_subnet_has_neither() -> None:
    """RFC 3021: both addresses of a /31 are hosts (the three addresses here still collide, which is another rule)."""
    assert subnet_errors(tiny_subnet("10.0.0.2/31", "10.0.0.2", "10.0.0.3", "10.0.0.3")) == []
    assert errors(tiny_subnet("10.0.0.2/31", "10.0.0.2", "10.0.0.3", "10.0.0.3")) == [
        "nodes[0] (cp1).ip: 10.0.0.3 of node cp1 is also the address of the API VIP (apiServer.vip)"
    ]


def test_a_32_bit_subnet_is_one_host() -> None:
    assert subnet_errors(tiny_subnet("10.0.0.3/32", "10.0.0.3", "10.0.0.3", "10.0.0.3")) == []


@pytest.mark.parametrize(("address", "bad"), [("10.0.0.0", True), ("10.0.0.3", True)], ids=["network", "broadcast"])
def test_a_peer_on_the_edge_of_a_30_bit_subnet(address: str, bad: bool) -> None:
    data = edited(lambda d: d.update(bgp=copy.deepcopy(EXAMPLE["bgp"]), loadBalancerPools=EXAMPLE["loadBalancerPools"]), tiny_subnet("10.0.0.0/30", "10.0.0.1", "10.0.0.2", "10.0.0.1"))
    data["bgp"]["peers"][0]["address"] = address
    found = [e for e in errors(data) if "network or broadcast" in e]
    assert found == [f"bgp.peers[0].address: peer rtx1220 address {address} is the network or broadcast address of 10.0.0.0/30"]


@pytest.mark.parametrize("address", ["10.0.0.2", "10.0.0.3"])
def test_a_peer_anywhere_in_a_31_bit_subnet(address: str) -> None:
    data = edited(lambda d: d.update(bgp=copy.deepcopy(EXAMPLE["bgp"]), loadBalancerPools=EXAMPLE["loadBalancerPools"]), tiny_subnet("10.0.0.2/31", "10.0.0.2", "10.0.0.3", "10.0.0.2"))
    data["bgp"]["peers"][0]["address"] = address
    assert [e for e in errors(data) if "network or broadcast" in e] == []


# --- BGP timers (rules.bgp_timers, rules.yamaha_hold_time; model.BgpTimers) -----------------


def timers(hold: int, keepalive: int, *, on_peer: bool = False, router: str = "yamaha-rtx") -> Data:
    def change(data: Data) -> None:
        data["bgp"]["peers"][0]["router"] = router
        target = data["bgp"]["peers"][0] if on_peer else data["bgp"]
        target["timers"] = {"holdTimeSeconds": hold, "keepaliveTimeSeconds": keepalive}

    return edited(change)


@pytest.mark.parametrize("on_peer", [False, True], ids=["bgp.timers", "peer timers"])
def test_keepalive_up_to_the_hold_time(on_peer: bool) -> None:
    where = "bgp.peers[0].timers" if on_peer else "bgp.timers"
    assert errors(timers(90, 90, on_peer=on_peer)) == []
    assert errors(timers(90, 91, on_peer=on_peer)) == [f"{where}.keepaliveTimeSeconds: keepalive 91s is longer than the hold time 90s"]
    assert errors(timers(3, 3, on_peer=on_peer)) == []  # the shortest hold time with the longest keepalive it allows


@pytest.mark.parametrize("on_peer", [False, True], ids=["bgp.timers", "peer timers"])
def test_yamaha_hold_time_limit(on_peer: bool) -> None:
    where = "bgp.peers[0].timers" if on_peer else "bgp.timers"
    assert errors(timers(rules.YAMAHA_MAX_HOLD_TIME, 30, on_peer=on_peer)) == []
    assert errors(timers(rules.YAMAHA_MAX_HOLD_TIME + 1, 30, on_peer=on_peer)) == [
        f"{where}.holdTimeSeconds: hold time 28801s is longer than Yamaha RTX peer rtx1220 accepts (at most 28800s)"
    ]
    # the lower end is the model's (3 s) and RTX takes it
    assert errors(timers(3, 1, on_peer=on_peer)) == []


def test_peer_timers_override_the_cluster_timers_for_the_yamaha_limit() -> None:
    data = timers(60_000, 30)  # too long for RTX, but the peer has its own
    data["bgp"]["peers"][0]["timers"] = {"holdTimeSeconds": 90}
    assert errors(data) == []
    data["bgp"]["timers"] = {"holdTimeSeconds": 90}
    data["bgp"]["peers"][0]["timers"] = {"holdTimeSeconds": 60_000}
    assert errors(data) == ["bgp.peers[0].timers.holdTimeSeconds: hold time 60000s is longer than Yamaha RTX peer rtx1220 accepts (at most 28800s)"]


@pytest.mark.parametrize("router", ["frr", "bird"])
def test_other_routers_take_any_hold_time(router: str) -> None:
    assert errors(timers(65535, 30, router=router)) == []


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [("holdTimeSeconds", 3, 65535), ("keepaliveTimeSeconds", 1, 21845), ("connectRetryTimeSeconds", 1, 65535)],
)
def test_timer_bounds(field: str, low: int, high: int) -> None:
    def with_timer(value: int) -> Data:
        def change(data: Data) -> None:
            frr_peer(data)
            # keepalive <= hold time: keep the other timer out of the way
            data["bgp"]["timers"] = {"holdTimeSeconds": 65535, "keepaliveTimeSeconds": 1, field: value}

        return edited(change)

    assert errors(with_timer(low)) == errors(with_timer(high)) == []
    assert errors(with_timer(low - 1)) == [f"bgp.timers.{field}: input should be greater than or equal to {low} (got {low - 1})"]
    assert errors(with_timer(high + 1)) == [f"bgp.timers.{field}: input should be less than or equal to {high} (got {high + 1})"]


@pytest.mark.parametrize(("value", "message"), [(0, "greater than or equal to 1 (got 0)"), (1, None), (255, None), (256, "less than or equal to 255 (got 256)")])
def test_ebgp_multihop_bounds(value: int, message: str | None) -> None:
    def change(data: Data) -> None:
        frr_peer(data)
        data["bgp"]["peers"][0].update(asn=65001, ebgpMultihop=value)

    assert errors(edited(change)) == ([f"bgp.peers[0].ebgpMultihop: input should be {message}"] if message else [])


# --- Yamaha neighbor count (rules.yamaha_neighbor_limit) -----------------------------------


def with_workers(count: int, router: str = "yamaha-rtx") -> Data:
    """The example with `count` Kubernetes nodes (3 control planes and workers); the two load balancers stay."""

    def change(data: Data) -> None:
        data["bgp"]["peers"][0]["router"] = router
        data["nodes"] = [n for n in data["nodes"] if n["role"] != "worker"]
        data["nodes"] += [{"name": f"w{i}", "role": "worker", "ip": f"192.168.100.{100 + i}", "host": "nuc1"} for i in range(count - 3)]

    return edited(change)


def test_yamaha_takes_32_neighbors() -> None:
    assert errors(with_workers(rules.YAMAHA_MAX_NEIGHBORS)) == []  # and the 2 load balancers are no neighbors


def test_yamaha_refuses_33_neighbors() -> None:
    assert errors(with_workers(rules.YAMAHA_MAX_NEIGHBORS + 1)) == [
        "bgp.peers[0].router: Yamaha RTX takes at most 32 BGP neighbors; this cluster has 33 Kubernetes nodes"
    ]


@pytest.mark.parametrize("router", ["frr", "bird"])
def test_other_routers_take_more_neighbors(router: str) -> None:
    assert errors(with_workers(rules.YAMAHA_MAX_NEIGHBORS + 1, router)) == []


# --- role counts (rules.role_counts) ------------------------------------------------------------


def with_roles(control_planes: int, loadbalancers: int = 2, workers: int = 1) -> Data:
    def change(data: Data) -> None:
        node = {"role": "control-plane", "host": "nuc1"}
        nodes = [{**node, "name": f"cp{i}", "ip": f"192.168.100.{20 + i}", "host": f"nuc{1 + i % 3}"} for i in range(control_planes)]
        nodes += [{**node, "role": "worker", "name": f"w{i}", "ip": f"192.168.100.{40 + i}"} for i in range(workers)]
        nodes += [{**node, "role": "loadbalancer", "name": f"lb{i}", "ip": f"192.168.100.{60 + i}", "host": f"nuc{1 + i % 3}"} for i in range(loadbalancers)]
        data["nodes"] = nodes

    return edited(change)


@pytest.mark.parametrize(
    ("count", "why"),
    [
        (0, "a cluster needs at least one"),
        (1, None),
        (2, "an even count adds no etcd fault tolerance over one less"),
        (3, None),
        (4, "an even count adds no etcd fault tolerance over one less"),
        (5, None),
        (6, "an even count adds no etcd fault tolerance over one less"),
        (7, None),
        (8, "an even count adds no etcd fault tolerance over one less"),
        (9, "more than 7 etcd members slow down every write for little extra fault tolerance"),
    ],
)
def test_control_plane_counts(count: int, why: str | None) -> None:
    found = [e for e in errors(with_roles(count)) if "control planes" in e]
    assert found == ([f"nodes: {count} control planes: use 1, 3, 5 or 7 ({why})"] if why else [])


@pytest.mark.parametrize(
    ("count", "error", "warning"),
    [
        (0, None, "apiServer.vip: no loadbalancer nodes: something outside this inventory must serve the VIP 192.168.100.4"),
        (1, "nodes: exactly one loadbalancer node: keepalived needs a pair to move the VIP; use 0 or at least 2", None),
        (2, None, None),
        (3, None, None),
    ],
)
def test_loadbalancer_counts(count: int, error: str | None, warning: str | None) -> None:
    found_errors, found_warnings = findings(with_roles(3, count))
    assert found_errors == ([error] if error else [])
    assert [w for w in found_warnings if "loadbalancer" in w] == ([warning] if warning else [])


def test_no_workers_is_a_warning_and_one_is_not() -> None:
    warning = "nodes: no worker nodes: the control planes will run workloads (their NoSchedule taint is removed)"
    assert warning in findings(with_roles(3, workers=0))[1]
    assert warning not in findings(with_roles(3, workers=1))[1]


# --- versions (rules.version_support) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("kubernetes", "cilium", "expected"),
    [
        ("1.31.0", "1.18.0", None),  # the oldest pair clusterforge builds
        ("1.30.14", "1.18.0", "kubernetes.version: Kubernetes 1.30.14 is older than 1.31, the first with kubeadm.k8s.io/v1beta4"),
        ("1.33.0", "1.18.0", None),
        ("1.32.0", "1.19.0", None),
        ("1.31.0", "1.19.0", "kubernetes.version: Kubernetes 1.31 with Cilium 1.19 is not a known combination (Cilium 1.19 is tested with Kubernetes 1.32, 1.33, 1.34, 1.35)"),
        ("1.36.0", "1.20.0", None),  # the newest pair
        ("1.35.4", "1.21.0", "cilium.version: Cilium 1.21 is not a version clusterforge knows (1.18, 1.19, 1.20)"),
        ("1.35.4", "1.17.6", "cilium.version: Cilium 1.17.6 is older than 1.18, the first with the BGP control plane resources and CiliumLoadBalancerIPPool as cilium.io/v2 (Cilium 1.17 has them only as cilium.io/v2alpha1)"),
        ("1.35.4", "1.16.9", "cilium.version: Cilium 1.16.9 is older than 1.18. Its MetalLB-based `bgp.*` Helm values were removed"),
        ("1.35.4", "2.17.0", "cilium.version: Cilium 2.17 is not a version clusterforge knows (1.18, 1.19, 1.20)"),
        ("2.30.0", "1.18.0", "kubernetes.version: Kubernetes 2.30 is newer than 1.37, the last minor clusterforge knows the node packages of"),
    ],
)
def test_version_range(kubernetes: str, cilium: str, expected: str | None) -> None:
    def change(data: Data) -> None:
        data["kubernetes"]["version"] = kubernetes
        data["cilium"]["version"] = cilium

    found = errors(edited(change))
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(expected), found


def test_old_kubernetes_with_an_unknown_cilium_gets_both_errors() -> None:
    def change(data: Data) -> None:
        data["kubernetes"]["version"] = "1.30.0"
        data["cilium"]["version"] = "1.21.0"

    assert errors(edited(change)) == [
        "kubernetes.version: Kubernetes 1.30.0 is older than 1.31, the first with kubeadm.k8s.io/v1beta4",
        "cilium.version: Cilium 1.21 is not a version clusterforge knows (1.18, 1.19, 1.20)",
    ]


# --- the model's bounds (generator/model.py Field ge/le/min_length/max_length) ------------------


def set_path(data: Data, path: str, value: object) -> None:
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value


@pytest.mark.parametrize(
    ("path", "low", "high"),
    [
        ("apiServer.port", 1, 65535),
        ("network.mtu", 1280, 9216),
        ("nodes.0.vm.cpus", 1, 512),
        ("nodes.0.vm.memoryGiB", 1, 4096),
        ("nodes.0.vm.diskGiB", 8, 65536),
    ],
)
def test_integer_field_bounds(path: str, low: int, high: int) -> None:
    def with_value(value: int) -> Data:
        return edited(lambda data: set_path(data, path, value), FULL)

    shown = path.replace("nodes.0.", "nodes[0] (cp1).")
    assert errors(with_value(low)) == errors(with_value(high)) == []
    assert errors(with_value(low - 1)) == [f"{shown}: input should be greater than or equal to {low} (got {low - 1})"]
    assert errors(with_value(high + 1)) == [f"{shown}: input should be less than or equal to {high} (got {high + 1})"]


@pytest.mark.parametrize(
    ("path", "item", "message"),
    [
        ("network.dns", "9.9.9.9", "list should have at least 1 item after validation, not 0 (got list)"),
        ("hosts", {"name": "pve1"}, "list should have at least 1 item after validation, not 0 (got list)"),
        ("ssh.authorizedKeys", EXAMPLE["ssh"]["authorizedKeys"][0], "list should have at least 1 item after validation, not 0 (got list)"),
        ("bgp.peers", EXAMPLE["bgp"]["peers"][0], "list should have at least 1 item after validation, not 0 (got list)"),
    ],
    ids=["dns", "hosts", "keys", "peers"],
)
def test_lists_that_need_one_item(path: str, item: object, message: str) -> None:
    base = edited(lambda data: data.update(hosts=[{"name": "nuc1"}], nodes=[{**n, "host": "nuc1"} for n in data["nodes"]]))
    one = edited(lambda data: set_path(data, path, [item]), base)
    none = edited(lambda data: set_path(data, path, []), base)
    assert [e for e in errors(one) if e.startswith(path)] == []
    assert [e for e in errors(none) if e.startswith(path)] == [f"{path}: {message}"]


def test_nodes_need_one_item() -> None:
    assert errors(edited(lambda data: data.update(nodes=[]))) == ["nodes: list should have at least 1 item after validation, not 0 (got list)"]


def test_an_empty_git_repository_is_no_url() -> None:
    assert errors(edited(lambda data: data["gitops"].update(repository=""))) == ["gitops.repository: '' is not a git URL (https://HOST/PATH, ssh://[USER@]HOST[:PORT]/PATH or USER@HOST:PATH)"]


def pools(count: int) -> Data:
    return edited(lambda data: data.update(loadBalancerPools=[{"name": f"p{i}", "cidr": f"10.{128 + i // 256}.{i % 256}.0/24", "serviceSelector": {"pool": f"p{i}"}} for i in range(count)]))


def test_at_most_100_pools() -> None:
    assert errors(pools(MAX_POOLS)) == []
    assert errors(pools(MAX_POOLS + 1)) == [f"loadBalancerPools: {MAX_POOLS + 1} entries, more than the {MAX_POOLS} clusterforge takes (a limit that keeps render and validate fast)"]


@pytest.mark.parametrize(("length", "ok"), [(1, True), (63, True), (64, False)])
def test_label_length(length: int, ok: bool) -> None:
    name = "a" * length
    found = errors(edited(lambda data: data.update(name=name)))
    assert (found == []) is ok, found


@pytest.mark.parametrize(("length", "ok"), [(1, True), (15, True), (16, False)])
def test_interface_name_length(length: int, ok: bool) -> None:
    found = errors(edited(lambda data: data["network"].update(interface="e" * length)))
    assert (found == []) is ok, found


# --- every item is checked, not only those before the first that does not apply ----------------


def test_a_yamaha_peer_after_another_router_is_checked() -> None:
    def change(data: Data) -> None:
        data["bgp"]["localASN"] = 70_000
        peer = data["bgp"]["peers"][0]
        data["bgp"]["peers"] = [{**peer, "name": "tor", "address": "192.168.100.252", "router": "frr"}, peer]

    assert errors(edited(change)) == [
        "bgp.localASN: the cluster's AS 70000 is a 4-byte AS number; Yamaha RTX peer rtx1220 supports only 1-65535"
    ]


def test_macs_after_a_node_without_one_are_checked() -> None:
    def change(data: Data) -> None:
        data["nodes"][1]["mac"] = "52:54:00:00:00:01"
        data["nodes"][2]["mac"] = "52:54:00:00:00:01"

    assert errors(edited(change)) == ["nodes[2] (cp3).mac: MAC 52:54:00:00:00:01 is also the MAC of nodes[1] (cp2)"]


@pytest.mark.parametrize(
    ("asn", "multihop", "hint"),
    [(64512, None, ""), (64512, 2, ""), (65001, 2, ""), (65001, None, " and, being eBGP, ebgpMultihop")],
    ids=["iBGP", "iBGP-multihop", "eBGP-multihop", "eBGP"],
)
def test_a_peer_off_the_node_subnet_is_a_warning(asn: int, multihop: int | None, hint: str) -> None:
    def change(data: Data) -> None:
        frr_peer(data)
        data["bgp"]["peers"][0].update(address="10.0.0.1", asn=asn)
        if multihop:
            data["bgp"]["peers"][0]["ebgpMultihop"] = multihop

    assert findings(edited(change)) == (
        [],
        [f"bgp.peers[0].address: peer rtx1220 address 10.0.0.1 is outside network.subnet 192.168.100.0/24: every node needs a route to it{hint}"],
    )


# --- which of two nested pools is the wide one -----------------------------------------------


def two_pools(first: dict[str, str], second: dict[str, str]) -> Data:
    return edited(lambda data: data.update(loadBalancerPools=[
        {"name": "first", "cidr": "192.168.101.0/24", "serviceSelector": first},
        {"name": "second", "cidr": "192.168.102.0/24", "serviceSelector": second},
    ]))


@pytest.mark.parametrize(
    ("first", "second", "wide", "narrow"),
    [({"tier": "web"}, {"tier": "web", "zone": "dmz"}, "first", "second"), ({"tier": "web", "zone": "dmz"}, {"tier": "web"}, "second", "first")],
    ids=["wide-first", "wide-second"],
)
def test_nested_selectors_name_the_wide_pool_in_either_order(first: dict[str, str], second: dict[str, str], wide: str, narrow: str) -> None:
    assert errors(two_pools(first, second)) == [
        f"loadBalancerPools[1].serviceSelector: every Service pool {narrow} selects, pool {wide} selects too "
        f"(its labels are among {narrow}'s): Cilium would pick between them at random"
    ]


def test_equal_selectors_are_nested_both_ways() -> None:
    assert errors(two_pools({"tier": "web"}, {"tier": "web"})) == [
        "loadBalancerPools[1].serviceSelector: every Service pool second selects, pool first selects too "
        "(its labels are among second's): Cilium would pick between them at random"
    ]


@pytest.mark.parametrize(("length", "shown_as_is"), [(1, True), (64, True), (65, False)])
def test_a_key_is_shown_as_is_up_to_64_characters(length: int, shown_as_is: bool) -> None:
    key = "k" * length
    shown = rules.show_path(("nodes", 0, key))
    assert shown == (f"nodes[0].{key}" if shown_as_is else f"nodes[0].{'k' * 64!r}... (65 characters)")
