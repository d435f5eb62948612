"""Host firewall of every node (ufw), derived from its role and the enabled features.

Incoming traffic is denied by default and outgoing allowed: Cilium's BGP
sessions are dialled OUT by the agents to the routers on 179/tcp, and the
answers come back through ufw's connection tracking, so BGP needs no inbound
rule. Metrics ports (9962-9964) are deliberately not opened. Not opened either,
because nothing on the host needs them: ICMP echo (cilium-health's ping), which
ufw's stock before.rules already accepts from anywhere, and Hubble Relay's 4245,
which Relay serves from its pod (it dials the agents' 4244; clients reach it
through its Service or a port-forward).

Sources: Kubernetes' "Ports and Protocols" page; Cilium's
Documentation/operations/system_requirements.rst ("Firewall Rules").
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Literal

from ..model import Inventory, Node

Protocol = Literal["tcp", "udp", "vrrp"]

SSH_PORT = 22
ETCD_PORTS = (2379, 2380)
KUBELET_PORT = 10250
CONTROLLER_MANAGER_PORT = 10257
SCHEDULER_PORT = 10259
NODEPORT_RANGE = (30000, 32767)
CILIUM_HEALTH_PORT = 4240
VXLAN_PORT = 8472
GENEVE_PORT = 6081
WIREGUARD_PORT = 51871
HUBBLE_PORT = 4244
ANYWHERE = "0.0.0.0/0"

# ufw's own rule syntax knows tcp and udp (and a few IP protocols, not VRRP);
# VRRP becomes iptables-restore lines in /etc/ufw/before.rules.
UFW_PROTOCOLS = ("tcp", "udp")
IP_PROTOCOL_NUMBERS = {"vrrp": 112}  # numeric: needs no /etc/protocols entry
BEFORE_RULES = "/etc/ufw/before.rules"
BEGIN_MARK = "# BEGIN clusterforge"
END_MARK = "# END clusterforge"


@dataclass(frozen=True, order=True)
class FirewallRule:
    """Allow `protocol` traffic from `source` (a CIDR or one address) to this node;
    `ports` is an inclusive range, (p, p) for one port, None for vrrp."""

    protocol: Protocol
    ports: tuple[int, int] | None
    source: str
    comment: str

    @property
    def port_spec(self) -> str:
        """The port as ufw writes it: `22` or `30000:32767`."""
        assert self.ports is not None
        first, last = self.ports
        return str(first) if first == last else f"{first}:{last}"


def _one(port: int) -> tuple[int, int]:
    return (port, port)


def _allowed(networks: list[IPv4Network]) -> list[str]:
    return [str(net) for net in networks]


def _from_each(protocol: Protocol, ports: tuple[int, int] | None, sources: list[str], comment: str) -> list[FirewallRule]:
    return [FirewallRule(protocol, ports, source, comment) for source in sources]


def _kubernetes_rules(inv: Inventory, node: Node) -> list[FirewallRule]:
    subnet = str(inv.network.subnet)
    # Pods reach the API server, the kubelets (metrics-server) and the Hubble
    # servers from pod addresses, which arrive unmasqueraded through the tunnel
    # or the native routes: the pod CIDR is a source next to the node subnet.
    cluster = [subnet, str(inv.kubernetes.pod_cidr)]
    rules = _from_each("tcp", _one(KUBELET_PORT), cluster, "kubelet API")
    if node.role == "control-plane":
        # Without a load-balancer pair, clients reach the API servers directly.
        direct = [] if inv.loadbalancers else _allowed(inv.api_server.allowed_sources)
        rules += _from_each("tcp", _one(inv.api_server.port), cluster + direct, "kube-apiserver")
        rules += _from_each("tcp", ETCD_PORTS, [str(cp.ip) for cp in inv.control_planes], "etcd between control planes")
        rules.append(FirewallRule("tcp", _one(CONTROLLER_MANAGER_PORT), subnet, "kube-controller-manager"))
        rules.append(FirewallRule("tcp", _one(SCHEDULER_PORT), subnet, "kube-scheduler"))
    # Without workers the control planes run the workloads, NodePorts included.
    if node.role == "worker" or not inv.workers:
        # NodePorts exist to be reached by clients outside the cluster.
        rules.append(FirewallRule("tcp", NODEPORT_RANGE, ANYWHERE, "NodePort services"))
        rules.append(FirewallRule("udp", NODEPORT_RANGE, ANYWHERE, "NodePort services"))
    rules += _cilium_rules(inv, subnet, cluster)
    return rules


def _cilium_rules(inv: Inventory, subnet: str, cluster: list[str]) -> list[FirewallRule]:
    cilium = inv.cilium
    rules = _from_each("tcp", _one(CILIUM_HEALTH_PORT), cluster, "cilium-health")
    if cilium.routing_mode == "tunnel":
        port = VXLAN_PORT if cilium.tunnel_protocol == "vxlan" else GENEVE_PORT
        rules.append(FirewallRule("udp", _one(port), subnet, f"Cilium {cilium.tunnel_protocol} overlay"))
    if cilium.encryption == "wireguard":
        rules.append(FirewallRule("udp", _one(WIREGUARD_PORT), subnet, "Cilium WireGuard"))
    if cilium.hubble:
        # Hubble Relay (a pod) collects the flows of every agent here.
        rules += _from_each("tcp", _one(HUBBLE_PORT), cluster, "Hubble server")
    return rules


def _loadbalancer_rules(inv: Inventory, node: Node) -> list[FirewallRule]:
    # The API is the cluster's most powerful endpoint: only the node subnet (the
    # kubelets, Cilium, operators on the LAN) and the networks the inventory
    # names may reach it, not every network the router forwards from.
    sources = [str(inv.network.subnet), *_allowed(inv.api_server.allowed_sources)]
    rules = _from_each("tcp", _one(inv.api_server.port), sources, "Kubernetes API (HAProxy)")
    rules += [FirewallRule("vrrp", None, str(peer.ip), f"VRRP from {peer.name}") for peer in inv.loadbalancers if peer != node]
    return rules


def rules(inv: Inventory, node: Node) -> list[FirewallRule]:
    """Every inbound allow rule of `node`, sorted and without duplicates."""
    found = _from_each("tcp", _one(SSH_PORT), [str(inv.network.subnet), *_allowed(inv.ssh.allowed_sources)], "SSH")
    found += _loadbalancer_rules(inv, node) if node.role == "loadbalancer" else _kubernetes_rules(inv, node)
    return sorted(set(found))


def ufw_commands(inv: Inventory, node: Node) -> list[list[str]]:
    """The ufw invocations (argv lists) for the rules ufw itself can express."""
    commands = [["ufw", "default", "deny", "incoming"], ["ufw", "default", "allow", "outgoing"]]
    for rule in rules(inv, node):
        if rule.protocol in UFW_PROTOCOLS:
            commands.append(
                ["ufw", "allow", "proto", rule.protocol, "from", rule.source, "to", "any", "port", rule.port_spec, "comment", rule.comment]
            )
    return commands


def before_rules(inv: Inventory, node: Node) -> list[str]:
    """iptables-restore lines for the rules ufw's CLI cannot express (VRRP), placed
    into ufw's own `ufw-before-input` chain."""
    return [f"-A ufw-before-input -p {IP_PROTOCOL_NUMBERS['vrrp']} -s {rule.source} -j ACCEPT" for rule in rules(inv, node) if rule.protocol == "vrrp"]


def script(inv: Inventory, node: Node) -> str:
    """An idempotent bash script that configures and enables ufw for `node`.

    VRRP rules go between marker lines right after the required header
    of before.rules (ufw has no drop-in directory and no `proto vrrp`); the block
    is replaced on every run, so re-running converges.
    """
    lines = [
        "#!/usr/bin/env bash",
        f"# Host firewall of {node.name} ({node.role}), rendered by clusterforge.",
        "set -euo pipefail",
        "",
        f"rules={BEFORE_RULES}",
        f"sed -i '/^{BEGIN_MARK}$/,/^{END_MARK}$/d' \"$rules\"",
        "sed -i '/^# End required lines$/r /dev/stdin' \"$rules\" <<'EOF'",
        BEGIN_MARK,
        *before_rules(inv, node),
        END_MARK,
        "EOF",
        "# Fails (and stops) when before.rules lacks ufw's header marker the block hangs from.",
        f"grep -qxF '{BEGIN_MARK}' \"$rules\"",
        "",
        *(shlex.join(argv) for argv in ufw_commands(inv, node)),
        "ufw --force enable",
        "# On a re-run ufw already runs and enable leaves it (ufw-init: \"Firewall already",
        "# started, use 'force-reload'\"), so the new before.rules block needs a reload.",
        "ufw reload",
    ]
    return "\n".join(lines) + "\n"
