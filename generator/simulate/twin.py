"""The twin: the inventory with every address that carries a packet moved into the
documentation ranges (RFC 5737), rendered by the project's own renderers.

The node subnet becomes one documentation /24 (host offsets kept where they fit);
peers outside the node subnet get a second one behind a routed hop. Ranges that are
only announced and never carry a packet here (pod and Service CIDRs, LoadBalancer
pools) keep their values, so a documentation range is only taken when it overlaps
none of them.

A simulated file is the twin's rendering when the repository file is exactly what
cluster.yaml renders to. A file that differs (edited by hand, or stale) is what would
be deployed, so it is simulated as it is, with its addresses translated by the same
map; the report names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from .. import rules
from ..errors import ClusterforgeError
from ..model import Inventory
from ..render import tree

DOCUMENTATION_RANGES = tuple(IPv4Network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
# An IPv4 address, optionally /LEN, not part of a longer dotted or numeric token.
ADDRESS_TOKEN = re.compile(r"(?<![0-9.])([0-9]{1,3}(?:\.[0-9]{1,3}){3})(/[0-9]{1,2})?(?![0-9]|\.[0-9])")


class CannotSimulate(ClusterforgeError):
    """The repository cannot be turned into a simulated network (exit 2: fix the input)."""


@dataclass(frozen=True)
class Mapped:
    real: IPv4Address | None  # None: exists only in the simulation (the client, the routed hop)
    sim: IPv4Address
    owner: str


@dataclass(frozen=True)
class Twin:
    real: Inventory
    inventory: Inventory  # the twin: addresses translated, everything else as in cluster.yaml
    node_subnet: IPv4Network
    peer_segment: IPv4Network | None  # where off-subnet peers sit, behind the gateway
    gateway: IPv4Address  # on the node subnet: the routed hop to peer_segment
    hop: IPv4Address | None  # the gateway's address on peer_segment
    client: IPv4Address  # a machine on the node subnet that calls the API through the VIP
    addresses: tuple[Mapped, ...]
    _forward: dict[IPv4Address, IPv4Address] = field(repr=False, compare=False, default_factory=dict)

    def sim(self, real: IPv4Address) -> IPv4Address:
        return self._forward[real]

    def real_of(self, sim: IPv4Address) -> IPv4Address | None:
        return next((m.real for m in self.addresses if m.sim == sim), None)

    def off_subnet_peers(self) -> list[str]:
        bgp = self.inventory.bgp
        return [p.name for p in bgp.peers if p.address not in self.node_subnet] if bgp else []

    def translate_text(self, text: str) -> str:
        """Every address of the real node subnet in `text` as its simulated one; an
        interface address with the subnet's length gets the twin subnet's length."""
        real_subnet = self.real.network.subnet

        def replace(match: re.Match[str]) -> str:
            try:
                address = IPv4Address(match.group(1))
            except ValueError:
                return match.group(0)
            length = match.group(2)
            if length and address == real_subnet.network_address and int(length[1:]) == real_subnet.prefixlen:
                return str(self.node_subnet)
            sim = self._forward.get(address) or self._by_offset(address)
            if sim is None:
                return match.group(0)
            if length and int(length[1:]) == real_subnet.prefixlen and address in real_subnet:
                length = f"/{self.node_subnet.prefixlen}"
            return f"{sim}{length or ''}"

        return ADDRESS_TOKEN.sub(replace, text)

    def _by_offset(self, address: IPv4Address) -> IPv4Address | None:
        """An address of the real subnet that the inventory does not name (a hand edit):
        the same host offset in the twin subnet, when that is free."""
        real_subnet = self.real.network.subnet
        if address not in real_subnet:
            return None
        offset = int(address) - int(real_subnet.network_address)
        if not 0 < offset < self.node_subnet.num_addresses - 1:
            return None
        candidate = self.node_subnet.network_address + offset
        return None if any(m.sim == candidate for m in self.addresses) else candidate


def build(real: Inventory) -> Twin:
    """The twin of an inventory; CannotSimulate when the documentation ranges cannot hold it."""
    kept = _announced_only(real)
    free = [net for net in DOCUMENTATION_RANGES if not any(net.overlaps(k) for _what, k in kept)]
    bgp = real.bgp
    off_subnet = [p for p in bgp.peers if p.address not in real.network.subnet] if bgp else []
    needed = 2 if off_subnet else 1
    if len(free) < needed:
        taken = ", ".join(f"{what} {net}" for what, net in kept if any(net.overlaps(d) for d in DOCUMENTATION_RANGES))
        raise CannotSimulate(f"the simulation needs {needed} of the documentation ranges {_show(DOCUMENTATION_RANGES)} free, but {taken} use them")
    node_subnet = free[0]
    peer_segment = free[1] if off_subnet else None

    owners: dict[IPv4Address, list[str]] = {}
    for real_address, owner in _subnet_addresses(real):
        owners.setdefault(real_address, []).append(owner)
    nodes = _Allocator(real.network.subnet, node_subnet)
    mapped = [Mapped(address, nodes.take(address), ", ".join(names)) for address, names in owners.items()]
    peers = _Allocator(None, peer_segment) if peer_segment else None
    hop = None
    if peers:
        hop = peers.take_free(prefer=1)
        mapped.append(Mapped(None, hop, "the gateway's side of the peer segment (routed hop)"))
        for peer in off_subnet:
            mapped.append(Mapped(peer.address, peers.take(peer.address), f"BGP peer {peer.name} (off the node subnet)"))
    client = nodes.take_free(prefer=node_subnet.num_addresses - 2, downwards=True)
    mapped.append(Mapped(None, client, "client calling the API through the VIP"))
    forward = {m.real: m.sim for m in mapped if m.real is not None}

    twin_inventory = _translated(real, node_subnet, forward)
    errors, _warnings = rules.check(twin_inventory)
    if errors:
        found = "; ".join(f"{rules.show_path(e.path)}: {e.message}" for e in errors)
        raise CannotSimulate(f"the twin of this inventory breaks the inventory rules: {found}")
    return Twin(real, twin_inventory, node_subnet, peer_segment, forward[real.network.gateway], hop, client, tuple(mapped), forward)


def _show(nets: tuple[IPv4Network, ...]) -> str:
    return ", ".join(str(n) for n in nets)


def _announced_only(inv: Inventory) -> list[tuple[str, IPv4Network]]:
    """Ranges that keep their values: nothing in the simulation sends a packet to them."""
    kept = [("podCIDR", inv.kubernetes.pod_cidr), ("serviceCIDR", inv.kubernetes.service_cidr)]
    return kept + [(f"LB pool {p.name}", p.cidr) for p in inv.load_balancer_pools]


def _subnet_addresses(inv: Inventory) -> list[tuple[IPv4Address, str]]:
    """Every address on the node subnet with its owner, in inventory order."""
    out = [(inv.network.gateway, "gateway")]
    if inv.bgp:
        out += [(p.address, f"BGP peer {p.name}") for p in inv.bgp.peers if p.address in inv.network.subnet]
    out.append((inv.api_server.vip, "API VIP"))
    out += [(n.ip, f"{n.role} {n.name}") for n in inv.nodes]
    out += [(d, "DNS server") for d in inv.network.dns if d in inv.network.subnet]
    return out


class _Allocator:
    """Host addresses of one simulated /24: the real host offset when it fits and is free."""

    def __init__(self, real: IPv4Network | None, sim: IPv4Network):
        self.real, self.sim = real, sim
        self.assigned: dict[IPv4Address, IPv4Address] = {}
        self.used: set[IPv4Address] = set()

    def _hosts(self) -> range:
        return range(1, self.sim.num_addresses - 1)

    def take(self, real_address: IPv4Address) -> IPv4Address:
        base = int(self.real.network_address) if self.real else int(real_address) & ~0xFF
        offset = int(real_address) - base
        candidate = self.sim.network_address + offset if offset in self._hosts() else None
        if candidate is None or candidate in self.used:
            candidate = self.take_free(prefer=1)
        else:
            self.used.add(candidate)
        self.assigned[real_address] = candidate
        return candidate

    def take_free(self, *, prefer: int, downwards: bool = False) -> IPv4Address:
        offsets = range(prefer, 0, -1) if downwards else range(prefer, self.sim.num_addresses - 1)
        for offset in offsets:
            candidate = self.sim.network_address + offset
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
        raise CannotSimulate(f"more addresses than the simulated segment {self.sim} holds")


def _translated(inv: Inventory, subnet: IPv4Network, forward: dict[IPv4Address, IPv4Address]) -> Inventory:
    network = inv.network.model_copy(
        update={"subnet": subnet, "gateway": forward[inv.network.gateway], "dns": [forward.get(d, d) for d in inv.network.dns]}
    )
    api = inv.api_server.model_copy(update={"vip": forward[inv.api_server.vip]})
    nodes = [n.model_copy(update={"ip": forward[n.ip]}) for n in inv.nodes]
    update: dict[str, object] = {"network": network, "api_server": api, "nodes": nodes}
    if inv.bgp:
        peers = [p.model_copy(update={"address": forward[p.address]}) for p in inv.bgp.peers]
        update["bgp"] = inv.bgp.model_copy(update={"peers": peers})
    return inv.model_copy(update=update)


# --- the files the simulation runs ------------------------------------------------------


@dataclass(frozen=True)
class SimFile:
    path: str  # repository-relative
    text: str  # as simulated: the twin's rendering, or the repository file translated
    edited: bool  # the repository file differs from what cluster.yaml renders


class Sources:
    """The simulated text of each rendered file the simulation uses, read on demand."""

    def __init__(self, repo: Path, twin: Twin):
        self.repo, self.twin = repo, twin
        self._real = tree.render(twin.real)
        self._sim = tree.render(twin.inventory)
        self._read: dict[str, SimFile] = {}

    def get(self, path: str) -> SimFile:
        if path not in self._read:
            file = self.repo / path
            if not file.is_file():
                raise CannotSimulate(f"{path} is missing from the repository: run `clusterforge render`")
            text = file.read_text(encoding="utf-8")
            if path in self._real and text == self._real[path] and path in self._sim:
                self._read[path] = SimFile(path, self._sim[path], False)
            else:
                self._read[path] = SimFile(path, self.twin.translate_text(text), True)
        return self._read[path]

    def edited(self) -> list[str]:
        return sorted(p for p, f in self._read.items() if f.edited)
