"""The BGP peers of the twin: FRR and BIRD 2 run the rendered router configuration
itself; a Yamaha RTX cannot run here, so FRR stands in for it, configured from the
rendered RTX command list (the subset clusterforge writes).

The one thing added to a rendered file is what its comments tell the operator to
type by hand: the TCP-MD5 password of a peer with authSecretRef, from the secrets
file. Nothing of it is ever printed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from .. import tools
from ..errors import ClusterforgeError, ToolFailed
from ..model import BgpPeer
from ..validate.checks.routers import rtx_commands
from .namespaces import Daemon, Machine

FRR_BGPD = Path("/usr/lib/frr/bgpd")
QUERY_TIMEOUT = 10


class RouterConfigError(ClusterforgeError):
    """A rendered router file the simulation cannot run (named in the report)."""


@dataclass(frozen=True)
class RouteEntry:
    prefix: IPv4Network
    next_hops: frozenset[IPv4Address]  # of the paths the router holds as usable
    unusable: frozenset[IPv4Address]  # next hops of paths it holds but cannot use (unresolved)


@dataclass
class Router:
    peer: BgpPeer  # from the twin inventory
    file: str  # the rendered file it runs
    machine: Machine
    daemon: Daemon | None = None

    @property
    def kind(self) -> str:
        return "bird" if self.peer.router == "bird" else "frr"

    # --- configuration -----------------------------------------------------------------

    def config(self, text: str, password: str | None) -> str:
        """The text the daemon runs: the rendered file (RTX: its FRR translation), plus the
        password line its comments ask for."""
        if self.peer.router == "yamaha-rtx":
            return rtx_as_frr(text, self.file, password)
        if password is None:
            return text
        if self.peer.router == "frr":
            group = re.search(r"^ neighbor (\S+) peer-group$", text, re.M)
            if not group:
                raise RouterConfigError(f"{self.file}: no `neighbor GROUP peer-group` line to add the TCP-MD5 password to")
            line = f" neighbor {group.group(1)} password {password}"
            return text[: group.end()] + "\n" + line + text[group.end():]
        template = re.search(r"^template bgp \S+ \{$", text, re.M)
        if not template:
            raise RouterConfigError(f"{self.file}: no `template bgp NAME {{` block to add the TCP-MD5 password to")
        return text[: template.end()] + f'\n  password "{password}";' + text[template.end():]

    def start(self, text: str, password: str | None) -> None:
        d = self.machine.directory
        conf = d / ("bird.conf" if self.kind == "bird" else "frr.conf")
        conf.write_text(self.config(text, password), encoding="utf-8")
        conf.chmod(0o600)
        if self.kind == "bird":
            argv = [tools.require("bird"), "-f", "-c", conf, "-s", d / "bird.ctl", "-P", d / "bird.pid"]
        else:
            # -S: no switch to the frr user (the files are root's); -Z: no zebra (the RIB is
            # read from bgpd; nothing needs the kernel's table); -P 0: no vty TCP port.
            argv = [FRR_BGPD, "-S", "-Z", "-P", "0", "-f", conf, "-i", d / "bgpd.pid", "--vty_socket", d, "--log", "stdout"]
        self.daemon = self.machine.start(self.kind, argv)

    def stop(self) -> None:
        if self.daemon:
            self.daemon.stop()
            self.daemon = None

    # --- state -----------------------------------------------------------------------

    def _vtysh(self, command: str) -> dict:
        done = tools.run([tools.require("vtysh"), "--vty_socket", self.machine.directory, "-c", command], timeout=QUERY_TIMEOUT, ok_codes=(0, 1))
        try:
            data = json.loads(done.stdout or "{}")
        except json.JSONDecodeError:
            return {}
        return data if isinstance(data, dict) else {}

    def _birdc(self, command: str) -> str:
        try:
            return tools.run([tools.require("birdc"), "-s", self.machine.directory / "bird.ctl", command], timeout=QUERY_TIMEOUT).stdout
        except ToolFailed:
            return ""

    def neighbors(self) -> dict[IPv4Address, str]:
        """Every neighbor the router has configured, with its session state."""
        if self.kind == "frr":
            peers = (self._vtysh("show bgp summary json").get("ipv4Unicast") or {}).get("peers") or {}
            return {IPv4Address(a): str(p.get("state", "")) for a, p in peers.items() if _is_address(a)}
        found: dict[IPv4Address, str] = {}
        state = ""
        for line in self._birdc("show protocols all").splitlines():
            if m := re.match(r"\s+BGP state:\s+(\S+)", line):
                state = m.group(1)
            elif (m := re.match(r"\s+Neighbor address:\s+(\S+)", line)) and _is_address(m.group(1)):
                found[IPv4Address(m.group(1))] = state
        return found

    def rib(self) -> dict[IPv4Network, RouteEntry]:
        return self._frr_rib() if self.kind == "frr" else self._bird_rib()

    def _frr_rib(self) -> dict[IPv4Network, RouteEntry]:
        routes = self._vtysh("show bgp ipv4 unicast json").get("routes") or {}
        out = {}
        for prefix, paths in routes.items():
            usable, unusable = set(), set()
            for path in paths if isinstance(paths, list) else []:
                hops = {IPv4Address(h["ip"]) for h in path.get("nexthops") or [] if _is_address(h.get("ip", ""))}
                (usable if path.get("valid") else unusable).update(hops)
            out[IPv4Network(prefix)] = RouteEntry(IPv4Network(prefix), frozenset(usable), frozenset(unusable))
        return out

    def _bird_rib(self) -> dict[IPv4Network, RouteEntry]:
        """The BGP routes (not what the kernel protocol learns): a prefix line, then each
        path's `unicast`/`unreachable` line, its `via` and its BGP.next_hop attribute."""
        out: dict[IPv4Network, tuple[set[IPv4Address], set[IPv4Address]]] = {}
        prefix: IPv4Network | None = None
        usable = True
        for line in self._birdc("show route where source = RTS_BGP all").splitlines():
            head = re.match(r"^([0-9.]+/[0-9]+)\s+(\S+)", line)
            alternative = re.match(r"^\s+(unicast|unreachable|blackhole|prohibit)\s+\[", line)
            if head:
                prefix, usable = IPv4Network(head.group(1)), head.group(2) == "unicast"
                out.setdefault(prefix, (set(), set()))
            elif alternative:
                usable = alternative.group(1) == "unicast"
            elif prefix and (m := re.match(r"^\s+BGP\.next_hop:\s+(\S+)", line)) and _is_address(m.group(1)):
                out[prefix][0 if usable else 1].add(IPv4Address(m.group(1)))
        return {p: RouteEntry(p, frozenset(u), frozenset(n)) for p, (u, n) in out.items()}


def _is_address(text: str) -> bool:
    try:
        IPv4Address(text)
    except ValueError:
        return False
    return True



# --- Yamaha RTX, stood in for by FRR ------------------------------------------------------


def rtx_as_frr(text: str, path: str, password: str | None) -> str:
    """The FRR configuration that does what the RTX commands say (the subset clusterforge
    writes): AS, router id, passive neighbors with their hold time, and `bgp export`
    filters as an inbound prefix list (RTX `include` is the prefix and everything longer);
    without `bgp import` the RTX advertises nothing, so neither does this."""
    asn = router_id = None
    neighbors: list[tuple[str, str, dict[str, str]]] = []
    filters: dict[str, list[str]] = {}
    exports: dict[str, list[str]] = {}
    for line, words in rtx_commands(text):
        match words:
            case ["bgp", "autonomous-system", value]:
                asn = value
            case ["bgp", "router", "id", value]:
                router_id = value
            case ["bgp", "neighbor", "pre-shared-key", *_]:
                pass  # typed by hand from the secrets file: `password` below
            case ["bgp", "neighbor", _number, remote_as, address, *options]:
                neighbors.append((remote_as, address, dict(o.partition("=")[::2] for o in options)))
            case ["bgp", "export", "filter", number, "include", *networks]:
                filters.setdefault(number, []).extend(networks)
            case ["bgp", "export", remote_as, "filter", *numbers]:
                exports.setdefault(remote_as, []).extend(numbers)
            case ["bgp", "use" | "configure", *_]:
                pass
            case _:
                raise RouterConfigError(f"{path}: line {line}: `{' '.join(words)}` is not a command the FRR stand-in understands")
    if asn is None or router_id is None:
        raise RouterConfigError(f"{path}: no `bgp autonomous-system` or `bgp router id`")
    lines = ["frr defaults traditional", f"router bgp {asn}", f" bgp router-id {router_id}"]
    for remote_as, address, options in neighbors:
        lines.append(f" neighbor {address} remote-as {remote_as}")
        if options.get("passive") == "on":
            lines.append(f" neighbor {address} passive")
        if hold := options.get("hold-time"):
            lines.append(f" neighbor {address} timers {max(1, int(hold) // 3)} {hold}")
        if "gateway" in options and remote_as != asn:
            lines.append(f" neighbor {address} ebgp-multihop 255")
        if password:
            lines.append(f" neighbor {address} password {password}")
    lines.append(" address-family ipv4 unicast")
    for remote_as, address, _options in neighbors:
        lines.append(f"  neighbor {address} route-map RTX-IN-{remote_as} in")
        lines.append(f"  neighbor {address} route-map RTX-OUT out")
    lines += [" exit-address-family", "exit"]
    for number, networks in filters.items():
        lines += [f"ip prefix-list RTX-FILTER-{number} seq {10 * i} permit {net} le 32" for i, net in enumerate(networks, 1)]
    for remote_as in sorted({n[0] for n in neighbors}):
        # One entry per filter: a route passing any of them is installed; none passes otherwise.
        for i, number in enumerate(exports.get(remote_as, []), 1):
            lines += [f"route-map RTX-IN-{remote_as} permit {10 * i}", f" match ip address prefix-list RTX-FILTER-{number}", "exit"]
        if not exports.get(remote_as):
            lines += [f"route-map RTX-IN-{remote_as} deny 10", "exit"]
    lines += ["route-map RTX-OUT deny 10", "exit"]
    return "\n".join(lines) + "\n"
