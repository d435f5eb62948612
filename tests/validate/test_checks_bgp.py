"""The static BGP checks: the rendered Cilium objects against each router's file, with
no network. Clean repositories pass; each breakage fails naming the file and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import repo
from generator.render import layout
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
         "CiliumBGPAdvertisement load-balancer-ips (advertise=bgp-typo) is selected by no CiliumBGPPeerConfig family"),
        ("reference", layout.CILIUM_BGP, "      selector:\n        matchExpressions:\n          - key: somekey\n            operator: NotIn\n            values:\n              - never-used-value\n", "",
         layout.CILIUM_BGP, "advertisements[0] announces Services but has no selector"),
        # Who peers with whom.
        ("variant", TOR_A, " neighbor 198.51.100.31 peer-group CILIUM\n", "", TOR_A, "node w1 (198.51.100.31) peers with this router"),
        ("reference", layout.CILIUM_BGP, "    matchLabels:\n      kubernetes.io/os: linux", "    matchLabels:\n      node-role.kubernetes.io/control-plane: ''",
         RTX, "neighbor 192.168.100.34 (worker1) is here, but infrastructure/configs/cilium-bgp.yaml does not make it peer"),
        ("reference", layout.CILIUM_BGP, "peerAddress: 192.168.100.1", "peerAddress: 192.168.100.9", RTX, "selects no node to peer with 192.168.100.1"),
        # AS numbers, timers, passwords, multihop.
        ("reference", layout.CILIUM_BGP, "peerASN: 64513", "peerASN: 64514", RTX, "the router's AS is 64513 here, peerASN 64514"),
        ("reference", RTX, "bgp neighbor 4 64512", "bgp neighbor 4 64999", RTX, "neighbor 192.168.100.34 has AS 64999 here, localASN 64512"),
        ("variant", layout.CILIUM_BGP, "holdTimeSeconds: 9\n", "holdTimeSeconds: 30\n", TOR_A, "hold time 9 s here, holdTimeSeconds 30"),
        ("variant", RS1, "keepalive time 3;", "keepalive time 30;", RS1, "keepalive 30 s here, keepAliveTimeSeconds 3"),
        ("variant", layout.CILIUM_BGP, "  authSecretRef: bgp-tor-a\n", "", TOR_A, "TCP-MD5 password: bgpPasswords.bgp-tor-a here, authSecretRef none"),
        ("ebgp", EDGE, "  multihop 2;\n", "", EDGE, "172.16.20.1 is off the node subnet but this file sets no eBGP multihop"),
        ("ebgp", EDGE, "local 172.16.20.1 as 65002;", "local 172.16.20.2 as 65002;", EDGE, "the router's address is 172.16.20.2 here, peerAddress 172.16.20.1"),
    ],
)
def test_a_disagreement_fails_naming_the_file(
    request: pytest.FixtureRequest, tmp_path: Path, fixture: str, path: str, old: str, new: str, failed_file: str, says: str
) -> None:
    root = copy(request.getfixturevalue(fixture), tmp_path)
    edit(root, path, old, new)
    failed = failures(run(root, bgp.jobs))
    assert failed_file in failed, failed
    assert says in failed[failed_file]


def test_no_bgp_no_jobs(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "generator" / "data" / "cluster.example.yaml").read_text()
    start, end = text.index("\nbgp:\n") + 1, text.index("\nloadBalancerPools:\n") + 1
    root = tmp_path / "lab"
    repo.new(root, text[:start] + text[end:])
    assert run(root, bgp.jobs) == []
