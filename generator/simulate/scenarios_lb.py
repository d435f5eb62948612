"""Scenarios 1-4: the API path through the VIP (keepalived + haproxy + API servers).

Each returns report lines (validate's Result) carrying its measured figure. The
bounds a scenario allows come from the rendered files themselves (advert_int, the
tracked scripts' interval x fall, haproxy's inter x fall), plus slack for scheduling
on a busy machine: what fails is a VIP that does not move, or moves far too late.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..render import layout, loadbalancer
from ..validate.base import Result
from .loadbalancers import LoadBalancerSide, Probe, Request
from .timing import Clock, count, seconds

RATE = 20  # requests per second of the steady request loop
GOAL = 3.0  # seconds: the VIP should move within this
SETTLE = 30.0  # seconds at most for the VIP to find its holder at start or after a repair
STABLE = 2.0  # seconds a holder must keep the VIP to count as settled
OBSERVE = 60.0  # seconds of watching for flapping (the "at most one move in 60 s")
MAX_MOVES = 1
LEAD = 1.0  # seconds of requests before a fault
AFTER = 2.0  # seconds of requests after the bound

VIP_CHECK = "1. VIP"
FAILOVER = "2. failover"
NO_FLAPPING = "3. no flapping"
API_LOSS = "4. API server loss"


def slack(bound: float) -> float:
    """Seconds allowed on top of a bound from the rendered timers: daemons and checks
    run late on a loaded machine (CI shares its cores)."""
    return 2.0 + bound / 4


def allowed(bound: float) -> str:
    return f"the rendered timers allow {seconds(bound)} (+{seconds(slack(bound))} for scheduling)"


def keepalived_file(side: LoadBalancerSide, lb: str) -> str:
    return f"{layout.loadbalancer_dir(side.lbs[lb].node)}/{loadbalancer.KEEPALIVED_CONF}"


def haproxy_file(side: LoadBalancerSide, lb: str) -> str:
    return f"{layout.loadbalancer_dir(side.lbs[lb].node)}/{loadbalancer.HAPROXY_CFG}"


def _all_files(side: LoadBalancerSide, pick: Callable[[LoadBalancerSide, str], str]) -> str:
    return ", ".join(pick(side, lb) for lb in side.lbs)


# --- what the rendered files promise --------------------------------------------------


@dataclass(frozen=True)
class Timers:
    advert: float  # keepalived advert_int
    scripts: dict[str, float]  # vrrp_script name -> interval x fall (seconds to notice a failure)
    rise_times: tuple[float, ...]  # interval x rise of each script (keepalived judges a script on its first run)
    check_inter: float  # haproxy server check interval
    check_fall: int
    check_rise: int

    def steady(self) -> float:
        """Seconds for every tracked script to pass after a start (rise runs of checks), then
        one master-down interval for VRRP to act on it."""
        return max([*self.rise_times, 0.0]) + self.master_down()

    def master_down(self) -> float:
        """VRRP's master-down interval (3 x advert_int + skew, skew < advert_int)."""
        return 4 * self.advert

    def script(self, name: str) -> float:
        return self.scripts.get(name, 0.0)


def _number(pattern: str, text: str, default: float) -> float:
    found = re.search(pattern, text, re.M)
    return float(found.group(1)) if found else default


def _haproxy_time(value: str) -> float:
    number, unit = re.fullmatch(r"([0-9]+)(ms|s|m)?", value).groups()  # type: ignore[union-attr]
    return int(number) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 0.001}[unit]


def timers(side: LoadBalancerSide, lb: str) -> Timers:
    keepalived = side.sources.get(keepalived_file(side, lb)).text
    scripts, rises = {}, []
    for name, body in re.findall(r"vrrp_script\s+(\S+)\s*\{([^}]*)\}", keepalived):
        interval = _number(r"^\s*interval\s+([0-9.]+)", body, 1)
        fall, rise = _number(r"^\s*fall\s+([0-9]+)", body, 1), _number(r"^\s*rise\s+([0-9]+)", body, 1)
        scripts[name] = interval * fall
        rises.append(interval * rise)
    haproxy = side.sources.get(haproxy_file(side, lb)).text
    server = re.search(r"^\s*server\s.*$", haproxy, re.M)
    line = server.group(0) if server else ""
    inter = re.search(r"\binter\s+([0-9]+(?:ms|s|m)?)", line)
    return Timers(
        advert=_number(r"^\s*advert_int\s+([0-9.]+)", keepalived, 1),
        scripts=scripts,
        rise_times=tuple(rises),
        check_inter=_haproxy_time(inter.group(1)) if inter else 2.0,  # haproxy's defaults
        check_fall=int(_number(r"\bfall\s+([0-9]+)", line, 3)),
        check_rise=int(_number(r"\brise\s+([0-9]+)", line, 2)),
    )


# --- shared steps ---------------------------------------------------------------------


def settle(side: LoadBalancerSide, clock: Clock, home: str | None = None, timeout: float = SETTLE) -> tuple[list[str], float]:
    """Wait until one load balancer has held the VIP long enough: `home` for STABLE
    seconds, or, with no home given (after a start), any one for as long as the tracked
    scripts take to reach their verdicts. Returns (holders at the end, seconds waited)."""
    start = time.monotonic()
    since: list[float] = []
    last: list[list[str]] = [[]]
    stable = STABLE if home else max(STABLE, timers(side, next(iter(side.lbs))).steady())

    def settled() -> bool:
        holders = side.holders()
        if holders != last[0]:
            last[0], since[:] = holders, [time.monotonic()]
        wanted = len(holders) == 1 and (home is None or holders[0] == home)
        return wanted and bool(since) and time.monotonic() - since[0] >= stable

    clock.until(settled, timeout + stable)
    return last[0], time.monotonic() - start


def describe(side: LoadBalancerSide, lb: str) -> str:
    node = side.lbs[lb].node
    real = side.twin.real_of(node.ip)
    return f"{lb} ({node.ip}{f' = {real}' if real else ''})"


def _failed(requests: Sequence[Request]) -> list[Request]:
    return [r for r in requests if not r.ok]


def _errors(requests: Sequence[Request]) -> str:
    kinds: dict[str, int] = {}
    for r in _failed(requests):
        kinds[r.error] = kinds.get(r.error, 0) + 1
    return "; ".join(f"{n} x {error}" for error, n in sorted(kinds.items(), key=lambda kv: -kv[1])[:3])


def _backends(side: LoadBalancerSide, lb: str) -> str:
    states = side.backends(lb)
    return ", ".join(f"{name} {state}" for name, state in states.items()) or "no answer on its stats socket"


# --- 1. VIP -----------------------------------------------------------------------------


def vip(side: LoadBalancerSide, holders: list[str], waited: float) -> Result:
    """`holders` as settle() left them after the start, `waited` seconds later."""
    files = _all_files(side, keepalived_file)
    vip_text = f"VIP {side.vip} (= {side.twin.real.api_server.vip})"
    if len(holders) != 1:
        who = " and ".join(describe(side, lb) for lb in holders) if holders else "no load balancer"
        return Result(VIP_CHECK, files, False, f"{who} held the {vip_text} after {seconds(waited)}; exactly one should",
                      "keepalived's VRRP peers do not agree: check unicast_src_ip, unicast_peer and virtual_router_id in these files")
    requests = side.probe(RATE, RATE).results()
    failed = _failed(requests)
    if failed:
        return Result(VIP_CHECK, haproxy_file(side, holders[0]), False,
                      f"{describe(side, holders[0])} holds the {vip_text}, but {len(failed)}/{len(requests)} requests to {side.url} failed "
                      f"({_errors(requests)}); haproxy's API servers: {_backends(side, holders[0])}",
                      "haproxy on the VIP holder does not reach the API servers: check the frontend bind and the backend servers in this file")
    return Result(VIP_CHECK, keepalived_file(side, holders[0]), True,
                  f"{describe(side, holders[0])} alone holds the {vip_text} (settled after {seconds(waited)}); "
                  f"{len(requests)}/{len(requests)} requests to {side.url} succeeded")


# --- 2. failover ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    name: str  # as the report says it
    cause: Callable[[str], None]  # break the holder
    repair: Callable[[str], None]
    bound: float  # seconds within which the rendered timers move the VIP
    why: str  # where that bound comes from


def faults(side: LoadBalancerSide, holder: str) -> list[Fault]:
    t = timers(side, holder)
    haproxy_check = next((n for n in t.scripts if n != "check_apiserver"), "")
    return [
        Fault("keepalived stopped", side.stop_keepalived, side.start_keepalived, t.advert,
              "a stopping keepalived sends priority 0; the backup takes over after its skew time, < advert_int"),
        Fault("haproxy stopped", side.stop_haproxy, side.start_haproxy, t.script(haproxy_check) + t.master_down(),
              f"vrrp_script {haproxy_check or '(none)'}: interval x fall = {seconds(t.script(haproxy_check))}, then a lower-priority advertisement"),
        Fault("link cut", lambda lb: side.set_link(lb, False), lambda lb: side.set_link(lb, True), t.master_down(),
              f"VRRP master-down interval 3 x advert_int + skew < {seconds(t.master_down())}"),
    ]


def failover(side: LoadBalancerSide, clock: Clock, fault: Fault, home: str) -> Result:
    """Break the VIP holder while the client sends RATE requests per second: how long until
    another load balancer holds the VIP, how many requests failed, and whether the VIP
    comes back once the holder is repaired."""
    check = f"{FAILOVER}: {fault.name}"
    files = _all_files(side, keepalived_file)
    holders, _ = settle(side, clock, home)
    if len(holders) != 1:
        return Result(check, files, False, f"no single VIP holder to start from ({' and '.join(holders) or 'none'})")
    holder = holders[0]
    limit = fault.bound + slack(fault.bound)
    probe: Probe = side.probe(RATE, int((LEAD + limit + AFTER) * RATE))
    clock.sleep(LEAD)
    broken = time.monotonic()
    fault.cause(holder)
    moved, _ = clock.until(lambda: [lb for lb in side.holders() if lb != holder], limit + AFTER)
    took = time.monotonic() - broken
    requests = probe.results()
    fault.repair(holder)
    repaired = time.monotonic()
    back, _ = settle(side, clock, holder)
    failed = _failed(requests)
    tail = requests[-RATE:] if moved else []  # the last second of the loop: service is back
    if moved:
        figure = (f"VIP moved from {holder} to {moved[0]} in {seconds(took)} (goal {seconds(GOAL)}: {'met' if took <= GOAL else 'missed'}); "
                  f"{len(failed)}/{len(requests)} requests failed")
    else:
        figure = f"the VIP stayed on {holder} for {seconds(took)} after the {fault.name}; {len(failed)}/{len(requests)} requests failed"
    ok = bool(moved) and took <= limit and not _failed(tail)
    message = f"{figure}; {allowed(fault.bound)} ({fault.why})"
    if moved and _failed(tail):
        message += f"; {len(_failed(tail))} of the last {len(tail)} requests still failed ({_errors(tail)}); haproxy on {moved[0]}: {_backends(side, moved[0])}"
    message += f"; repaired, {holder} holds it again after {seconds(time.monotonic() - repaired)}" if back == [holder] else f"; after the repair it is held by {' and '.join(back) or 'nobody'}"
    hint = "" if ok else "keepalived's tracked scripts and priorities in these files decide who takes over"
    return Result(check, files, ok, message, hint)


# --- 3. no flapping ---------------------------------------------------------------------


def moves(samples: Sequence[tuple[float, list[str]]]) -> list[tuple[float, str]]:
    """(seconds, new holder) each time a different single load balancer took the VIP."""
    out: list[tuple[float, str]] = []
    current = None
    for at, holders in samples:
        if len(holders) == 1 and holders[0] != current:
            if current is not None:
                out.append((at, holders[0]))
            current = holders[0]
    return out


def _moves_text(found: list[tuple[float, str]]) -> str:
    return ", ".join(f"to {lb} at {seconds(at)}" for at, lb in found) or "none"


def fail_back(side: LoadBalancerSide, clock: Clock, fault: Fault, home: str) -> Result:
    """The holder breaks and returns: the VIP may move back once, then stays put."""
    check = f"{NO_FLAPPING}: the holder returns"
    holders, _ = settle(side, clock, home)
    if len(holders) != 1:
        return Result(check, _all_files(side, keepalived_file), False, f"no single VIP holder to start from ({' and '.join(holders) or 'none'})")
    holder = holders[0]
    fault.cause(holder)
    taken, _ = clock.until(lambda: [lb for lb in side.holders() if lb != holder], fault.bound + SETTLE)
    fault.repair(holder)
    samples = clock.watch(side.holders, OBSERVE)
    found = moves([(0.0, taken or [holder]), *samples])
    ok = len(found) <= MAX_MOVES and len(samples[-1][1]) == 1
    message = (f"after {fault.name} on {holder} and its repair, {count(len(found), 'move')} in {seconds(OBSERVE)} "
               f"({_moves_text(found)}); held by {', '.join(samples[-1][1]) or 'nobody'} at the end")
    return Result(check, _all_files(side, keepalived_file), ok, message,
                  "" if ok else "the VIP flaps: priorities and tracked-script weights in these files let the holders take turns")


def all_apiservers_down(side: LoadBalancerSide, clock: Clock, home: str | None = None) -> Result:
    """Before `kubeadm init` no API server answers anywhere: the VIP must not flap."""
    check = f"{NO_FLAPPING}: every API server down"
    holders, _ = settle(side, clock, home)
    for cp in list(side.cps):
        side.stop_apiserver(cp)
    try:
        samples = clock.watch(side.holders, OBSERVE)
    finally:
        for cp in list(side.cps):
            side.start_apiserver(cp)
    found = moves([(0.0, holders), *samples])
    end = samples[-1][1]
    ok = len(found) <= MAX_MOVES and len(end) == 1
    message = f"with no API server answering, {count(len(found), 'move')} in {seconds(OBSERVE)} ({_moves_text(found)}); held by {', '.join(end) or 'nobody'} at the end"
    files = ", ".join([*(keepalived_file(side, lb) for lb in side.lbs), *(f"{layout.loadbalancer_dir(side.lbs[lb].node)}/{loadbalancer.CHECK_SCRIPT}" for lb in side.lbs)])
    return Result(check, files, ok, message,
                  "" if ok else "the load balancers' API checks disagree while no API server runs, so they take turns holding the VIP")


# --- 4. API server loss -----------------------------------------------------------------


def apiserver_loss(side: LoadBalancerSide, clock: Clock, home: str | None = None) -> Result:
    holders, _ = settle(side, clock, home)
    if len(holders) != 1:
        return Result(API_LOSS, _all_files(side, keepalived_file), False, f"no single VIP holder to start from ({' and '.join(holders) or 'none'})")
    holder = holders[0]
    victim = next(iter(side.cps))  # the first control plane: kubeadm init's
    t = timers(side, holder)
    bound = t.check_inter * t.check_fall
    file = haproxy_file(side, holder)
    clock.until(lambda: side.backends(holder).get(victim) == "UP", t.check_inter * t.check_rise + SETTLE)
    probe = side.probe(RATE, int((bound + slack(bound) + 2) * RATE))
    clock.sleep(0.5)
    side.stop_apiserver(victim)
    down, took = clock.until(lambda: side.backends(holder).get(victim, "").startswith("DOWN"), bound + SETTLE)
    during = probe.results()
    after = side.probe(RATE, RATE).results() if down else []
    side.start_apiserver(victim)
    clock.until(lambda: side.backends(holder).get(victim) == "UP", t.check_inter * t.check_rise + SETTLE)
    if not down:
        return Result(API_LOSS, file, False, f"haproxy on {holder} still sends to {victim} {seconds(took)} after it stopped ({_backends(side, holder)})",
                      "the backend servers need `check` (with check-ssl for the API's TLS) in this file")
    ok = took <= bound + slack(bound) and not _failed(after)
    message = (f"{victim} stopped: haproxy on {holder} marked it DOWN after {seconds(took)} ({allowed(bound)}: inter x fall); "
               f"{len(_failed(during))}/{len(during)} requests failed meanwhile; {len(after) - len(_failed(after))}/{len(after)} succeeded after")
    return Result(API_LOSS, file, ok, message, "" if ok else "haproxy's health checks of the API servers in this file are too slow or do not retry elsewhere")
