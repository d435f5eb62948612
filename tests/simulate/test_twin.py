"""The twin: addresses moved into the documentation ranges, rendered by the project's
own renderers, and the repository's files simulated as they are when edited."""

from __future__ import annotations

import shutil
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from generator import loader
from generator.render import layout, tree
from generator.simulate import twin
from generator.simulate.twin import CannotSimulate, DOCUMENTATION_RANGES, Sources

TESTS = Path(__file__).parents[1]
EXAMPLE = TESTS.parent / "generator" / "data" / "cluster.example.yaml"
CASES = {"reference": EXAMPLE, "ebgp": TESTS / "data" / "ebgp.yaml", "variant": TESTS / "data" / "variant.yaml", "full": TESTS / "data" / "full.yaml"}
# What the simulation runs: the files whose translation must equal the twin's rendering.
SIMULATED = ("loadbalancers/", "routers/", layout.CILIUM_BGP, layout.LB_IPPOOLS, layout.CILIUM_VALUES, "kubeadm/")


def inventory(case: str):  # type: ignore[no-untyped-def]
    return loader.check_file(CASES[case]).inventory


def test_reference_keeps_host_offsets_and_names_every_owner() -> None:
    t = twin.build(inventory("reference"))
    by_real = {str(m.real): (str(m.sim), m.owner) for m in t.addresses if m.real}
    assert by_real["192.168.100.1"] == ("192.0.2.1", "gateway, BGP peer rtx1220, DNS server")
    assert by_real["192.168.100.4"] == ("192.0.2.4", "API VIP")
    assert by_real["192.168.100.98"] == ("192.0.2.98", "worker worker3")
    assert t.node_subnet == IPv4Network("192.0.2.0/24") and t.peer_segment is None
    assert t.client == IPv4Address("192.0.2.254")
    assert t.inventory.load_balancer_pools == inventory("reference").load_balancer_pools  # announced only: kept


@pytest.mark.parametrize("case", list(CASES))
def test_every_simulated_address_is_in_the_documentation_ranges(case: str) -> None:
    t = twin.build(inventory(case))
    assert all(any(m.sim in r for r in DOCUMENTATION_RANGES) for m in t.addresses)
    inv = t.inventory
    carrying = [inv.network.gateway, inv.api_server.vip, *(n.ip for n in inv.nodes)]
    carrying += [p.address for p in inv.bgp.peers] if inv.bgp else []
    assert all(any(a in r for r in DOCUMENTATION_RANGES) for a in carrying)
    assert len({m.sim for m in t.addresses}) == len(t.addresses)


def test_an_off_subnet_peer_sits_behind_a_routed_hop() -> None:
    t = twin.build(inventory("ebgp"))
    assert t.peer_segment == IPv4Network("198.51.100.0/24")
    assert t.hop == IPv4Address("198.51.100.1")
    edge = next(m for m in t.addresses if m.real == IPv4Address("172.16.20.1"))
    assert edge.sim == IPv4Address("198.51.100.2")  # offset 1 is the hop's
    assert t.off_subnet_peers() == ["edge"]


@pytest.mark.parametrize("case", list(CASES))
def test_translating_the_rendering_gives_the_twins_rendering(case: str) -> None:
    """The two ways a file is simulated agree: an edited file's translated text is what
    the twin's rendering would be had it not been edited."""
    t = twin.build(inventory(case))
    real, sim = tree.render(t.real), tree.render(t.inventory)
    for path in real:
        if path.startswith(SIMULATED):
            assert t.translate_text(real[path]) == sim[path], path


def test_pools_in_every_documentation_range_cannot_be_simulated() -> None:
    text = EXAMPLE.read_text().replace("cidr: 192.168.101.0/24     # routed", "cidr: 192.0.2.0/24     # routed")
    text = text.replace("podCIDR: 10.244.0.0/16", "podCIDR: 198.51.100.0/24").replace("serviceCIDR: 10.96.0.0/12", "serviceCIDR: 203.0.113.0/24")
    with pytest.raises(CannotSimulate, match=r"LB pool default 192\.0\.2\.0/24"):
        twin.build(loader.check_text(text).inventory)


def test_sources_use_the_twin_unless_a_file_was_edited(tmp_path: Path) -> None:
    from generator import repo

    root = tmp_path / "lab"
    repo.new(root, EXAMPLE.read_text())
    t = twin.build(inventory("reference"))
    keepalived = "loadbalancers/haproxy1/keepalived.conf"
    text = (root / keepalived).read_text()
    (root / keepalived).write_text(text.replace("unicast_peer {\n        192.168.100.3", "unicast_peer {\n        192.168.100.9"))
    sources = Sources(root, t)
    assert not sources.get("loadbalancers/haproxy2/keepalived.conf").edited
    edited = sources.get(keepalived)
    assert edited.edited and "192.0.2.9" in edited.text and "192.168.100" not in edited.text
    assert sources.edited() == [keepalived]
    shutil.rmtree(root / "routers")
    with pytest.raises(CannotSimulate, match="routers/rtx1220/rtx.txt is missing"):
        sources.get("routers/rtx1220/rtx.txt")
