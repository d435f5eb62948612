"""The BGP side of the twin: one namespace per Kubernetes node (a GoBGP speaker where
the speaker plan puts one), one per BGP peer running its rendered configuration, and,
when a peer is off the node subnet, a second segment behind the gateway (a routed hop,
so the speakers' ebgpMultihop is exercised).

GoBGP (pinned; Cilium's BGP control plane is built on it) is configured the way
Cilium's agent configures its instance: no listening port (the speaker dials the
peer), the peer config's timers, TCP-MD5 password, multihop TTL (eBGP only),
graceful restart with notification support, and an export policy that sends each
peer exactly the prefixes its advertisements select.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from .. import repo as repository
from .. import tools, yamlio
from ..errors import ClusterforgeError, ToolFailed
from ..render import layout
from .namespaces import Daemon, Machine, Topology
from .routers import Router, RouterConfigError
from .speakers import Session, Speaker, SpeakerPlan
from .twin import Sources, Twin

API = "127.0.0.1:50051"  # each speaker's gRPC API, on its own namespace's loopback
READY_TIMEOUT = 10
IDLE_HOLD_AFTER_RESET = 5  # Cilium's idleHoldTimeAfterResetSeconds
ROUTER_INTERFACES = ("eth0", "eth1")
ESTABLISHED = 6  # GoBGP's session_state for Established


class SecretsMissing(ClusterforgeError):
    """A BGP password the rendered objects refer to is not in the secrets file."""


@dataclass
class SpeakerRun:
    speaker: Speaker
    machine: Machine
    config: Path
    daemon: Daemon | None = None
    extra: list[IPv4Network] = field(default_factory=list)  # announced on top of the plan (the filter proof)


@dataclass
class BgpSide:
    topology: Topology
    twin: Twin
    sources: Sources
    plan: SpeakerPlan
    passwords: dict[str, str]  # authSecretRef -> password (never printed)
    nodes: dict[str, Machine] = field(default_factory=dict)
    routers: dict[str, Router] = field(default_factory=dict)
    speakers: dict[str, SpeakerRun] = field(default_factory=dict)

    @classmethod
    def prepare(cls, topology: Topology, twin: Twin, sources: Sources, plan: SpeakerPlan) -> BgpSide:
        refs = {s.password_ref for sp in plan.speakers for s in sp.sessions if s.password_ref}
        assert twin.inventory.bgp is not None
        refs |= {p.auth_secret_ref for p in twin.inventory.bgp.peers if p.auth_secret_ref}
        passwords = repository.read_secrets(sources.repo).bgp_passwords if refs else {}
        missing = sorted(refs - passwords.keys())
        if missing:
            raise SecretsMissing(f"bgpPasswords {', '.join(missing)} missing from the secrets file: run `clusterforge render`")
        return cls(topology, twin, sources, plan, passwords)

    # --- building (main thread) ------------------------------------------------------

    def build(self) -> None:
        inv = self.twin.inventory
        assert inv.bgp is not None
        prefix = inv.network.subnet.prefixlen
        lan = self.topology.segment("bgp-lan")
        peers = self.topology.segment("bgp-peers") if self.twin.peer_segment else None
        for node in inv.kubernetes_nodes:
            machine = self.topology.machine(f"bgp-{node.name}")
            self.topology.connect(machine, lan, inv.network.interface, f"{node.ip}/{prefix}")
            if self.twin.peer_segment:
                machine.ip("route", "add", str(self.twin.peer_segment), "via", str(self.twin.gateway))
            self.nodes[node.name] = machine
        gateway_router = None
        for peer in inv.bgp.peers:
            machine = self.topology.machine(f"bgp-{peer.name}")
            file = layout.router_file(peer)
            router = Router(peer, file, machine)
            if peer.address in inv.network.subnet:
                self.topology.connect(machine, lan, ROUTER_INTERFACES[0], f"{peer.address}/{prefix}")
                if peer.address == self.twin.gateway:
                    gateway_router = machine
            else:
                assert peers is not None and self.twin.hop is not None and self.twin.peer_segment is not None
                self.topology.connect(machine, peers, ROUTER_INTERFACES[0], f"{peer.address}/{self.twin.peer_segment.prefixlen}")
                machine.ip("route", "add", str(inv.network.subnet), "via", str(self.twin.hop))
            self.routers[peer.name] = router
        if peers is not None:
            assert self.twin.hop is not None and self.twin.peer_segment is not None
            hop = gateway_router
            if hop is None:
                hop = self.topology.machine("bgp-gateway")
                self.topology.connect(hop, lan, ROUTER_INTERFACES[0], f"{self.twin.gateway}/{prefix}")
            self.topology.connect(hop, peers, ROUTER_INTERFACES[1], f"{self.twin.hop}/{self.twin.peer_segment.prefixlen}")
            hop.sysctl({"net.ipv4.ip_forward": "1"})
        for speaker in self.plan.speakers:
            machine = self.nodes[speaker.node.name]
            config = machine.directory / f"gobgpd-{speaker.instance or 'default'}.yaml"
            self.speakers[speaker.node.name] = SpeakerRun(speaker, machine, config)

    # --- daemons ---------------------------------------------------------------------

    def start_routers(self) -> list[str]:
        """Start every router; returns the problems of routers that could not start."""
        problems = []
        for router in self.routers.values():
            password = self.passwords.get(router.peer.auth_secret_ref) if router.peer.auth_secret_ref else None
            try:
                router.start(self.sources.get(router.file).text, password)
            except RouterConfigError as e:
                problems.append(str(e))
        return problems

    def start_speaker(self, node: str, *, password: str | None = None) -> None:
        """Start a node's GoBGP with its plan (`password` replaces every session's password:
        the wrong-password scenario) and announce its prefixes."""
        run = self.speakers[node]
        write_config(run, self.passwords, password)
        gobgpd = tools.require("gobgpd")
        # -r: Cilium marks its sessions as locally restarting whenever graceful restart is on.
        restarting = ["-r"] if any(s.graceful_restart is not None for s in run.speaker.sessions) else []
        run.daemon = run.machine.start("gobgpd", [gobgpd, "-t", "yaml", "-f", run.config, "--api-hosts", API, "-l", "info", *restarting])
        deadline_polls = int(READY_TIMEOUT / 0.05)
        for _ in range(deadline_polls):
            if self._gobgp(run, "global", ok_codes=(0, 1)).returncode == 0:
                break
            if not run.daemon.running:
                raise ClusterforgeError(f"gobgpd did not start on {node}:\n{run.daemon.log_tail()}")
            time.sleep(0.05)
        for prefix in [*sorted({p for s in run.speaker.sessions for p in s.prefixes}), *run.extra]:
            self._gobgp(run, "global", "rib", "add", "-a", "ipv4", str(prefix))

    def stop_speaker(self, node: str) -> None:
        run = self.speakers[node]
        if run.daemon:
            run.daemon.stop()
            run.daemon = None

    def _gobgp(self, run: SpeakerRun, *args: str, ok_codes: tuple[int, ...] = (0,)) -> tools.Completed:
        return run.machine.run([tools.require("gobgp"), "--host", API.split(":")[0], "--port", API.split(":")[1], *args], timeout=10, ok_codes=ok_codes)

    # --- state -----------------------------------------------------------------------

    def sessions(self, node: str) -> dict[IPv4Address, bool]:
        """The speaker's view: peer address -> Established."""
        run = self.speakers[node]
        if not run.daemon:
            return {}
        try:
            data = json.loads(self._gobgp(run, "-j", "neighbor").stdout or "[]")
        except (ToolFailed, json.JSONDecodeError):
            return {}
        out = {}
        for peer in data if isinstance(data, list) else []:
            state = peer.get("state") or {}
            address = state.get("neighbor_address") or (peer.get("conf") or {}).get("neighbor_address")
            if address:
                out[IPv4Address(address)] = state.get("session_state") == ESTABLISHED
        return out

    def advertised(self, node: str, peer: IPv4Address) -> set[IPv4Network]:
        """What the speaker sends to the peer (its Adj-RIB-Out)."""
        run = self.speakers[node]
        try:
            out = self._gobgp(run, "neighbor", str(peer), "adj-out", "-a", "ipv4", ok_codes=(0, 1)).stdout
        except ToolFailed:
            return set()
        return {IPv4Network(m) for m in re.findall(r"\b([0-9]+(?:\.[0-9]+){3}/[0-9]+)\b", out)}



def write_config(run: SpeakerRun, passwords: dict[str, str], override: str | None) -> None:
    data = gobgpd_config(run.speaker, passwords, override, run.extra)
    run.config.write_text(yamlio.dump(data), encoding="utf-8")
    run.config.chmod(0o600)  # holds the TCP-MD5 passwords


def gobgpd_config(speaker: Speaker, passwords: dict[str, str], override: str | None, extra: list[IPv4Network]) -> dict[str, Any]:
    """GoBGP's configuration for one speaker, as Cilium's agent sets up its instance."""
    neighbors, prefix_sets, neighbor_sets, statements = [], [], [], []
    for i, session in enumerate(speaker.sessions):
        neighbors.append(_neighbor(session, passwords, override))
        announced = [*session.prefixes, *extra]
        if not announced:
            continue
        prefix_sets.append({"prefix-set-name": f"to-{i}", "prefix-list": [{"ip-prefix": str(p)} for p in announced]})
        neighbor_sets.append({"neighbor-set-name": f"peer-{i}", "neighbor-info-list": [str(session.address)]})
        statements.append(
            {
                "name": f"announce-to-{i}",
                "conditions": {"match-prefix-set": {"prefix-set": f"to-{i}"}, "match-neighbor-set": {"neighbor-set": f"peer-{i}"}},
                "actions": {"route-disposition": "accept-route"},
            }
        )
    config: dict[str, Any] = {
        # port -1: Cilium's speaker does not listen; it dials each peer.
        "global": {
            "config": {"as": speaker.local_asn, "router-id": str(speaker.router_id), "port": -1},
            "apply-policy": {"config": {"export-policy-list": ["announce"] if statements else [], "default-export-policy": "reject-route"}},
        },
        "neighbors": neighbors,
    }
    if statements:
        config["defined-sets"] = {"prefix-sets": prefix_sets, "neighbor-sets": neighbor_sets}
        config["policy-definitions"] = [{"name": "announce", "statements": statements}]
    return config


def _neighbor(session: Session, passwords: dict[str, str], override: str | None) -> dict[str, Any]:
    conf: dict[str, Any] = {"neighbor-address": str(session.address), "peer-as": session.peer_asn}
    password = (override if override is not None else passwords.get(session.password_ref)) if session.password_ref else None
    if password:
        conf["auth-password"] = password
    neighbor: dict[str, Any] = {
        "config": conf,
        "timers": {
            "config": {
                "hold-time": session.hold,
                "keepalive-interval": session.keepalive,
                "connect-retry": session.connect_retry,
                "idle-hold-time-after-reset": IDLE_HOLD_AFTER_RESET,
            }
        },
        "transport": {"config": {"remote-port": session.port}},
    }
    if session.multihop:
        neighbor["ebgp-multihop"] = {"config": {"enabled": True, "multihop-ttl": session.multihop}}
    families = [f for f in session.families if f in ("ipv4-unicast", "ipv6-unicast")]
    if session.graceful_restart is not None:
        neighbor["graceful-restart"] = {"config": {"enabled": True, "restart-time": session.graceful_restart, "notification-enabled": True}}
    neighbor["afi-safis"] = [
        {"config": {"afi-safi-name": f}, **({"mp-graceful-restart": {"config": {"enabled": True}}} if session.graceful_restart is not None else {})}
        for f in families
    ]
    return neighbor

