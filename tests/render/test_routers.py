from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Network
from pathlib import Path

import pytest

from generator import loader, tools
from generator.errors import ToolFailed
from generator.model import BgpPeer, Inventory
from generator.render import layout, routers

EXAMPLE = Path("generator/data/cluster.example.yaml")
NeedTool = Callable[..., Path]

THREE_PEERS = """\
bgp:
  localASN: 64512
  peers:
    - name: edge
      address: 192.168.100.5
      asn: 65001
      router: frr
      authSecretRef: edge-bgp
      timers: {holdTimeSeconds: 9, keepaliveTimeSeconds: 3}
      ebgpMultihop: 2
    - name: lab-bird
      address: 192.168.100.6
      asn: 64512
      router: bird
    - name: rtx1220
      address: 192.168.100.1
      asn: 64512
      router: yamaha-rtx
  advertise:
    loadBalancerIPs: true
    podCIDRs: true

loadBalancerPools:
  - name: default
    cidr: 192.168.101.0/24
    default: true
  - name: internal
    cidr: 192.168.102.0/25
    serviceSelector: {pool: internal}
"""


def example() -> Inventory:
    return loader.check_file(EXAMPLE).inventory


def with_bgp(section: str) -> Inventory:
    """The reference inventory with its bgp and loadBalancerPools sections replaced."""
    text = EXAMPLE.read_text()
    start, end = text.index("\nbgp:\n") + 1, text.index("\ngitops:\n") + 1
    return loader.check_text(text[:start] + section + text[end:]).inventory


def three_peers() -> Inventory:
    return with_bgp(THREE_PEERS)


def remote_peers() -> Inventory:
    """The frr and bird peers off the node subnet: BIRD must use multihop instead of direct."""
    return with_bgp(THREE_PEERS.replace("192.168.100.5", "10.0.0.5").replace("192.168.100.6", "10.0.0.6"))


def peer(inv: Inventory, name: str) -> BgpPeer:
    assert inv.bgp is not None
    return next(p for p in inv.bgp.peers if p.name == name)


def commands(text: str, comment: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith(comment)]


def test_one_file_per_peer_and_none_without_bgp() -> None:
    inv = three_peers()
    assert sorted(routers.render(inv)) == ["routers/edge/frr.conf", "routers/lab-bird/bird.conf", "routers/rtx1220/rtx.txt"]
    assert routers.render(inv.model_copy(update={"bgp": None})) == {}
    assert all(text.endswith("\n") and not text.endswith("\n\n") for text in routers.render(inv).values())


def test_rtx_reference_inventory() -> None:
    inv = example()
    text = routers.render(inv)[layout.router_file(peer(inv, "rtx1220"))]
    lines = commands(text, "#")
    # eBGP: the router's own AS 64513, every node a neighbour in the cluster's AS 64512.
    assert lines[:3] == ["bgp use on", "bgp autonomous-system 64513", "bgp router id 192.168.100.1"]
    neighbors = [line.split() for line in lines if line.startswith("bgp neighbor ")]
    assert [(n[2], n[3], n[4]) for n in neighbors] == [(str(i), "64512", str(node.ip)) for i, node in enumerate(inv.kubernetes_nodes, 1)]
    assert all(n[5:] == ["hold-time=90", "passive=on"] for n in neighbors)
    assert "bgp export filter 1 include 192.168.101.0/24" in lines
    assert lines[-2:] == ["bgp export 64512 filter 1", "bgp configure refresh"]
    assert not any(line.startswith("bgp import") for line in lines)  # nothing advertised to the cluster
    assert "show status bgp neighbor" in text and "cilium bgp peers" in text and "secondary address" in text


def test_rtx_with_pod_cidrs_and_two_pools() -> None:
    inv = three_peers()
    lines = commands(routers.rtx_commands(inv, peer(inv, "rtx1220")), "#")
    assert "bgp export filter 1 include 192.168.101.0/24 192.168.102.0/25 10.244.0.0/16" in lines
    assert not any("pre-shared-key" in line for line in lines)


def test_frr_ebgp_peer() -> None:
    inv = three_peers()
    text = routers.frr_conf(inv, peer(inv, "edge"))
    lines = [line.strip() for line in commands(text, "!")]
    assert "router bgp 65001" in lines and "bgp router-id 192.168.100.5" in lines
    assert "neighbor CILIUM remote-as 64512" in lines
    assert "neighbor CILIUM timers 3 9" in lines and "neighbor CILIUM ebgp-multihop 2" in lines
    members = [line.split()[1] for line in lines if re.fullmatch(r"neighbor \S+ peer-group CILIUM", line)]
    assert members == [str(node.ip) for node in inv.kubernetes_nodes]
    assert "maximum-paths 6" in lines
    assert [line for line in lines if line.startswith("ip prefix-list")] == [
        "ip prefix-list CILIUM-IN seq 10 permit 192.168.101.0/24 le 32",
        "ip prefix-list CILIUM-IN seq 20 permit 192.168.102.0/25 le 32",
        "ip prefix-list CILIUM-IN seq 30 permit 10.244.0.0/16 le 32",
    ]
    assert "neighbor CILIUM route-map CILIUM-OUT out" in lines and "route-map CILIUM-OUT deny 10" in lines
    assert not any("password" in line for line in lines)  # only as a comment
    assert "bgpPasswords.edge-bgp" in text


def test_frr_ibgp_peer_uses_internal_and_ibgp_paths() -> None:
    inv = three_peers()
    lines = [line.strip() for line in commands(routers.frr_conf(inv, peer(inv, "lab-bird")), "!")]
    assert "neighbor CILIUM remote-as internal" in lines and "maximum-paths ibgp 6" in lines
    assert not any("ebgp-multihop" in line for line in lines)


def test_bird_ibgp_peer() -> None:
    inv = three_peers()
    text = routers.bird_conf(inv, peer(inv, "lab-bird"))
    assert "define CILIUM_PREFIXES = [ 192.168.101.0/24+, 192.168.102.0/25+, 10.244.0.0/16+ ];" in text
    assert "local 192.168.100.6 as 64512;" in text and "direct;" in text and "export none;" in text
    sessions = re.findall(r"protocol bgp (\w+) from cilium \{\n  neighbor (\S+) as (\d+);", text)
    assert sessions == [(f"cilium_{n.name}", str(n.ip), "64512") for n in inv.kubernetes_nodes]
    assert "merge paths on;" in text


def test_bird_off_subnet_peers_use_multihop() -> None:
    inv = remote_peers()
    assert "  multihop;\n" in routers.bird_conf(inv, peer(inv, "lab-bird"))  # iBGP
    assert "  multihop 2;\n" in routers.bird_conf(inv, peer(inv, "edge"))  # eBGP with ebgpMultihop
    assert "direct;" not in routers.bird_conf(inv, peer(inv, "edge"))


def test_lb_pools_not_accepted_when_not_advertised() -> None:
    inv = three_peers()
    assert inv.bgp is not None
    only_pods = inv.model_copy(update={"bgp": inv.bgp.model_copy(update={"advertise": inv.bgp.advertise.model_copy(update={"load_balancer_ips": False})})})
    assert routers.accepted_prefixes(only_pods) == [IPv4Network("10.244.0.0/16")]


def test_password_only_as_commented_instructions() -> None:
    inv = three_peers()
    rendered = routers.render(inv)
    markers = {"routers/edge/frr.conf": "!", "routers/lab-bird/bird.conf": "#", "routers/rtx1220/rtx.txt": "#"}
    for path, text in rendered.items():
        assert not [line for line in commands(text, markers[path]) if re.search("password|pre-shared-key", line)], path
    # The peer with authSecretRef gets the hand-typed line and where its value lives; the others do not.
    assert "neighbor CILIUM password <PASSWORD>" in rendered["routers/edge/frr.conf"]
    assert f"bgpPasswords.edge-bgp from {layout.SECRETS_FILE}" in rendered["routers/edge/frr.conf"]
    assert "<PASSWORD>" not in rendered["routers/lab-bird/bird.conf"] + rendered["routers/rtx1220/rtx.txt"]
    assert inv.bgp is not None
    peers = [p.model_copy(update={"auth_secret_ref": "edge-bgp"}) for p in inv.bgp.peers]
    with_auth = inv.model_copy(update={"bgp": inv.bgp.model_copy(update={"peers": peers})})
    rtx = routers.rtx_commands(with_auth, peer(with_auth, "rtx1220"))
    hand_typed = [line.removeprefix("#").strip() for line in rtx.splitlines() if "pre-shared-key" in line]
    assert hand_typed == [f"bgp neighbor pre-shared-key {i} text <PASSWORD>" for i in range(1, 7)]
    assert re.search(r"^#\s+password <PASSWORD>;", routers.bird_conf(with_auth, peer(with_auth, "lab-bird")), re.M)


def test_deterministic() -> None:
    assert routers.render(three_peers()) == routers.render(three_peers())


# --- the daemons' own checkers ----------------------------------------------------


def vtysh_check(vtysh: Path, path: Path) -> None:
    tools.run([vtysh, "--dryrun", "-f", path])


def bird_check(bird: Path, path: Path) -> None:
    tools.run([bird, "-p", "-c", path])


@pytest.mark.tools
@pytest.mark.parametrize("inventory", [example, three_peers, remote_peers])
def test_vtysh_parses_frr_conf(inventory: Callable[[], Inventory], need_tool: NeedTool, tmp_path: Path) -> None:
    vtysh = need_tool("vtysh")
    inv = inventory()
    assert inv.bgp is not None
    for each in inv.bgp.peers:  # every peer, whatever its kind: iBGP and eBGP shapes
        conf = tmp_path / f"{each.name}.conf"
        conf.write_text(routers.frr_conf(inv, each))
        vtysh_check(vtysh, conf)
    broken = tmp_path / "broken.conf"
    broken.write_text(routers.frr_conf(inv, inv.bgp.peers[0]).replace("neighbor CILIUM passive", "neighbor CILIUM pasive"))
    with pytest.raises(ToolFailed, match="Unknown command"):
        vtysh_check(vtysh, broken)


@pytest.mark.tools
@pytest.mark.parametrize("inventory", [example, three_peers, remote_peers])
def test_bird_parses_bird_conf(inventory: Callable[[], Inventory], need_tool: NeedTool, tmp_path: Path) -> None:
    bird = need_tool("bird")
    inv = inventory()
    assert inv.bgp is not None
    for each in inv.bgp.peers:
        conf = tmp_path / f"{each.name}.conf"
        conf.write_text(routers.bird_conf(inv, each))
        bird_check(bird, conf)
    broken = tmp_path / "broken.conf"
    broken.write_text(routers.bird_conf(inv, inv.bgp.peers[0]).replace("export none;", "export nothing;"))
    with pytest.raises(ToolFailed, match="syntax error"):
        bird_check(bird, broken)
