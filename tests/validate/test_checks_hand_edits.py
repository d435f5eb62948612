"""Hand edits the consistency, router and network-config checks must catch: each
one breaks a rendered repository in one place that no parser would object to,
and the check must name that file and say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.validate.checks import cloudinit, consistency, routers
from support import copy, edit

from . import failures, run

RTX = "routers/rtx1220/rtx.txt"
TOR_A = "routers/tor-a/frr.conf"
RS1 = "routers/rs1/bird.conf"
KEEPALIVED = "loadbalancers/haproxy1/keepalived.conf"


def broken(request: pytest.FixtureRequest, tmp_path: Path, fixture: str, path: str, old: str, new: str) -> Path:
    root = copy(request.getfixturevalue(fixture), tmp_path)
    edit(root, path, old, new)
    return root


@pytest.mark.parametrize(
    ("fixture", "path", "old", "new", "says"),
    [
        ("reference", RTX, "include 192.168.101.0/24", "include 192.168.101.0/24 10.0.0.0/8", "accepts 10.0.0.0/8, which the cluster does not announce"),
        ("variant", TOR_A, "ip prefix-list CILIUM-IN seq 30", "ip prefix-list CILIUM-IN seq 40 permit 0.0.0.0/0 le 32\nip prefix-list CILIUM-IN seq 30", "accepts 0.0.0.0/0, which the cluster does not announce"),
        ("variant", RS1, "10.32.0.0/16+ ];", "10.32.0.0/16+, 192.0.2.0/24+ ];", "accepts 192.0.2.0/24, which the cluster does not announce"),
    ],
    ids=["rtx", "frr", "bird"],
)
def test_a_router_accepting_more_than_the_cluster_announces(request: pytest.FixtureRequest, tmp_path: Path, fixture: str, path: str, old: str, new: str, says: str) -> None:
    failed = failures(run(broken(request, tmp_path, fixture, path, old, new), consistency.bgp_jobs))
    assert failed == {path: says}


@pytest.mark.parametrize(
    ("fixture", "path", "old", "new", "address"),
    [
        ("reference", RTX, "bgp export filter", "bgp neighbor 7 64512 192.168.100.200 hold-time=90 passive=on\nbgp export filter", "192.168.100.200"),
        ("variant", TOR_A, " neighbor 198.51.100.33 peer-group CILIUM\n", " neighbor 198.51.100.33 peer-group CILIUM\n neighbor 198.51.100.99 peer-group CILIUM\n", "198.51.100.99"),
        ("variant", TOR_A, " neighbor CILIUM passive\n", " neighbor CILIUM passive\n neighbor 198.51.100.98 remote-as 65010\n", "198.51.100.98"),
        ("variant", RS1, "  neighbor 198.51.100.33 as 65010;", "  neighbor 198.51.100.33 as 65010;\n}\nprotocol bgp extra from cilium {\n  neighbor 198.51.100.97 as 65010;", "198.51.100.97"),
    ],
    ids=["rtx", "frr-peer-group", "frr-remote-as", "bird"],
)
def test_a_router_neighbor_that_is_no_node(request: pytest.FixtureRequest, tmp_path: Path, fixture: str, path: str, old: str, new: str, address: str) -> None:
    failed = failures(run(broken(request, tmp_path, fixture, path, old, new), consistency.bgp_jobs))
    assert failed == {path: f"neighbor {address} is not a Kubernetes node's IP"}


def test_keepalived_with_an_extra_vip(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    edit(root, KEEPALIVED, "192.168.100.4/24 dev ens160\n", "192.168.100.4/24 dev ens160\n        192.168.100.5/24 dev ens160\n")
    failed = failures(run(root, lambda ctx: [consistency.vip_job(ctx)]))
    assert failed == {KEEPALIVED: "virtual_ipaddress is ['192.168.100.4', '192.168.100.5'], apiServer.vip is 192.168.100.4"}


@pytest.mark.parametrize("name", consistency.SEED_FILES)
def test_a_missing_seed_file(reference: Path, tmp_path: Path, name: str) -> None:
    root = copy(reference, tmp_path)
    (root / "nodes/cp2" / name).unlink()
    failed = failures(run(root, lambda ctx: [consistency.seeds_job(ctx)]))
    assert failed == {"nodes/cp2": f"node cp2 has no seed file {name}"}


@pytest.mark.parametrize("value", ["off", "of"])
def test_rtx_with_bgp_switched_off(reference: Path, tmp_path: Path, value: str) -> None:
    root = copy(reference, tmp_path)
    edit(root, RTX, "\nbgp use on\n", f"\nbgp use {value}\n")
    failed = failures(run(root, routers.rtx_jobs))
    typo = ["line 24: 'of' is neither on nor off"] if value == "of" else []
    assert failed == {RTX: "\n".join([*typo, "no `bgp use on`: BGP stays off"])}


@pytest.mark.parametrize(("mtu", "says"), [("9000", "mtu is 9000, network.mtu is 1500"), ("1500", None)])
def test_an_mtu_in_network_config(reference: Path, tmp_path: Path, mtu: str, says: str | None) -> None:
    """The inventory's MTU is the default (1500): a seed that sets another one disagrees with it; one that spells out 1500 agrees."""
    root = copy(reference, tmp_path)
    path = "nodes/cp1/network-config"
    edit(root, path, "    dhcp4: false\n", f"    dhcp4: false\n    mtu: {mtu}\n")
    failed = failures(run(root, cloudinit.network_jobs))
    assert failed == ({path: f"ethernets.ens160: {says}"} if says else {})
