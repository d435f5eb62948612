"""The router-file parsers of the consistency check, on real router configurations: the
rendered ones (the golden files) and hand edits in each router's own syntax, which the
router's own parser accepts (vtysh --dryrun, bird -p) where it runs here."""

from __future__ import annotations

import re
import subprocess
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from generator.validate.checks import consistency

from . import NeedTool

GOLDEN = Path(__file__).parents[1] / "golden"
TOR_A = (GOLDEN / "office-rack/routers/tor-a/frr.conf").read_text()
RS1 = (GOLDEN / "office-rack/routers/rs1/bird.conf").read_text()
RTX = (GOLDEN / "koedo-lab-flux/routers/rtx1220/rtx.txt").read_text()
NODES = [f"198.51.100.{n}" for n in (21, 22, 23, 24, 25, 31, 32, 33)]
OFFICE_PREFIXES = {IPv4Network("203.0.113.0/26"), IPv4Network("203.0.113.64/27"), IPv4Network("10.32.0.0/16")}


def view(parser: str, text: str) -> tuple[int | None, dict[IPv4Address, int], set[IPv4Network]]:
    v = consistency.PARSERS[parser](text)
    return v.local_as, v.neighbors, v.prefixes


def vtysh_accepts(text: str, tmp_path: Path, need_tool: NeedTool) -> None:
    """The edited text is FRR configuration: FRR's own parser takes it."""
    conf = tmp_path / "frr.conf"
    conf.write_text(text)
    done = subprocess.run([str(need_tool("vtysh")), "--dryrun", "-f", str(conf)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# --- FRR ---------------------------------------------------------------------------------


def test_frr_rendered() -> None:
    assert view("frr", TOR_A) == (65001, {IPv4Address(a): 65010 for a in NODES}, OFFICE_PREFIXES)


FRR_EDITS = [
    # A neighbor by address with its own remote-as, beside the peer group.
    (" neighbor CILIUM timers 3 9\n", " neighbor CILIUM timers 3 9\n neighbor 198.51.100.40 remote-as 65020\n", {"198.51.100.40": 65020}),
    # remote-as internal: the router's own AS; external: no number to compare.
    (" neighbor CILIUM remote-as 65010\n", " neighbor CILIUM remote-as internal\n", {a: 65001 for a in NODES}),
    (" neighbor CILIUM remote-as 65010\n", " neighbor CILIUM remote-as external\n", {a: -1 for a in NODES}),
    # A commented-out neighbor is no neighbor; an indented `!` comments too.
    (" neighbor CILIUM timers 3 9\n", " neighbor CILIUM timers 3 9\n ! neighbor 198.51.100.41 remote-as 65020\n", {}),
]


@pytest.mark.parametrize(("old", "new", "neighbors"), FRR_EDITS)
def test_frr_neighbors(old: str, new: str, neighbors: dict[str, int], tmp_path: Path, need_tool: NeedTool) -> None:
    text = TOR_A.replace(old, new, 1)
    assert text != TOR_A
    vtysh_accepts(text, tmp_path, need_tool)
    expected = {IPv4Address(a): 65010 for a in NODES} | {IPv4Address(a): asn for a, asn in neighbors.items()}
    assert view("frr", text) == (65001, expected, OFFICE_PREFIXES)


def test_frr_peer_group_without_remote_as() -> None:
    text = TOR_A.replace(" neighbor CILIUM remote-as 65010\n", "")
    assert view("frr", text)[1] == {IPv4Address(a): -1 for a in NODES}


def test_frr_prefix_lists(tmp_path: Path, need_tool: NeedTool) -> None:
    """Permitted prefixes with or without a sequence number; a denied one is not accepted."""
    text = TOR_A.replace(
        "ip prefix-list CILIUM-IN seq 30 permit 10.32.0.0/16 le 32\n",
        "ip prefix-list CILIUM-IN permit 10.32.0.0/16 le 32\nip prefix-list CILIUM-IN seq 40 deny 10.33.0.0/16\n! ip prefix-list CILIUM-IN seq 50 permit 10.34.0.0/16\n",
    )
    vtysh_accepts(text, tmp_path, need_tool)
    assert view("frr", text)[2] == OFFICE_PREFIXES


def test_frr_prefix_with_host_bits_is_its_network(tmp_path: Path, need_tool: NeedTool) -> None:
    """FRR takes `permit 10.32.0.1/16` (and means 10.32.0.0/16): so does the parser."""
    text = TOR_A.replace("permit 10.32.0.0/16 le 32", "permit 10.32.0.1/16 le 32")
    assert text != TOR_A
    vtysh_accepts(text, tmp_path, need_tool)
    assert view("frr", text)[2] == OFFICE_PREFIXES


def test_frr_without_router_bgp() -> None:
    text = TOR_A.replace("router bgp 65001\n", "").replace(" neighbor CILIUM remote-as 65010\n", " neighbor CILIUM remote-as internal\n")
    assert view("frr", text) == (None, {IPv4Address(a): -1 for a in NODES}, OFFICE_PREFIXES)


def test_frr_numbers_are_whole_ascii_numbers() -> None:
    text = TOR_A.replace("router bgp 65001", "router bgp 650011234567").replace(" neighbor CILIUM remote-as 65010", " neighbor CILIUM remote-as ６５０１０")
    local, neighbors, _ = view("frr", text)
    assert local is None and set(neighbors.values()) == {-1}


# --- BIRD ----------------------------------------------------------------------------------


def test_bird_rendered() -> None:
    assert view("bird", RS1) == (65010, {IPv4Address(a): 65010 for a in NODES}, OFFICE_PREFIXES)


def test_bird_edits() -> None:
    text = RS1.replace("  local 198.51.100.4 as 65010;", "  local as 65011;").replace(
        "  neighbor 198.51.100.33 as 65010;", "  # neighbor 198.51.100.33 as 65010;\n  neighbor 198.51.100.34 as 65020;"
    ).replace("[ 203.0.113.0/26+, ", "[ 203.0.113.0/26+, 192.0.2.0/24{24,32}, ")
    expected = {IPv4Address(a): 65010 for a in NODES[:-1]} | {IPv4Address("198.51.100.34"): 65020}
    assert view("bird", text) == (65011, expected, OFFICE_PREFIXES | {IPv4Network("192.0.2.0/24")})
    assert view("bird", RS1.replace("  local 198.51.100.4 as 65010;", ""))[0] is None


def test_bird_comments_say_nothing() -> None:
    """A prefix set in a comment is no prefix the router accepts."""
    text = RS1.replace("  neighbor 198.51.100.33 as 65010;", "  neighbor 198.51.100.33 as 65010;\n  # was: [ 192.0.2.0/24+ ]")
    assert text != RS1
    assert view("bird", text) == view("bird", RS1)


def test_bird_prefix_with_host_bits_is_its_network() -> None:
    """bird -p rejects 203.0.113.1/26 (the routers check says so); the parser reads it as its network
    rather than failing the consistency check with it."""
    text = RS1.replace("[ 203.0.113.0/26+, ", "[ 203.0.113.1/26+, ")
    assert text != RS1
    assert view("bird", text)[2] == OFFICE_PREFIXES


# --- RTX -----------------------------------------------------------------------------------


def test_rtx_rendered() -> None:
    nodes = ["192.168.100.11", "192.168.100.12", "192.168.100.13", "192.168.100.34", "192.168.100.66", "192.168.100.98"]
    assert view("yamaha-rtx", RTX) == (64513, {IPv4Address(a): 64512 for a in nodes}, {IPv4Network("192.168.101.0/24")})


def test_rtx_edits() -> None:
    text = RTX.replace("bgp autonomous-system 64513\n", "# bgp autonomous-system 64513\n").replace(
        "bgp export filter 1 include 192.168.101.0/24", "bgp export filter 1 include 192.168.101.0/24 10.244.0.0/16\n# bgp export filter 2 include 10.9.0.0/16"
    ).replace("bgp neighbor 6 64512 192.168.100.98", "# bgp neighbor 6 64512 192.168.100.98")
    local, neighbors, prefixes = view("yamaha-rtx", text)
    assert local is None and IPv4Address("192.168.100.98") not in neighbors and len(neighbors) == 5
    assert prefixes == {IPv4Network("192.168.101.0/24"), IPv4Network("10.244.0.0/16")}


# --- addresses and prefixes: whole, ASCII, in range ---------------------------------------------


@pytest.mark.parametrize("good", ["0.0.0.0", "255.255.255.255", "10.0.0.1", "192.168.100.250", "1.2.3.199"])
def test_ipv4(good: str) -> None:
    assert re.fullmatch(consistency.IPV4, good)
    assert re.findall(consistency.IPV4, f"x {good} y") == [good]


@pytest.mark.parametrize("bad", ["256.1.1.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", "1.2.3.４", "1.2.3.256"])
def test_not_ipv4(bad: str) -> None:
    assert not re.search(consistency.IPV4, bad)


@pytest.mark.parametrize(("text", "found"), [("1.2.3.0/24", ["1.2.3.0/24"]), ("1.2.3.0/32", ["1.2.3.0/32"]), ("1.2.3.0/0", ["1.2.3.0/0"]),
                                             ("1.2.3.0/33", []), ("1.2.3.0/240", []), ("1.2.3.0/", [])])
def test_prefix(text: str, found: list[str]) -> None:
    assert re.findall(consistency.PREFIX, text) == found


@pytest.mark.parametrize(("text", "found"), [("65001", ["65001"]), ("4294967295", ["4294967295"]), ("12345678901", []), ("a1b", ["1"])])
def test_number(text: str, found: list[str]) -> None:
    assert re.findall(consistency.NUMBER, text) == found
