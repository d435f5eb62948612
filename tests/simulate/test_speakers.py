"""The speaker plan: the rendered Cilium objects translated as Cilium's agent would
configure GoBGP, and a wrong rendering shows up in it."""

from __future__ import annotations

import shutil
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from generator import repo
from generator.render import layout
from generator.simulate import bgp, speakers, twin
from generator.simulate.speakers import selects
from support import edit


def plan_of(root: Path) -> speakers.SpeakerPlan:
    return speakers.plan(twin.Sources(root, twin.build(repo.load(root).inventory)))


@pytest.fixture
def broken(reference: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "lab"
    shutil.copytree(reference, dest)
    return dest


def test_label_selectors() -> None:
    labels = {"kubernetes.io/os": "linux", "zone": "dmz"}
    assert selects({}, labels) and not selects(None, labels)
    assert selects({"matchLabels": {"zone": "dmz"}}, labels)
    assert not selects({"matchLabels": {"zone": "lan"}}, labels)
    always = {"matchExpressions": [{"key": "somekey", "operator": "NotIn", "values": ["never-used-value"]}]}
    assert selects(always, labels) and selects(always, {})
    assert selects({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["dmz", "lan"]}]}, labels)
    assert not selects({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, labels)
    assert selects({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}, {"key": "zone", "operator": "Exists"}]}, labels)
    assert not selects({"matchExpressions": [{"key": "zone", "operator": "Gt", "values": ["1"]}]}, labels)


def test_reference_plan(reference: Path) -> None:
    plan = plan_of(reference)
    assert plan.problems == []
    assert [s.node.name for s in plan.speakers] == ["cp1", "cp2", "cp3", "worker1", "worker2", "worker3"]
    session = plan.speakers[0].sessions[0]
    assert (session.peer, session.address, session.peer_asn, plan.speakers[0].local_asn) == ("rtx1220", IPv4Address("192.0.2.1"), 64513, 64512)
    assert (session.hold, session.keepalive, session.connect_retry, session.graceful_restart) == (90, 30, 120, 120)
    assert session.prefixes == (IPv4Network("192.168.101.1/32"),) and session.password_ref is None and session.multihop is None
    assert plan.pod_cidrs["cp1"] == IPv4Network("10.244.0.0/24") and plan.pod_cidrs["worker3"] == IPv4Network("10.244.5.0/24")


def test_ebgp_plan(ebgp: Path) -> None:
    plan = plan_of(ebgp)
    assert plan.problems == []
    w2 = next(s for s in plan.speakers if s.node.name == "w2")
    tor, edge = sorted(w2.sessions, key=lambda s: s.peer != "tor")
    assert (tor.peer_asn, tor.multihop, tor.password_ref) == (65001, None, None)
    assert (edge.peer_asn, edge.multihop, edge.password_ref) == (65002, 2, "bgp-edge")
    assert (edge.hold, edge.keepalive, edge.connect_retry) == (9, 3, 5)
    # The dmz pool's sample Service carries its label; the PodCIDR comes from the cluster pool.
    assert {s.pool: dict(s.labels) for s in plan.samples} == {"public": {}, "dmz": {"zone": "dmz"}}
    assert set(edge.prefixes) == {IPv4Network("10.50.0.1/32"), IPv4Network("10.50.1.1/32"), IPv4Network("10.40.4.0/24")}


def test_the_plan_comes_from_the_rendered_files(broken: Path) -> None:
    edit(broken, layout.CILIUM_BGP, "peerASN: 64513", "peerASN: 64514")
    edit(broken, layout.CILIUM_BGP, "holdTimeSeconds: 90", "holdTimeSeconds: 30")
    session = plan_of(broken).speakers[0].sessions[0]
    assert (session.peer_asn, session.hold) == (64514, 30)


def test_advertisement_labels_matching_no_peer_config_announce_nothing(broken: Path) -> None:
    edit(broken, layout.CILIUM_BGP, "  labels:\n    advertise: bgp", "  labels:\n    advertise: bgp-typo")
    assert all(s.prefixes == () for sp in plan_of(broken).speakers for s in sp.sessions)


def test_plan_problems_name_the_file(broken: Path) -> None:
    edit(broken, layout.CILIUM_BGP, "peerConfigRef:\n            name: rtx1220", "peerConfigRef:\n            name: rtx")
    assert plan_of(broken).problems == [f"{layout.CILIUM_BGP}: peer rtx1220: peerConfigRef 'rtx' names no CiliumBGPPeerConfig (Cilium then uses defaults and announces nothing)"] * 6
    edit(broken, layout.CILIUM_VALUES, "bgpControlPlane:\n  enabled: true", "bgpControlPlane:\n  enabled: false")
    plan = plan_of(broken)
    assert plan.speakers == [] and plan.problems == [f"{layout.CILIUM_VALUES}: bgpControlPlane.enabled is not true: no Cilium agent runs a BGP speaker"]


def test_gobgpd_config_sets_passwords_and_multihop_only_where_cilium_would(ebgp: Path) -> None:
    plan = plan_of(ebgp)
    speaker = plan.speakers[0]
    config = bgp.gobgpd_config(speaker, {"bgp-edge": "secret-from-the-file"}, None, [])
    neighbors = {n["config"]["neighbor-address"]: n for n in config["neighbors"]}
    tor, edge = neighbors["192.0.2.1"], neighbors["198.51.100.2"]
    assert "auth-password" not in tor["config"] and "ebgp-multihop" not in tor
    assert edge["config"]["auth-password"] == "secret-from-the-file"
    assert edge["ebgp-multihop"] == {"config": {"enabled": True, "multihop-ttl": 2}}
    assert config["global"]["config"]["port"] == -1  # Cilium's speaker dials, never listens
    wrong = bgp.gobgpd_config(speaker, {"bgp-edge": "secret-from-the-file"}, "wrong", [])
    assert {n["config"].get("auth-password") for n in wrong["neighbors"]} == {None, "wrong"}
    exported = {s["prefix-set-name"]: [p["ip-prefix"] for p in s["prefix-list"]] for s in config["defined-sets"]["prefix-sets"]}
    assert sorted(exported["to-1"]) == ["10.40.0.0/24", "10.50.0.1/32", "10.50.1.1/32"]

