"""The BGP sessions, checked statically: the rendered Cilium objects (read the way
`clusterforge simulate` translates them for GoBGP) against each router's rendered
file, with no network.

- every CiliumBGPAdvertisement is selected by some peer config's family selector
  (otherwise it announces nothing to anybody);
- every advertisement of Services has a Service selector (without one Cilium
  announces no Service);
- the nodes the cluster config selects to peer with a router are exactly the
  neighbors that router's file lists;
- both sides agree on the AS numbers, the router's address, the timers, eBGP
  multihop for a router off the node subnet, and the TCP-MD5 password (the same
  secret named on both sides).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from ipaddress import IPv4Address
from typing import Any

from ruamel.yaml.error import YAMLError

from ... import yamlio
from ...errors import ClusterforgeError
from ...model import BgpPeer
from ...render import layout
from ...simulate import speakers
from ..base import Context, Job, Result
from . import _common
from .consistency import PARSERS

ADVERTISEMENTS = "bgp advertisements"
SESSIONS = "bgp sessions"
FIX = f"the cluster side is {layout.CILIUM_BGP}, the router side its file under routers/: edit {layout.INVENTORY} and run `clusterforge render`"


def jobs(ctx: Context) -> list[Job]:
    if ctx.inventory.bgp is None:
        return []
    return [advertisements_job(ctx), *session_jobs(ctx)]


def _read(ctx: Context) -> speakers.Reader:
    def read(path: str) -> str:
        if not (ctx.repo / path).is_file():
            raise ClusterforgeError(f"{path} is missing")
        return _common.read(ctx, path)

    return read


def _plan(ctx: Context) -> speakers.SpeakerPlan:
    return speakers.plan_from(ctx.inventory, _read(ctx), (ctx.repo / layout.LB_IPPOOLS).is_file())


def _inputs(ctx: Context, *extra: str) -> tuple[str, ...]:
    inv = ctx.inventory
    paths = (layout.INVENTORY, layout.CILIUM_BGP, layout.LB_IPPOOLS, layout.CILIUM_VALUES, layout.kubeadm_file(inv, inv.control_planes[0]), *extra)
    return tuple(p for p in paths if (ctx.repo / p).is_file())


# --- advertisements ------------------------------------------------------------------


def advertisements_job(ctx: Context) -> Job:
    def run() -> list[Result]:
        problems = advertisement_problems(ctx)
        return [Result(ADVERTISEMENTS, layout.CILIUM_BGP, not problems, "\n".join(problems), FIX if problems else "")]

    return Job(ADVERTISEMENTS, _inputs(ctx), run)


def _documents(ctx: Context) -> list[Mapping[str, Any]]:
    try:
        return [d for d in yamlio.loader().load_all(_common.read(ctx, layout.CILIUM_BGP)) if isinstance(d, Mapping)]
    except (OSError, YAMLError):
        return []  # the YAML checks report an unreadable file


def advertisement_problems(ctx: Context) -> list[str]:
    if not (ctx.repo / layout.CILIUM_BGP).is_file():
        return [f"{layout.CILIUM_BGP} is missing: cluster.yaml has bgp, so Cilium needs its BGP objects"]
    docs = _documents(ctx)
    selectors = [
        family.get("advertisements")
        for d in docs
        if d.get("kind") == "CiliumBGPPeerConfig"
        for family in (d.get("spec") or {}).get("families") or []
    ]
    problems = []
    for doc in (d for d in docs if d.get("kind") == "CiliumBGPAdvertisement"):
        name = str((doc.get("metadata") or {}).get("name"))
        labels = {str(k): str(v) for k, v in ((doc.get("metadata") or {}).get("labels") or {}).items()}
        if not any(speakers.selects(selector, labels) for selector in selectors):
            shown = ", ".join(f"{k}={v}" for k, v in labels.items()) or "no labels"
            problems.append(f"CiliumBGPAdvertisement {name} ({shown}) is selected by no CiliumBGPPeerConfig family: it announces nothing")
        for i, item in enumerate((doc.get("spec") or {}).get("advertisements") or []):
            if isinstance(item, Mapping) and item.get("advertisementType") == "Service" and not item.get("selector"):
                problems.append(f"CiliumBGPAdvertisement {name} advertisements[{i}] announces Services but has no selector: Cilium then announces none")
    return problems


# --- sessions: the cluster's side against each router's ----------------------------------


def session_jobs(ctx: Context) -> list[Job]:
    assert ctx.inventory.bgp is not None

    def job(peer: BgpPeer) -> Job:
        path = layout.router_file(peer)

        def run() -> list[Result]:
            if not (ctx.repo / path).is_file():
                return [Result(SESSIONS, path, False, f"missing: bgp.peers[{peer.name}] needs its router configuration here", FIX)]
            problems = session_problems(ctx, peer, path, _plan(ctx))
            return [Result(SESSIONS, path, not problems, "\n".join(problems), FIX if problems else "")]

        return Job(SESSIONS, _inputs(ctx, path), run)

    return [job(peer) for peer in ctx.inventory.bgp.peers]


def session_problems(ctx: Context, peer: BgpPeer, path: str, plan: speakers.SpeakerPlan) -> list[str]:
    """Where the router file and the Cilium objects disagree about this router's sessions."""
    text = _common.read(ctx, path)
    view = PARSERS[peer.router](text)
    sessions = plan.expected(peer.address)
    names = {n.ip: n.name for n in ctx.inventory.kubernetes_nodes}
    problems = [p for p in plan.problems if p.startswith(layout.CILIUM_BGP)]
    if not sessions:
        return [*problems, f"{layout.CILIUM_BGP} selects no node to peer with {peer.address}, which this file configures"]
    selected = {s.node.ip: s for s in plan.speakers if s.node.name in sessions}
    for address in sorted(selected.keys() - view.neighbors.keys()):
        problems.append(f"node {names[address]} ({address}) peers with this router in {layout.CILIUM_BGP}, but is not a neighbor here")
    for address in sorted(view.neighbors.keys() - selected.keys()):
        problems.append(f"neighbor {address}{f' ({names[address]})' if address in names else ''} is here, but {layout.CILIUM_BGP} does not make it peer with this router")
    for address, speaker in sorted(selected.items()):
        if address in view.neighbors and view.neighbors[address] != speaker.local_asn:
            problems.append(f"neighbor {address} has AS {view.neighbors[address]} here, localASN {speaker.local_asn} in {layout.CILIUM_BGP}")
    one = next(iter(sessions.values()))
    if view.local_as != one.peer_asn:
        problems.append(f"the router's AS is {view.local_as} here, peerASN {one.peer_asn} in {layout.CILIUM_BGP}")
    router_address = _router_address(peer.router, text)
    if router_address is not None and router_address != one.address:
        problems.append(f"the router's address is {router_address} here, peerAddress {one.address} in {layout.CILIUM_BGP}")
    problems += _timer_problems(peer.router, text, one)
    problems += _multihop_problems(ctx, peer, text, one)
    problems += _password_problems(text, one)
    return problems


def _router_address(router: str, text: str) -> IPv4Address | None:
    pattern = {"frr": r"^\s*bgp router-id (\S+)", "bird": r"^\s*local (\S+) as \d+;", "yamaha-rtx": r"^bgp router id (\S+)"}[router]
    found = re.search(pattern, text, re.M)
    try:
        return IPv4Address(found.group(1)) if found else None
    except ValueError:
        return None


def _timer_problems(router: str, text: str, session: speakers.Session) -> list[str]:
    if router == "frr":
        found = re.search(r"^\s*neighbor \S+ timers (\d+) (\d+)", text, re.M)
        keepalive, hold = (int(found.group(1)), int(found.group(2))) if found else (None, None)
    elif router == "bird":
        hold_m, keep_m = re.search(r"^\s*hold time (\d+);", text, re.M), re.search(r"^\s*keepalive time (\d+);", text, re.M)
        hold, keepalive = (int(hold_m.group(1)) if hold_m else None), (int(keep_m.group(1)) if keep_m else None)
    else:
        found = re.search(r"^bgp neighbor \d+ .*\bhold-time=(\d+)", text, re.M)
        hold, keepalive = (int(found.group(1)) if found else None), None  # RTX sends keepalives at a third of it
    problems = []
    # An unset side negotiates down to the other's hold time; only two set values can disagree.
    if hold is not None and hold != session.hold:
        problems.append(f"hold time {hold} s here, holdTimeSeconds {session.hold} in {layout.CILIUM_BGP}")
    if keepalive is not None and keepalive != session.keepalive:
        problems.append(f"keepalive {keepalive} s here, keepAliveTimeSeconds {session.keepalive} in {layout.CILIUM_BGP}")
    return problems


def _multihop_problems(ctx: Context, peer: BgpPeer, text: str, session: speakers.Session) -> list[str]:
    """An eBGP peer off the node subnet is more than one hop away: both sides need multihop
    (their TTLs need not be equal; each only has to reach the other)."""
    if peer.address in ctx.inventory.network.subnet or session.peer_asn == ctx.inventory.bgp.local_asn:  # type: ignore[union-attr]
        return []
    if peer.router == "frr":
        here = re.search(r"^\s*neighbor \S+ ebgp-multihop \d+", text, re.M) is not None
    elif peer.router == "bird":
        here = re.search(r"^\s*multihop( \d+)?;", text, re.M) is not None
    else:
        return []  # RTX has no multihop setting (its notes say to use gateway=)
    problems = []
    if not here:
        problems.append(f"{peer.address} is off the node subnet but this file sets no eBGP multihop")
    if not session.multihop:
        problems.append(f"{peer.address} is off the node subnet but its peer config in {layout.CILIUM_BGP} sets no ebgpMultihop above 1")
    return problems


def _password_problems(text: str, session: speakers.Session) -> list[str]:
    """The router's password is typed by hand from the secret its comments name: that
    secret must be the one the peer config's authSecretRef names."""
    named = re.search(r"bgpPasswords\.(\S+) from", text)
    here = named.group(1) if named else None
    if here != session.password_ref:
        return [f"TCP-MD5 password: {f'bgpPasswords.{here}' if here else 'none'} here, authSecretRef {session.password_ref or 'none'} in {layout.CILIUM_BGP}"]
    return []
