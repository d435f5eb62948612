from __future__ import annotations

import itertools
from ipaddress import IPv4Network
import subprocess
from pathlib import Path

import pytest

from generator.loader import check_file
from generator.model import Inventory
from generator.render import firewall
from generator.render.firewall import FirewallRule

EXAMPLE = check_file(Path("generator/data/cluster.example.yaml")).inventory
SUBNET = str(EXAMPLE.network.subnet)
PODS = str(EXAMPLE.kubernetes.pod_cidr)
CP_IPS = {str(n.ip) for n in EXAMPLE.control_planes}


def with_cilium(inv: Inventory, **changes: object) -> Inventory:
    return inv.model_copy(update={"cilium": inv.cilium.model_copy(update=changes)})


def node(inv: Inventory, role: str):
    return inv.nodes_with(role)[0]  # type: ignore[arg-type]


def ports(rules: list[FirewallRule]) -> set[tuple[str, tuple[int, int] | None]]:
    return {(r.protocol, r.ports) for r in rules}


def expected_ports(role: str, routing: str, tunnel: str, encryption: str, hubble: bool, _relay: bool | None) -> set:
    want: set = {("tcp", (22, 22))}
    if role == "loadbalancer":
        return want | {("tcp", (6443, 6443)), ("vrrp", None)}
    want |= {("tcp", (10250, 10250)), ("tcp", (4240, 4240))}
    if role == "control-plane":
        want |= {("tcp", (6443, 6443)), ("tcp", (2379, 2380)), ("tcp", (10257, 10257)), ("tcp", (10259, 10259))}
    else:
        want |= {("tcp", (30000, 32767)), ("udp", (30000, 32767))}
    if routing == "tunnel":
        want.add(("udp", (8472, 8472)) if tunnel == "vxlan" else ("udp", (6081, 6081)))
    if encryption == "wireguard":
        want.add(("udp", (51871, 51871)))
    if hubble:
        want.add(("tcp", (4244, 4244)))
    # Never ICMP (ufw's stock before.rules accepts echo from anywhere) nor Relay's 4245
    # (Relay is a pod): rules that would change nothing.
    return want


HUBBLE = [(True, None), (True, False), (False, None)]  # (hubble, hubbleRelay); relay without hubble is invalid
COMBINATIONS = list(
    itertools.product(["control-plane", "worker", "loadbalancer"], ["tunnel", "native"], ["vxlan", "geneve"], ["none", "wireguard"], HUBBLE)
)


@pytest.mark.parametrize(("role", "routing", "tunnel", "encryption", "hubble"), COMBINATIONS)
def test_exactly_the_ports_the_features_need(role, routing, tunnel, encryption, hubble) -> None:
    inv = with_cilium(
        EXAMPLE, routing_mode=routing, tunnel_protocol=tunnel, encryption=encryption, hubble=hubble[0], hubble_relay=hubble[1]
    )
    got = firewall.rules(inv, node(inv, role))
    assert ports(got) == expected_ports(role, routing, tunnel, encryption, *hubble)


def test_restricted_sources() -> None:
    cp = firewall.rules(EXAMPLE, node(EXAMPLE, "control-plane"))
    assert {r.source for r in cp if r.ports == (2379, 2380)} == CP_IPS
    assert {r.source for r in cp if r.ports == (22, 22)} == {SUBNET}
    # Pods reach the API server and the kubelets from pod addresses.
    assert {r.source for r in cp if r.ports in ((6443, 6443), (10250, 10250))} == {SUBNET, PODS}
    assert {r.source for r in cp if r.ports == (8472, 8472)} == {SUBNET}
    worker = firewall.rules(EXAMPLE, node(EXAMPLE, "worker"))
    assert {r.source for r in worker if r.ports == (30000, 32767)} == {"0.0.0.0/0"}


def test_vrrp_only_from_the_other_load_balancers() -> None:
    lb1, lb2 = EXAMPLE.loadbalancers
    for me, peer in ((lb1, lb2), (lb2, lb1)):
        vrrp = [r for r in firewall.rules(EXAMPLE, me) if r.protocol == "vrrp"]
        assert [r.source for r in vrrp] == [str(peer.ip)]
        assert firewall.before_rules(EXAMPLE, me) == [f"-A ufw-before-input -p 112 -s {peer.ip} -j ACCEPT"]
    api = [r for r in firewall.rules(EXAMPLE, lb1) if r.protocol == "tcp" and r.ports == (6443, 6443)]
    assert [r.source for r in api] == [SUBNET]


def test_no_inbound_bgp_or_metrics() -> None:
    for n in EXAMPLE.nodes:
        for rule in firewall.rules(EXAMPLE, n):
            if rule.ports:
                first, last = rule.ports
                assert not first <= 179 <= last, "the agents dial out to the routers"
                assert not any(first <= p <= last for p in (9962, 9963, 9964)), "metrics stay closed"


def test_control_planes_take_nodeports_without_workers() -> None:
    inv = EXAMPLE.model_copy(update={"nodes": [n for n in EXAMPLE.nodes if n.role != "worker"]})
    assert ("udp", (30000, 32767)) in ports(firewall.rules(inv, node(inv, "control-plane")))


def test_api_port_follows_the_inventory() -> None:
    inv = EXAMPLE.model_copy(update={"api_server": EXAMPLE.api_server.model_copy(update={"port": 8443})})
    for role in ("control-plane", "loadbalancer"):
        got = ports(firewall.rules(inv, node(inv, role)))
        assert ("tcp", (8443, 8443)) in got and ("tcp", (6443, 6443)) not in got


def test_ufw_commands_cover_every_tcp_udp_rule() -> None:
    for n in EXAMPLE.nodes:
        commands = firewall.ufw_commands(EXAMPLE, n)
        assert commands[:2] == [["ufw", "default", "deny", "incoming"], ["ufw", "default", "allow", "outgoing"]]
        allowed = {(c[3], c[5], c[9]) for c in commands[2:]}
        want = {(r.protocol, r.source, r.port_spec) for r in firewall.rules(EXAMPLE, n) if r.protocol in ("tcp", "udp")}
        assert allowed == want
        assert not [line for line in firewall.before_rules(EXAMPLE, n) if "-p icmp" in line]  # ufw's stock rule does it


def test_script_enables_ufw_after_the_rules() -> None:
    text = firewall.script(EXAMPLE, EXAMPLE.loadbalancers[0])
    lines = text.splitlines()
    assert lines[:1] == ["#!/usr/bin/env bash"] and "set -euo pipefail" in lines
    assert lines.index("ufw --force enable") > max(i for i, line in enumerate(lines) if line.startswith("ufw allow"))
    assert f"-A ufw-before-input -p 112 -s {EXAMPLE.loadbalancers[1].ip} -j ACCEPT" in lines
    assert "ufw allow proto tcp from 192.168.100.0/24 to any port 22 comment SSH" in lines
    assert text.endswith("\n")


@pytest.mark.tools
def test_scripts_pass_shellcheck(need_tool, tmp_path: Path) -> None:
    shellcheck = need_tool("shellcheck")
    for routing, encryption in (("tunnel", "none"), ("native", "wireguard")):
        inv = with_cilium(EXAMPLE, routing_mode=routing, encryption=encryption)
        for n in inv.nodes:
            path = tmp_path / f"{n.name}-{routing}.sh"
            path.write_text(firewall.script(inv, n))
            result = subprocess.run([shellcheck, path], capture_output=True, text=True)
            assert result.returncode == 0, result.stdout


@pytest.mark.tools
def test_script_edits_before_rules_idempotently(need_tool, tmp_path: Path) -> None:
    """Run the script's before.rules part (everything before the ufw calls) twice
    against a copy of ufw's header: one block, right after the marker."""
    bash = need_tool("bash")
    rules = tmp_path / "before.rules"
    rules.write_text("*filter\n:ufw-before-input - [0:0]\n# End required lines\n\n-A ufw-before-input -i lo -j ACCEPT\nCOMMIT\n")
    lb = EXAMPLE.loadbalancers[0]
    text = firewall.script(EXAMPLE, lb).replace(firewall.BEFORE_RULES, str(rules))
    part = text[: text.index("ufw default")]
    for _ in range(2):
        subprocess.run([bash, "-c", part], check=True)
    lines = rules.read_text().splitlines()
    block = [firewall.BEGIN_MARK, *firewall.before_rules(EXAMPLE, lb), firewall.END_MARK]
    start = lines.index("# End required lines") + 1
    assert lines[start : start + len(block)] == block
    assert lines.count(firewall.BEGIN_MARK) == 1
    # A file without ufw's header fails instead of silently missing the rules.
    rules.write_text("COMMIT\n")
    assert subprocess.run([bash, "-c", part]).returncode != 0


def sources(inv: Inventory, role: str, port: int) -> set[str]:
    return {r.source for r in firewall.rules(inv, node(inv, role)) if r.protocol == "tcp" and r.ports == (port, port)}


def test_allowed_sources_open_ssh_everywhere_and_the_api_on_the_load_balancers() -> None:
    admin = "192.0.2.0/24"
    inv = EXAMPLE.model_copy(
        update={
            "api_server": EXAMPLE.api_server.model_copy(update={"allowed_sources": [IPv4Network(admin)]}),
            "ssh": EXAMPLE.ssh.model_copy(update={"allowed_sources": [IPv4Network(admin)]}),
        }
    )
    for role in ("control-plane", "worker", "loadbalancer"):
        assert sources(inv, role, 22) == {SUBNET, admin}
    assert sources(inv, "loadbalancer", 6443) == {SUBNET, admin}
    # Behind HAProxy the API servers see the load balancers' addresses, never the admin's.
    assert sources(inv, "control-plane", 6443) == {SUBNET, PODS}
    assert sources(EXAMPLE, "loadbalancer", 22) == {SUBNET}


def test_allowed_api_sources_reach_the_control_planes_without_load_balancers() -> None:
    admin = "192.0.2.0/24"
    inv = EXAMPLE.model_copy(
        update={
            "nodes": [n for n in EXAMPLE.nodes if n.role != "loadbalancer"],
            "api_server": EXAMPLE.api_server.model_copy(update={"allowed_sources": [IPv4Network(admin)]}),
        }
    )
    assert sources(inv, "control-plane", 6443) == {SUBNET, PODS, admin}
