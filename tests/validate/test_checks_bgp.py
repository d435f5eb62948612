"""The static BGP checks: the rendered Cilium objects against each router's file, with
no network. Clean repositories pass; each breakage fails naming the file and why."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from generator import loader, repo
from generator.render import layout
from generator.validate.base import Context, Result
from generator.validate.checks import bgp
from support import copy, edit

from . import failures, run

DATA = Path(__file__).parents[1] / "data"
RTX = "routers/rtx1220/rtx.txt"
TOR_A = "routers/tor-a/frr.conf"
RS1 = "routers/rs1/bird.conf"
EDGE = "routers/edge/bird.conf"


@pytest.fixture(scope="module")
def ebgp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ebgp") / "rack"
    repo.new(path, (DATA / "ebgp.yaml").read_text())
    return path


def test_clean_repositories_pass(reference: Path, variant: Path, ebgp: Path) -> None:
    for root in (reference, variant, ebgp):
        results = run(root, bgp.jobs)
        assert {r.check for r in results} == {bgp.ADVERTISEMENTS, bgp.SESSIONS}
        assert failures(results) == {}, root
    assert sorted(r.file for r in run(variant, bgp.jobs)) == [layout.CILIUM_BGP, "routers/rs1/bird.conf", TOR_A, "routers/tor-b/frr.conf"]


@pytest.mark.parametrize(
    ("fixture", "path", "old", "new", "failed_file", "says"),
    [
        # The cluster side: advertisements nobody selects, a Service advertisement selecting nothing.
        ("reference", layout.CILIUM_BGP, "  labels:\n    advertise: bgp", "  labels:\n    advertise: bgp-typo", layout.CILIUM_BGP,
         "CiliumBGPAdvertisement load-balancer-ips (advertise=bgp-typo) is selected by no CiliumBGPPeerConfig family: it announces nothing"),
        ("reference", layout.CILIUM_BGP, "      selector:\n        matchExpressions:\n          - key: somekey\n            operator: NotIn\n            values:\n              - never-used-value\n", "",
         layout.CILIUM_BGP, "CiliumBGPAdvertisement load-balancer-ips advertisements[0] announces Services but has no selector: Cilium then announces none"),
        # Who peers with whom.
        ("variant", TOR_A, " neighbor 198.51.100.31 peer-group CILIUM\n", "", TOR_A, "node w1 (198.51.100.31) peers with this router in infrastructure/configs/cilium-bgp.yaml, but is not a neighbor here"),
        ("reference", layout.CILIUM_BGP, "    matchLabels:\n      kubernetes.io/os: linux", "    matchLabels:\n      node-role.kubernetes.io/control-plane: ''",
         RTX, "\n".join(f"neighbor 192.168.100.{n} (worker{w}) is here, but infrastructure/configs/cilium-bgp.yaml does not make it peer with this router" for w, n in ((1, 34), (2, 66), (3, 98)))),
        ("reference", layout.CILIUM_BGP, "peerAddress: 192.168.100.1", "peerAddress: 192.168.100.9", RTX, "infrastructure/configs/cilium-bgp.yaml selects no node to peer with 192.168.100.1, which this file configures"),
        # AS numbers, timers, passwords, multihop.
        ("reference", layout.CILIUM_BGP, "peerASN: 64513", "peerASN: 64514", RTX, "the router's AS is 64513 here, peerASN 64514 in infrastructure/configs/cilium-bgp.yaml"),
        ("reference", RTX, "bgp neighbor 4 64512", "bgp neighbor 4 64999", RTX, "neighbor 192.168.100.34 has AS 64999 here, localASN 64512 in infrastructure/configs/cilium-bgp.yaml"),
        ("variant", layout.CILIUM_BGP, "holdTimeSeconds: 9\n", "holdTimeSeconds: 30\n", TOR_A, "hold time 9 s here, holdTimeSeconds 30 in infrastructure/configs/cilium-bgp.yaml"),
        ("variant", RS1, "keepalive time 3;", "keepalive time 30;", RS1, "keepalive 30 s here, keepAliveTimeSeconds 3 in infrastructure/configs/cilium-bgp.yaml"),
        ("variant", layout.CILIUM_BGP, "  authSecretRef: bgp-tor-a\n", "", TOR_A, "TCP-MD5 password: bgpPasswords.bgp-tor-a here, authSecretRef none in infrastructure/configs/cilium-bgp.yaml"),
        ("ebgp", EDGE, "  multihop 2;\n", "", EDGE, "172.16.20.1 is off the node subnet but this file sets no eBGP multihop"),
        ("ebgp", EDGE, "local 172.16.20.1 as 65002;", "local 172.16.20.2 as 65002;", EDGE, "the router's address is 172.16.20.2 here, peerAddress 172.16.20.1 in infrastructure/configs/cilium-bgp.yaml"),
    ],
)
def test_a_disagreement_fails_naming_the_file(
    request: pytest.FixtureRequest, tmp_path: Path, fixture: str, path: str, old: str, new: str, failed_file: str, says: str
) -> None:
    root = copy(request.getfixturevalue(fixture), tmp_path)
    edit(root, path, old, new)
    results = run(root, bgp.jobs)
    assert failures(results) == {failed_file: says}
    assert next(r.hint for r in results if not r.ok) == bgp.FIX


def test_no_bgp_no_jobs(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "generator" / "data" / "cluster.example.yaml").read_text()
    start, end = text.index("\nbgp:\n") + 1, text.index("\nloadBalancerPools:\n") + 1
    root = tmp_path / "lab"
    repo.new(root, text[:start] + text[end:])
    assert run(root, bgp.jobs) == []


# --- multihop on both sides, odd router files, jobs and results whole ------------------------------


@pytest.fixture(scope="module")
def ebgp_frr_off_subnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ebgp-frr") / "rack"
    peer = "{name: tor, address: 172.16.10.1, asn: 65001, router: frr}"
    text = (DATA / "ebgp.yaml").read_text()
    assert peer in text
    repo.new(path, text.replace(peer, "{name: tor, address: 172.16.30.1, asn: 65001, router: frr, ebgpMultihop: 3}"))
    return path


TOR = "routers/tor/frr.conf"
B = layout.CILIUM_BGP


@pytest.mark.parametrize(
    ("path", "old", "new", "expected"),
    [
        (TOR, " neighbor CILIUM ebgp-multihop 3\n", "", {TOR: "172.16.30.1 is off the node subnet but this file sets no eBGP multihop"}),
        (B, "  ebgpMultihop: 3\n", "", {TOR: f"172.16.30.1 is off the node subnet but its peer config in {B} sets no ebgpMultihop above 1"}),
        (B, "  ebgpMultihop: 3\n", "  ebgpMultihop: 1\n", {TOR: f"172.16.30.1 is off the node subnet but its peer config in {B} sets no ebgpMultihop above 1"}),
        (TOR, " bgp router-id 172.16.30.1", " bgp router-id 172.16.30.999", {}),  # not an address: the FRR check's business
        (TOR, " neighbor CILIUM timers 3 9\n", "", {}),  # unset: negotiated down to the other side's
    ],
)
def test_an_frr_router_off_the_node_subnet(ebgp_frr_off_subnet: Path, tmp_path: Path, path: str, old: str, new: str, expected: dict[str, str]) -> None:
    root = copy(ebgp_frr_off_subnet, tmp_path)
    edit(root, path, old, new)
    assert failures(run(root, bgp.jobs)) == expected


def test_rtx_hold_time_and_router_id(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    edit(root, RTX, "bgp neighbor 1 64512 192.168.100.11 hold-time=90", "bgp neighbor 1 64512 192.168.100.11 hold-time=30")
    edit(root, RTX, "bgp router id 192.168.100.1", "bgp router id 192.168.100.2")
    assert failures(run(root, bgp.jobs)) == {RTX: f"the router's address is 192.168.100.2 here, peerAddress 192.168.100.1 in {B}\nhold time 30 s here, holdTimeSeconds 90 in {B}"}


def test_bird_hold_time(variant: Path, tmp_path: Path) -> None:
    root = copy(variant, tmp_path)
    edit(root, RS1, "hold time 9;", "hold time 12;")
    assert failures(run(root, bgp.jobs)) == {RS1: f"hold time 12 s here, holdTimeSeconds 9 in {B}"}


def test_a_missing_router_file_and_cilium_file(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / RTX).unlink()
    (root / B).unlink()
    results = run(root, bgp.jobs)
    assert results == [
        Result(bgp.ADVERTISEMENTS, B, False, f"{B} is missing: cluster.yaml has bgp, so Cilium needs its BGP objects", bgp.FIX),
        Result(bgp.SESSIONS, RTX, False, "missing: bgp.peers[rtx1220] needs its router configuration here", bgp.FIX),
    ]


def test_the_jobs_read_the_cluster_side_and_the_router_file(reference: Path) -> None:
    ctx = Context(reference, loader.check_file(reference / layout.INVENTORY).inventory, reference.parent / "cache")
    cluster_side = (layout.INVENTORY, B, layout.LB_IPPOOLS, layout.CILIUM_VALUES, "kubeadm/cp1-init.yaml")
    advertisements, session = bgp.jobs(ctx)
    assert (advertisements.check, advertisements.inputs, advertisements.extra_key) == (bgp.ADVERTISEMENTS, cluster_side, "")
    assert (session.check, session.inputs, session.extra_key) == (bgp.SESSIONS, (*cluster_side, RTX), "")
    assert advertisements.run() == [Result(bgp.ADVERTISEMENTS, B, True)]
    assert session.run() == [Result(bgp.SESSIONS, RTX, True)]


def test_a_cilium_file_that_is_not_yaml_has_no_advertisements(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / B).write_text("a: [\n")
    [advertisements] = [r for r in run(root, bgp.jobs) if r.check == bgp.ADVERTISEMENTS]
    assert advertisements == Result(bgp.ADVERTISEMENTS, B, True)  # the YAML checks report it


def test_router_addresses() -> None:
    assert bgp._router_address("frr", "router bgp 1\n bgp router-id 10.0.0.1\n") == IPv4Address("10.0.0.1")
    assert bgp._router_address("bird", "  local 10.0.0.2 as 65000;\n") == IPv4Address("10.0.0.2")
    assert bgp._router_address("yamaha-rtx", "bgp router id 10.0.0.3\n") == IPv4Address("10.0.0.3")
    assert bgp._router_address("yamaha-rtx", " bgp router id 10.0.0.3\n") is None  # RTX commands start the line
    assert bgp._router_address("frr", " bgp router-id 10.0.0.300\n") is None


def test_without_the_cilium_file_no_node_peers(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / B).unlink()
    [_, sessions] = run(root, bgp.jobs)
    assert sessions == Result(bgp.SESSIONS, RTX, False, "\n".join([
        f"{B} is missing",
        f"{B}: no CiliumBGPClusterConfig: no node speaks BGP",
        f"{B} selects no node to peer with 192.168.100.1, which this file configures",
    ]), bgp.FIX)


def test_a_router_without_the_password_the_cluster_uses(ebgp: Path, tmp_path: Path) -> None:
    root = copy(ebgp, tmp_path)
    edit(root, EDGE, "#   TCP-MD5 password: the cluster uses bgpPasswords.bgp-edge from .clusterforge/secrets.yaml\n", "")
    assert failures(run(root, bgp.jobs)) == {EDGE: f"TCP-MD5 password: none here, authSecretRef bgp-edge in {B}"}


def test_advertisement_labels_and_several_problems(variant: Path, tmp_path: Path) -> None:
    root = copy(variant, tmp_path)
    edit(root, B, "  name: load-balancer-ips\n  labels:\n    advertise: bgp\n", "  name: load-balancer-ips\n  labels:\n    advertise: nobody\n    team: net\n")
    edit(root, B, "  name: pod-cidrs\n  labels:\n    advertise: bgp\n", "  name: pod-cidrs\n")
    assert failures(run(root, bgp.jobs)) == {B: "\n".join([
        "CiliumBGPAdvertisement load-balancer-ips (advertise=nobody, team=net) is selected by no CiliumBGPPeerConfig family: it announces nothing",
        "CiliumBGPAdvertisement pod-cidrs (no labels) is selected by no CiliumBGPPeerConfig family: it announces nothing",
    ])}


def test_timers_left_out_of_a_router_file_are_negotiated(variant: Path, reference: Path, tmp_path: Path) -> None:
    """An unset side takes the other's hold time: nothing to compare."""
    root = copy(variant, tmp_path / "variant")
    edit(root, RS1, "  hold time 9;\n", "")
    edit(root, RS1, "  keepalive time 3;\n", "")
    assert failures(run(root, bgp.jobs)) == {}
    root = copy(reference, tmp_path / "reference")
    (root / RTX).write_text((root / RTX).read_text().replace(" hold-time=90", ""))
    assert failures(run(root, bgp.jobs)) == {}


def test_a_neighbor_that_is_no_node(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    edit(root, RTX, "bgp export filter 1", "bgp neighbor 7 64512 192.168.100.200 hold-time=90 passive=on\nbgp export filter 1")
    assert failures(run(root, bgp.jobs)) == {RTX: f"neighbor 192.168.100.200 is here, but {B} does not make it peer with this router"}
