"""Which side of a BGP session each rendered value belongs to, and the NIC MTU.

A router file speaks from the router: its own AS is the peer's ASN and every
neighbor (a Kubernetes node) is in the cluster's AS, whether the session is
iBGP or eBGP. Multihop is an eBGP setting: an iBGP peer never gets it, even
when the inventory sets ebgpMultihop on it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from generator.loader import check_text
from generator.model import Inventory
from generator.render import cilium, cloudinit, routers

EXAMPLE = Path("generator/data/cluster.example.yaml")
CLUSTER_AS, ROUTER_AS = 64512, 65020


def inventory(*changes: tuple[str, str]) -> Inventory:
    text = EXAMPLE.read_text()
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return check_text(text).inventory


def one_peer(router: str, asn: int, *, multihop: int | None = None, address: str = "192.168.100.1") -> Inventory:
    """The example with its one peer as `router`, in AS `asn` (64512 is the cluster's: iBGP)."""
    extra = f"\n      ebgpMultihop: {multihop}" if multihop else ""
    return inventory(
        ("      asn: 64513               # eBGP: the router's own private AS (RTX documents no iBGP)", f"      asn: {asn}{extra}"),
        ("      router: yamaha-rtx ", f"      router: {router} "),
        ("      address: 192.168.100.1\n", f"      address: {address}\n"),
    )


def router_text(inv: Inventory) -> str:
    (text,) = routers.render(inv).values()
    return text


def peer_spec(inv: Inventory) -> dict:
    (config,) = [d for d in cilium.bgp_resources(inv) if d["kind"] == "CiliumBGPPeerConfig"]
    return config["spec"]


# --- multihop is eBGP only ---------------------------------------------------------


@pytest.mark.parametrize("router", ["frr", "bird", "yamaha-rtx"])
def test_an_ibgp_peer_never_gets_multihop(router: str) -> None:
    address = "10.0.0.1"  # off the node subnet, where an eBGP peer would need it
    ibgp = one_peer(router, CLUSTER_AS, multihop=3, address=address)
    ebgp = one_peer(router, ROUTER_AS, multihop=3, address=address)
    assert "ebgpMultihop" not in peer_spec(ibgp)
    assert peer_spec(ebgp)["ebgpMultihop"] == 3
    ibgp_text, ebgp_text = router_text(ibgp), router_text(ebgp)
    if router == "frr":
        assert "ebgp-multihop" not in ibgp_text and " neighbor CILIUM ebgp-multihop 3\n" in ebgp_text
    elif router == "bird":
        assert "\n  multihop;\n" in ibgp_text and "multihop 3;" not in ibgp_text
        assert "\n  multihop 3;\n" in ebgp_text
    else:
        note = "#   RTX has no multihop setting: give each neighbor `gateway=` if the nodes are not on its segment."
        assert note not in ibgp_text.splitlines() and note in ebgp_text.splitlines()


def test_an_ebgp_peer_without_multihop_gets_none() -> None:
    inv = one_peer("frr", ROUTER_AS)
    assert "ebgpMultihop" not in peer_spec(inv)
    assert "ebgp-multihop" not in router_text(inv)


# --- the router side: its own AS, the cluster's AS for every neighbor -----------------


@pytest.mark.parametrize("asn", [CLUSTER_AS, ROUTER_AS], ids=["iBGP", "eBGP"])
def test_rtx_sides(asn: int) -> None:
    inv = one_peer("yamaha-rtx", asn)
    lines = [line for line in router_text(inv).splitlines() if not line.startswith("#")]
    assert f"bgp autonomous-system {asn}" in lines
    neighbors = [line.split() for line in lines if line.startswith("bgp neighbor ")]
    assert len(neighbors) == len(inv.kubernetes_nodes) and {n[3] for n in neighbors} == {str(CLUSTER_AS)}
    # `bgp export AS filter N` installs what is received from AS: the cluster's, not the router's own.
    assert [line for line in lines if line.startswith("bgp export ") and "include" not in line] == [f"bgp export {CLUSTER_AS} filter 1"]


@pytest.mark.parametrize("asn", [CLUSTER_AS, ROUTER_AS], ids=["iBGP", "eBGP"])
def test_bird_sides(asn: int) -> None:
    inv = one_peer("bird", asn)
    text = router_text(inv)
    assert f"  local 192.168.100.1 as {asn};\n" in text
    neighbors = re.findall(r"^  neighbor (\S+) as (\d+);$", text, re.M)
    assert neighbors == [(str(node.ip), str(CLUSTER_AS)) for node in inv.kubernetes_nodes]


@pytest.mark.parametrize("asn", [CLUSTER_AS, ROUTER_AS], ids=["iBGP", "eBGP"])
def test_frr_sides(asn: int) -> None:
    inv = one_peer("frr", asn)
    text = router_text(inv)
    assert f"\nrouter bgp {asn}\n" in text
    remote = "internal" if asn == CLUSTER_AS else str(CLUSTER_AS)
    assert f"\n neighbor CILIUM remote-as {remote}\n" in text


def test_cilium_side() -> None:
    inv = one_peer("frr", ROUTER_AS)
    (cluster,) = [d for d in cilium.bgp_resources(inv) if d["kind"] == "CiliumBGPClusterConfig"]
    (instance,) = cluster["spec"]["bgpInstances"]
    assert instance["localASN"] == CLUSTER_AS
    assert [p["peerASN"] for p in instance["peers"]] == [ROUTER_AS]


# --- the NIC MTU -----------------------------------------------------------------------


@pytest.mark.parametrize(("mtu", "rendered"), [(1280, 1280), (1499, 1499), (1500, None), (1501, 1501), (9216, 9216)])
def test_any_mtu_but_the_default_is_written(mtu: int, rendered: int | None) -> None:
    inv = inventory(("  interface: ens160 ", f"  mtu: {mtu}\n  interface: ens160 "))
    nic = YAML(typ="safe").load(cloudinit.render(inv)["nodes/cp1/network-config"])["ethernets"]["ens160"]
    assert nic.get("mtu") == rendered
