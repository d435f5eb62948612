"""Scenarios 5-8: BGP sessions, routes (and the routers' filters), withdrawal, TCP-MD5.

One report line per router (its rendered file), each with its measured figure.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network

from ..render import layout
from ..validate.base import Result
from .bgp import BgpSide
from .routers import Router
from .speakers import sample_address
from .timing import Clock, count, seconds

SESSIONS = "5. BGP sessions"
ROUTES = "6. routes"
WITHDRAWAL = "7. withdrawal"
MD5 = "8. TCP-MD5"
ESTABLISH_TIMEOUT = 20.0  # seconds: a speaker dials at once and retries after GoBGP's idle hold
ROUTES_TIMEOUT = 15.0
RETURN_SLACK = 10.0  # seconds on top of the connect-retry time for routes to come back
WRONG_PASSWORD_WATCH = 10.0  # seconds a speaker with a wrong password is watched
# Candidates for the prefix that proves the routers' filters: benchmarking ranges (RFC 2544)
# that no cluster range should hold; the first one overlapping nothing is used.
FILTER_PROOF = tuple(IPv4Network(f"198.18.{i}.0/24") for i in range(0, 256, 16))


def extra_prefix(side: BgpSide) -> IPv4Network | None:
    inv = side.twin.inventory
    taken = [inv.kubernetes.pod_cidr, inv.kubernetes.service_cidr, *(p.cidr for p in inv.load_balancer_pools)]
    return next((p for p in FILTER_PROOF if not any(p.overlaps(t) for t in taken)), None)


def _names(side: BgpSide, addresses: Iterable[IPv4Address]) -> str:
    by_ip = {n.ip: n.name for n in side.twin.inventory.kubernetes_nodes}
    return ", ".join(sorted(by_ip.get(a, str(a)) for a in addresses)) or "none"


def _plan_problems(side: BgpSide) -> str:
    return "; ".join(side.plan.problems)


def _expected_neighbors(side: BgpSide, router: Router) -> dict[IPv4Address, str]:
    """node IP -> node name, for every speaker that has a session with this router."""
    return {side.speakers[node].speaker.node.ip: node for node in side.plan.expected(router.peer.address)}


def _notification(side: BgpSide, router: Router) -> str:
    """The last NOTIFICATION a speaker or the router logged: why a session does not come up."""
    logs = [run.daemon.log.read_text(errors="replace") for run in side.speakers.values() if run.daemon]
    if router.daemon:
        logs.append(router.daemon.log.read_text(errors="replace"))
    found = [m.group(0) for text in logs for m in re.finditer(r".*[Nn]otification.*", text)]
    return found[-1].strip()[:300] if found else ""


# --- 5. sessions ------------------------------------------------------------------------


def sessions(side: BgpSide, clock: Clock) -> list[Result]:
    start = time.monotonic()
    wanted = {name: _expected_neighbors(side, r) for name, r in side.routers.items()}

    def all_up() -> bool:
        for name, router in side.routers.items():
            states = router.neighbors()
            if any(states.get(ip) != "Established" for ip in wanted[name]):
                return False
        return all(all(side.sessions(node).values()) and side.sessions(node) for node in side.speakers)

    clock.until(all_up, ESTABLISH_TIMEOUT, interval=0.2)
    took = time.monotonic() - start
    results = []
    for name, router in side.routers.items():
        states = router.neighbors()
        expected = wanted[name]
        up = {ip for ip, state in states.items() if state == "Established"}
        speaker_up = {ip for ip, node in expected.items() if side.sessions(node).get(router.peer.address)}
        problems = []
        if not expected:
            problems.append(f"no node's speaker has a session with {name} ({router.peer.address}): {layout.CILIUM_BGP} selects none")
        down = sorted(set(expected) - (up & speaker_up))
        if down:
            detail = ", ".join(f"{expected[ip]} (router: {states.get(ip, 'not a neighbor')})" for ip in down)
            problems.append(f"not Established after {seconds(took)}: {detail}")
        extra_up = sorted(up - set(expected))
        if extra_up:
            problems.append(f"Established with nodes the cluster config does not select for it: {_names(side, extra_up)}")
        unknown = sorted(set(expected) - set(states))
        if unknown:
            problems.append(f"the router does not list {_names(side, unknown)} as neighbors")
        extra_listed = sorted(set(states) - set(expected))
        if extra_listed and not problems:
            problems.append(f"the router lists neighbors no speaker dials: {_names(side, extra_listed)}")
        if problems:
            why = _notification(side, router)
            message = "; ".join(problems) + (f"; last notification: {why}" if why else "") + (f"; {_plan_problems(side)}" if side.plan.problems else "")
            results.append(Result(SESSIONS, f"{router.file}, {layout.CILIUM_BGP}", False, message,
                                  "the AS numbers, addresses and neighbor lists of these two files must agree"))
        else:
            results.append(Result(SESSIONS, router.file, True,
                                  f"{len(expected)}/{len(expected)} nodes Established within {seconds(took)} ({_names(side, expected)}); "
                                  f"the router lists exactly these neighbors"))
    stray = _stray_peers(side)
    if stray:
        results.append(Result(SESSIONS, layout.CILIUM_BGP, False, stray, "every peerAddress must be a router of cluster.yaml's bgp.peers"))
    return results


def _stray_peers(side: BgpSide) -> str:
    routers = {r.peer.address for r in side.routers.values()}
    stray = sorted({s.address for sp in side.plan.speakers for s in sp.sessions if s.address not in routers})
    return f"speakers dial {', '.join(map(str, stray))}, where no router of the inventory is" if stray else ""


# --- 6. routes --------------------------------------------------------------------------


def expected_routes(side: BgpSide, router: Router) -> dict[IPv4Network, set[IPv4Address]]:
    out: dict[IPv4Network, set[IPv4Address]] = {}
    for node, session in side.plan.expected(router.peer.address).items():
        for prefix in session.prefixes:
            out.setdefault(prefix, set()).add(side.speakers[node].speaker.node.ip)
    return out


def accepted(side: BgpSide) -> list[IPv4Network]:
    """What the routers should install at most: the pools and the pod range (as rendered for them)."""
    inv = side.twin.inventory
    assert inv.bgp is not None
    nets = [p.cidr for p in inv.load_balancer_pools] if inv.bgp.advertise.load_balancer_ips else []
    return nets + ([inv.kubernetes.pod_cidr] if inv.bgp.advertise.pod_cidrs else [])


def intended(side: BgpSide) -> set[IPv4Network]:
    """What cluster.yaml means to announce: one sample LoadBalancer IP per pool, and every
    node's PodCIDR. A rendering that announces less shows up as missing routes."""
    inv = side.twin.inventory
    assert inv.bgp is not None
    out = {IPv4Network(f"{sample_address(p.cidr)}/32") for p in inv.load_balancer_pools} if inv.bgp.advertise.load_balancer_ips else set()
    return out | (set(side.plan.pod_cidrs.values()) if inv.bgp.advertise.pod_cidrs else set())


def _why_not_announced(side: BgpSide, router: Router) -> str:
    sessions = side.plan.expected(router.peer.address).values()
    if sessions and not any(s.advertisements for s in sessions):
        return (f"no CiliumBGPAdvertisement in {layout.CILIUM_BGP} matches the families[].advertisements selector "
                f"of the peer config for {router.peer.name}")
    return f"no advertisement selected for {router.peer.name} announces it"


def routes(side: BgpSide, clock: Clock, extra: IPv4Network | None, prover: str | None) -> list[Result]:
    results = []
    for name, router in side.routers.items():
        expected = expected_routes(side, router)
        unannounced = sorted(intended(side) - expected.keys()) if expected or side.plan.expected(router.peer.address) else []

        def complete(router: Router = router, expected: dict[IPv4Network, set[IPv4Address]] = expected) -> bool:
            rib = router.rib()
            return all(p in rib and rib[p].next_hops == hops for p, hops in expected.items())

        clock.until(complete, ROUTES_TIMEOUT, interval=0.2)
        rib = router.rib()
        problems = []
        unusable = sorted(p for p, hops in expected.items() if p in rib and not rib[p].next_hops and rib[p].unusable == hops)
        if unusable:
            problems.append(
                f"the router holds {count(len(unusable), 'prefix', 'prefixes')} ({', '.join(map(str, unusable))}) but cannot use them: "
                f"it has no route to their next hops ({_names(side, set().union(*(rib[p].unusable for p in unusable)))})"
            )
        for prefix, hops in sorted(expected.items()):
            entry = rib.get(prefix)
            if entry is None:
                problems.append(f"{prefix} missing (announced by {_names(side, hops)})")
            elif entry.next_hops != hops and prefix not in unusable:
                problems.append(f"{prefix} via {_names(side, entry.next_hops)} instead of {_names(side, hops)}")
        if unannounced:
            problems.append(f"{', '.join(map(str, unannounced))} missing: no node announces {'it' if len(unannounced) == 1 else 'them'} ({_why_not_announced(side, router)})")
        unexpected = sorted(p for p in rib if p not in expected and p != extra)
        if unexpected:
            problems.append(f"routes nobody should announce: {', '.join(map(str, unexpected))}")
        proof = ""
        if extra and prover and prover in _expected_neighbors(side, router).values():
            sent = extra in side.advertised(prover, router.peer.address)
            if extra in rib:
                problems.append(f"{extra}, outside {', '.join(map(str, accepted(side)))}, announced by {prover}, was installed: the import filter lets it in")
            elif not sent:
                problems.append(f"the filter proof did not run: {prover} did not announce {extra}")
            else:
                proof = f"; {extra} (outside the pools) announced by {prover} was rejected"
        if not expected and not problems:
            problems.append("no prefix is announced to this router")  # cluster.yaml announces nothing: rules reject that
        if problems:
            hint = (f"what is announced comes from {layout.CILIUM_BGP} (advertisements selected by each peer config's families) "
                    f"and {layout.LB_IPPOOLS}; what is installed from the import filter of {router.file}")
            message = "; ".join(problems) + (f"; {_plan_problems(side)}" if side.plan.problems else "")
            results.append(Result(ROUTES, f"{router.file}, {layout.CILIUM_BGP}", False, message, hint))
            continue
        summary = "; ".join(f"{p} via {_names(side, h)}" for p, h in sorted(expected.items()))
        results.append(Result(ROUTES, router.file, True, f"{count(len(expected), 'prefix', 'prefixes')} with their next hops: {summary}{proof}"))
    return results


# --- 7. withdrawal ----------------------------------------------------------------------


def withdrawal(side: BgpSide, clock: Clock) -> list[Result]:
    """Stop one node's speaker: its routes leave every router within the hold time; start it
    again: they come back."""
    routers = {name: r for name, r in side.routers.items() if expected_routes(side, r)}
    # The node with sessions to the most routers: a worker when there is one (least special).
    candidates = sorted(side.speakers, key=lambda n: (-sum(n in side.plan.expected(r.peer.address) for r in routers.values()), side.speakers[n].speaker.node.role == "control-plane"))
    if not candidates or not routers:
        return [Result(WITHDRAWAL, layout.CILIUM_BGP, False, "no speaker announces anything to any router")]
    node = candidates[0]
    ip = side.speakers[node].speaker.node.ip

    def carrying(router: Router) -> set[IPv4Network]:
        """The prefixes the router holds from this node (usable or not: withdrawal is about holding)."""
        return {p for p, entry in router.rib().items() if ip in entry.next_hops | entry.unusable}

    before = {name: carrying(r) for name, r in routers.items()}
    stopped = time.monotonic()
    side.stop_speaker(node)
    gone: dict[str, float | None] = {}
    hold = {name: side.plan.expected(r.peer.address)[node].hold for name, r in routers.items() if node in side.plan.expected(r.peer.address)}
    for name, router in routers.items():
        if name not in hold:
            continue
        done, _ = clock.until(lambda r=router: not carrying(r), max(0.0, hold[name] - (time.monotonic() - stopped)) + 1.0, interval=0.2)
        gone[name] = time.monotonic() - stopped if done else None
    started = time.monotonic()
    side.start_speaker(node)
    back: dict[str, float | None] = {}
    for name, router in routers.items():
        if name not in hold:
            continue
        retry = side.plan.expected(router.peer.address)[node].connect_retry
        done, _ = clock.until(lambda r=router, n=name: carrying(r) >= before[n], retry + RETURN_SLACK, interval=0.2)
        back[name] = time.monotonic() - started if done else None
    results = []
    for name, router in routers.items():
        if name not in hold:
            continue
        withdrawn, returned = gone[name], back[name]
        if not before[name]:
            results.append(Result(WITHDRAWAL, router.file, False, f"the router held no route from {node} to withdraw"))
            continue
        ok = withdrawn is not None and withdrawn <= hold[name] and returned is not None
        parts = [f"{node}'s speaker stopped: its {count(len(before[name]), 'route')} left the router "
                 + (f"in {seconds(withdrawn)}" if withdrawn is not None else f"not within {seconds(hold[name])}")
                 + f" (hold time {seconds(hold[name])})"]
        parts.append(f"restarted: back in {seconds(returned)}" if returned is not None else "restarted: the routes did not come back")
        hint = "" if ok else f"hold time and graceful restart come from the peer config in {layout.CILIUM_BGP}"
        results.append(Result(WITHDRAWAL, router.file, ok, "; ".join(parts), hint))
    return results


# --- 8. TCP-MD5 -------------------------------------------------------------------------


def md5(side: BgpSide, clock: Clock) -> list[Result]:
    """Where a session has a password, a speaker with a wrong one must not establish; with
    the right one again it must."""
    results = []
    for name, router in side.routers.items():
        expected = side.plan.expected(router.peer.address)
        protected = sorted(node for node, session in expected.items() if session.password_ref)
        if not router.peer.auth_secret_ref and not protected:
            continue
        if not protected:
            results.append(Result(MD5, f"{router.file}, {layout.CILIUM_BGP}", False,
                                  f"{router.file} expects a TCP-MD5 password (authSecretRef {router.peer.auth_secret_ref}), but no peer config for it has authSecretRef"))
            continue
        node = protected[-1]
        side.stop_speaker(node)
        side.start_speaker(node, password="wrong-" + "x" * 16)
        samples = clock.watch(lambda: side.sessions(node).get(router.peer.address, False), WRONG_PASSWORD_WATCH, interval=0.5)
        established_wrong = any(up for _t, up in samples)
        side.stop_speaker(node)
        started = time.monotonic()
        side.start_speaker(node)
        up, _ = clock.until(lambda: side.sessions(node).get(router.peer.address), ESTABLISH_TIMEOUT, interval=0.2)
        took = time.monotonic() - started
        ok = not established_wrong and bool(up)
        message = (f"{node} with a wrong password: {'Established (the password is not checked)' if established_wrong else 'not Established'} "
                   f"in {seconds(WRONG_PASSWORD_WATCH)}; with the right one: "
                   + (f"Established in {seconds(took)}" if up else f"not Established within {seconds(ESTABLISH_TIMEOUT)}"))
        results.append(Result(MD5, router.file, ok, message, "" if ok else f"the router's password line and authSecretRef in {layout.CILIUM_BGP} must name the same secret"))
    if not results:
        results.append(Result(MD5, layout.CILIUM_BGP, True, "no BGP session has a password (authSecretRef): nothing to check"))
    return results
