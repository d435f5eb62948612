"""docs/topology.svg: the cluster as a picture, for readers whose viewer shows no
Mermaid: the LoadBalancer pools and BGP peers on top, the hypervisor hosts with
their VMs in the middle, the API VIP below; lines for the BGP sessions, the
load balancers holding the VIP and the API servers behind it.

Built as an XML tree (no text templating) with a fixed layout, so the same
inventory always gives the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..model import Inventory
from . import layout, routers

NODE_W, NODE_H = 200, 54
PAD = 14  # inside a host box
HOST_HEADER = 26
HOST_W = NODE_W + 2 * PAD
GAP = 28  # between boxes of one row
MARGIN = 24
BOX_W, BOX_H = 190, 62  # peers, pools and the VIP
ROW_GAP = 70
LEGEND_LINE = 20
FONT = "font-family:sans-serif"
FILL = {
    "control-plane": "#dbeafe",
    "worker": "#dcfce7",
    "loadbalancer": "#fef3c7",
    "peer": "#fce7f3",
    "pool": "#ede9fe",
    "vip": "#fee2e2",
    "host": "#f8fafc",
}
STROKE = "#334155"
BGP_STROKE = "#be185d"
VIP_STROKE = "#b45309"


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    @property
    def top(self) -> tuple[int, int]:
        return (self.x + self.w // 2, self.y)

    @property
    def bottom(self) -> tuple[int, int]:
        return (self.x + self.w // 2, self.y + self.h)


def _span(count: int, width: int) -> int:
    """The width of a row of `count` boxes of `width`."""
    return count * width + max(count - 1, 0) * GAP


def _row(names: list[str], box: tuple[int, int], total: int, y: int) -> dict[str, Box]:
    """Boxes of size `box` named `names`, side by side at `y`, centred in `total`."""
    width, height = box
    start = MARGIN + (total - 2 * MARGIN - _span(len(names), width)) // 2
    return {name: Box(start + i * (width + GAP), y, width, height) for i, name in enumerate(names)}


def _text(parent: ET.Element, x: int, y: int, lines: list[str], *, size: int = 12, bold_first: bool = True) -> None:
    element = ET.SubElement(parent, "text", {"x": str(x), "y": str(y), "text-anchor": "middle", "style": f"{FONT};font-size:{size}px"})
    for i, line in enumerate(lines):
        span = ET.SubElement(element, "tspan", {"x": str(x), "dy": "0" if i == 0 else str(size + 3)})
        if i == 0 and bold_first:
            span.set("font-weight", "bold")
        span.text = line


def _rect(parent: ET.Element, box: Box, fill: str, *, rounded: int = 6, dashed: bool = False) -> None:
    attributes = {"x": str(box.x), "y": str(box.y), "width": str(box.w), "height": str(box.h), "rx": str(rounded), "fill": fill, "stroke": STROKE}
    if dashed:
        attributes["stroke-dasharray"] = "6 4"
    ET.SubElement(parent, "rect", attributes)


def _line(parent: ET.Element, a: tuple[int, int], b: tuple[int, int], color: str, *, dashed: bool = False, arrow: bool = False) -> None:
    attributes = {"x1": str(a[0]), "y1": str(a[1]), "x2": str(b[0]), "y2": str(b[1]), "stroke": color, "stroke-width": "1.5"}
    if dashed:
        attributes["stroke-dasharray"] = "6 4"
    if arrow:
        attributes["marker-end"] = "url(#arrow)"
    ET.SubElement(parent, "line", attributes)


def topology(inv: Inventory) -> str:
    hosts = inv.hosts
    nodes_per_host = {h.name: [n for n in inv.nodes if n.host == h.name] for h in hosts}
    tallest = max(len(nodes) for nodes in nodes_per_host.values())  # the model requires a host
    host_h = HOST_HEADER + tallest * (NODE_H + 10) + PAD
    peers = inv.bgp.peers if inv.bgp else []
    pools = inv.load_balancer_pools
    width = 2 * MARGIN + max(_span(len(hosts), HOST_W), _span(len(peers), BOX_W), _span(len(pools), BOX_W))
    y = MARGIN
    pool_boxes = _row([p.name for p in pools], (BOX_W, BOX_H), width, y)
    if pools:
        y += BOX_H + ROW_GAP
    peer_boxes = _row([p.name for p in peers], (BOX_W, BOX_H), width, y)
    if peers:
        y += BOX_H + ROW_GAP
    host_boxes = _row([h.name for h in hosts], (HOST_W, host_h), width, y)
    node_boxes = {
        node.name: Box(host_boxes[host].x + PAD, y + HOST_HEADER + i * (NODE_H + 10), NODE_W, NODE_H)
        for host, nodes in nodes_per_host.items()
        for i, node in enumerate(nodes)
    }
    y += host_h + ROW_GAP
    vip_box = _row(["vip"], (BOX_W, BOX_H), width, y)["vip"]
    y += BOX_H + ROW_GAP // 2
    legend_y = y
    height = legend_y + 3 * LEGEND_LINE + MARGIN

    svg = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": str(width), "height": str(height), "viewBox": f"0 0 {width} {height}"})
    ET.SubElement(svg, "title").text = f"Topology of Kubernetes cluster {inv.name}"
    ET.SubElement(svg, "desc").text = f"Rendered by clusterforge from {layout.INVENTORY}."
    defs = ET.SubElement(svg, "defs")
    marker = ET.SubElement(defs, "marker", {"id": "arrow", "viewBox": "0 0 10 10", "refX": "10", "refY": "5", "markerWidth": "7", "markerHeight": "7", "orient": "auto-start-reverse"})
    ET.SubElement(marker, "path", {"d": "M 0 0 L 10 5 L 0 10 z", "fill": VIP_STROKE})
    ET.SubElement(svg, "rect", {"width": "100%", "height": "100%", "fill": "#ffffff"})

    edges = ET.SubElement(svg, "g", {"id": "edges"})
    accepted = routers.accepted_prefixes(inv) if inv.bgp else []
    for peer in peers:
        for node in inv.kubernetes_nodes:
            _line(edges, node_boxes[node.name].top, peer_boxes[peer.name].bottom, BGP_STROKE)
        for pool in pools:
            if pool.cidr in accepted:
                _line(edges, peer_boxes[peer.name].top, pool_boxes[pool.name].bottom, BGP_STROKE, dashed=True)
    for lb in inv.loadbalancers:
        _line(edges, node_boxes[lb.name].bottom, vip_box.top, VIP_STROKE, dashed=True)
    for cp in inv.control_planes:
        _line(edges, vip_box.top, node_boxes[cp.name].bottom, VIP_STROKE, arrow=True)

    boxes = ET.SubElement(svg, "g", {"id": "boxes"})
    for pool in pools:
        box = pool_boxes[pool.name]
        _rect(boxes, box, FILL["pool"])
        _text(boxes, box.top[0], box.y + 24, [f"LB pool {pool.name}", str(pool.cidr)])
    for peer in peers:
        box = peer_boxes[peer.name]
        _rect(boxes, box, FILL["peer"], rounded=14)
        kind = routers.session_kind(inv, peer)
        _text(boxes, box.top[0], box.y + 20, [f"{peer.name} ({peer.router})", f"{peer.address} AS {peer.asn}", kind])
    for host in hosts:
        box = host_boxes[host.name]
        _rect(boxes, box, FILL["host"], dashed=True)
        _text(boxes, box.top[0], box.y + 18, [host.name], size=13)
        for node in nodes_per_host[host.name]:
            node_box = node_boxes[node.name]
            _rect(boxes, node_box, FILL[node.role])
            _text(boxes, node_box.top[0], node_box.y + 20, [node.name, f"{node.role} {node.ip}"])
    _rect(boxes, vip_box, FILL["vip"], rounded=30)
    _text(boxes, vip_box.top[0], vip_box.y + 26, ["API VIP", inv.api_endpoint])

    legend = ET.SubElement(svg, "g", {"id": "legend"})
    entries = [(VIP_STROKE, True, "load balancer (keepalived + HAProxy) holding the VIP"), (VIP_STROKE, False, f"VIP to the API servers on port {inv.api_server.port}")]
    if inv.bgp:
        entries.insert(0, (BGP_STROKE, False, f"BGP session: every node (AS {inv.bgp.local_asn}) with every peer; dashed: pools the router installs"))
    for i, (color, dashed, label) in enumerate(entries):
        line_y = legend_y + i * LEGEND_LINE
        _line(legend, (MARGIN, line_y), (MARGIN + 40, line_y), color, dashed=dashed)
        label_element = ET.SubElement(legend, "text", {"x": str(MARGIN + 50), "y": str(line_y + 4), "style": f"{FONT};font-size:12px"})
        label_element.text = label
    ET.indent(svg)
    return ET.tostring(svg, encoding="unicode") + "\n"


def render(inv: Inventory) -> dict[str, str]:
    return {layout.TOPOLOGY_SVG: topology(inv)}
