"""docs/topology.svg: well-formed SVG that shows every host, node, peer, pool and the
VIP, with one line per BGP session, and the same bytes for the same inventory."""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET

import pytest
from test_golden import CASES  # tests/ is on sys.path (pytest prepends it for test_golden.py)

from generator import loader
from generator.render import docs, layout, svg, tree

NS = {"svg": "http://www.w3.org/2000/svg"}


def parsed(case: str):
    inv = loader.check_text(CASES[case], "cluster.yaml").inventory
    return inv, ET.fromstring(svg.topology(inv))


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize("case", sorted(CASES))
def test_everything_of_the_inventory_is_drawn(case: str) -> None:
    inv, root = parsed(case)
    shown = "\n".join(texts(root))
    for node in inv.nodes:
        assert node.name in shown and str(node.ip) in shown
    for host in inv.hosts:
        assert host.name in shown
    for pool in inv.load_balancer_pools:
        assert str(pool.cidr) in shown
    assert inv.api_endpoint in shown
    peers = inv.bgp.peers if inv.bgp else []
    for peer in peers:
        assert f"{peer.address} AS {peer.asn}" in shown
    lines = root.findall(".//svg:g[@id='edges']/svg:line", NS)
    bgp = [line for line in lines if line.get("stroke") == svg.BGP_STROKE and "stroke-dasharray" not in line.attrib]
    assert len(bgp) == len(inv.kubernetes_nodes) * len(peers)
    vip = [line for line in lines if line.get("stroke") == svg.VIP_STROKE]
    assert len(vip) == len(inv.loadbalancers) + len(inv.control_planes)


@pytest.mark.parametrize("case", sorted(CASES))
def test_boxes_fit_the_canvas_and_nodes_sit_in_their_hosts(case: str) -> None:
    inv, root = parsed(case)
    width, height = int(root.get("width")), int(root.get("height"))
    rects = root.findall(".//svg:g[@id='boxes']/svg:rect", NS)
    for rect in rects:
        x, y, w, h = (int(rect.get(k)) for k in ("x", "y", "width", "height"))
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
    boxes = [tuple(int(r.get(k)) for k in ("x", "y", "width", "height")) for r in rects]
    assert len(set(boxes)) == len(boxes)


def test_deterministic_and_linked_from_the_readme() -> None:
    inv = loader.check_text(CASES["office-rack"], "cluster.yaml").inventory
    assert svg.topology(inv) == svg.topology(loader.check_text(CASES["office-rack"], "cluster.yaml").inventory)
    assert svg.topology(inv).startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert f"[{layout.TOPOLOGY_SVG}]({layout.TOPOLOGY_SVG})" in docs.readme(inv)
    assert layout.TOPOLOGY_SVG in tree.render(inv)


def test_without_bgp_and_pools() -> None:
    inv = loader.check_text(CASES["koedo-lab-flux"], "cluster.yaml").inventory.model_copy(update={"bgp": None, "load_balancer_pools": []})
    root = ET.fromstring(svg.topology(inv))
    assert not [line for line in root.iter("{http://www.w3.org/2000/svg}line") if line.get("stroke") == svg.BGP_STROKE]
    assert "BGP session" not in "\n".join(texts(root))


def widened(row: str, count: int):
    """The example with `count` BGP peers or LB pools, so that row is wider than the three hosts."""
    inv = loader.check_text(CASES["koedo-lab-flux"], "cluster.yaml").inventory
    assert inv.bgp is not None
    if row == "peers":
        peer = inv.bgp.peers[0]
        peers = [peer.model_copy(update={"name": f"router{i}", "address": ipaddress.IPv4Address(f"192.168.100.{200 + i}")}) for i in range(count)]
        return inv.model_copy(update={"bgp": inv.bgp.model_copy(update={"peers": peers})})
    pool = inv.load_balancer_pools[0]
    pools = [pool.model_copy(update={"name": f"pool{i}", "cidr": ipaddress.IPv4Network(f"192.168.{110 + i}.0/24")}) for i in range(count)]
    return inv.model_copy(update={"load_balancer_pools": pools})


@pytest.mark.parametrize(("row", "count"), [("hosts", 3), ("peers", 4), ("peers", 5), ("pools", 4), ("pools", 6)])
def test_the_widest_row_spans_the_canvas_between_the_margins(row: str, count: int) -> None:
    inv = loader.check_text(CASES["koedo-lab-flux"], "cluster.yaml").inventory if row == "hosts" else widened(row, count)
    root = ET.fromstring(svg.topology(inv))
    width = int(root.get("width"))
    group = root.find(".//svg:g[@id='boxes']", NS)
    # Every box is a rect followed by its text.
    boxes = [(int(r.get("x")), int(r.get("width")), "".join(t.itertext())) for r, t in zip(group.findall("svg:rect", NS), group.findall("svg:text", NS), strict=True)]
    if row == "hosts":
        shown = [(x, w) for x, w, _ in boxes if w == svg.HOST_W]
    else:
        shown = [(x, w) for x, w, text in boxes if (" AS " if row == "peers" else "LB pool ") in text]
    assert len(shown) == count
    assert min(x for x, _ in shown) == svg.MARGIN
    assert max(x + w for x, w in shown) == width - svg.MARGIN
