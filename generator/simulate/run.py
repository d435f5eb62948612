"""`clusterforge simulate`: build the twin's network, start the daemons, run the
scenarios (the API path and the BGP side at the same time) and take everything down
again on every way out (normal end, failure, Ctrl-C, SIGTERM).

The API path runs in four copies on separate segments (failover; API server loss;
and the two 60-second flapping watches), so they run beside each other instead of
one after the other.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Network
from pathlib import Path
from typing import TextIO

from .. import repo as repository
from ..errors import ClusterforgeError
from ..validate.base import Result
from . import scenarios_bgp, scenarios_lb, speakers
from .bgp import BgpSide
from .loadbalancers import LoadBalancerSide
from .namespaces import NamespacesUnavailable, Topology
from .timing import Aborted, Clock
from .twin import DOCUMENTATION_RANGES, Sources, Twin, build

RUN_LIMIT = 900.0  # seconds for the whole simulation, whatever hangs
START_LIMIT = 30.0  # seconds for the speakers to start
TWIN = "0. twin"
NOT_SIMULATED = (
    "not simulated: the nodes' firewalls (ufw rules of the seeds); Kubernetes itself (the API servers are stand-ins "
    "answering /healthz, /readyz and /livez; Services are one sample LoadBalancer IP per pool); FRR's zebra (FRR's "
    "routes are read from bgpd, not installed in a kernel table)"
)


def require_root_linux() -> None:
    if sys.platform != "linux":
        raise NamespacesUnavailable(f"clusterforge simulate needs Linux network namespaces; this is {sys.platform}")
    if os.geteuid() != 0:
        raise NamespacesUnavailable("clusterforge simulate creates network namespaces and runs routing daemons: run it as root (sudo)")


ALL = frozenset(range(1, 9))
API_PATH, FLAPPING, BGP = frozenset({1, 2}), frozenset({3}), frozenset({5, 6, 7, 8})


@dataclass
class Simulation:
    repo: Path
    keep: bool = False
    scenarios: frozenset[int] = ALL  # a subset runs only the parts of the network those need
    results: list[Result] = field(default_factory=list)
    topology: Topology | None = None  # once running: its token, folder and daemons
    # Where the speakers' configuration comes from: the seam where CiliumBGPNodeConfig objects
    # computed by the real operator can replace the translation of the rendered objects.
    speaker_plan: Callable[[Sources], speakers.SpeakerPlan] = speakers.plan
    notes: list[str] = field(default_factory=list)  # said in the twin's report line
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, results: list[Result]) -> None:
        with self._lock:
            self.results.extend(results)

    def run(self, err: TextIO) -> list[Result]:
        require_root_linux()
        inv = repository.load(self.repo).inventory
        twin = build(inv)
        sources = Sources(self.repo, twin)
        topology = self.topology = Topology.create(keep=self.keep)
        clock = Clock(threading.Event())
        restore = _signals_raise_interrupt()
        if not self.keep:
            atexit.register(topology.close)
        try:
            self._simulate(twin, sources, topology, clock)
        except BaseException:
            clock.abort.set()
            raise
        finally:
            restore()
            if self.keep:
                print(topology.keep_instructions(), file=err)
            else:
                topology.close()
                atexit.unregister(topology.close)
        self.add([twin_result(twin, sources, self.notes)])
        return sorted((_name_edited(r, sources) for r in self.results), key=lambda r: (r.check, r.file))

    def _simulate(self, twin: Twin, sources: Sources, topology: Topology, clock: Clock) -> None:
        inv, wanted = twin.inventory, self.scenarios
        work: list[Callable[[], list[Result]]] = []
        sides: list[LoadBalancerSide] = []
        if not inv.loadbalancers:
            skipped = [(scenarios_lb.VIP_CHECK, 1), (scenarios_lb.FAILOVER, 2), (scenarios_lb.NO_FLAPPING, 3), (scenarios_lb.API_LOSS, 4)]
            self.add([Result(name, "cluster.yaml", True, "no load balancer in cluster.yaml: no VIP to test") for name, n in skipped if n in wanted])
        else:
            if wanted & API_PATH:
                sides.append(first := LoadBalancerSide(topology, twin, sources, "a-"))
                work.append(lambda: _api_path(first, clock, wanted))
            if 4 in wanted:
                sides.append(loss := LoadBalancerSide(topology, twin, sources, "d-"))
                work.append(lambda: _apiserver_loss(loss, clock))
            if wanted & FLAPPING:
                sides += [returns := LoadBalancerSide(topology, twin, sources, "b-"), down := LoadBalancerSide(topology, twin, sources, "c-")]
                work += [lambda: _fail_back(returns, clock), lambda: _all_down(down, clock)]
            for side in sides:
                side.build()
        if wanted & BGP and not inv.bgp:
            skipped = [(scenarios_bgp.SESSIONS, 5), (scenarios_bgp.ROUTES, 6), (scenarios_bgp.WITHDRAWAL, 7), (scenarios_bgp.MD5, 8)]
            self.add([Result(name, "cluster.yaml", True, "no bgp in cluster.yaml: nothing to peer with") for name, n in skipped if n in wanted])
        elif wanted & BGP:
            plan = self.speaker_plan(sources)
            self.notes.append(f"BGP speakers: one GoBGP per selected node, configured from {plan.source}: {', '.join(plan.files)}")
            bgp_side = BgpSide.prepare(topology, twin, sources, plan)
            bgp_side.build()
            extra = scenarios_bgp.extra_prefix(bgp_side)
            prover = next(iter(bgp_side.speakers), None)
            if extra and prover:
                bgp_side.speakers[prover].extra.append(extra)
            work.append(lambda: _bgp(bgp_side, clock, wanted, extra, prover))
        self._concurrently(work, clock)

    def _concurrently(self, work: list[Callable[[], list[Result]]], clock: Clock) -> None:
        failures: list[BaseException] = []

        def worker(job: Callable[[], list[Result]]) -> None:
            try:
                self.add(job())
            except Aborted:
                pass
            except BaseException as e:  # noqa: BLE001 (re-raised in the main thread)
                failures.append(e)
                clock.abort.set()

        threads = [threading.Thread(target=worker, args=(job,), daemon=True) for job in work]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + RUN_LIMIT
        for thread in threads:
            while thread.is_alive() and time.monotonic() < deadline:
                thread.join(0.2)  # short joins: Ctrl-C and SIGTERM reach the main thread
        if any(t.is_alive() for t in threads):
            clock.abort.set()
            raise ClusterforgeError(f"the simulation did not finish within {RUN_LIMIT:.0f} s")
        if failures:
            raise failures[0]


# --- the scenario threads ----------------------------------------------------------------


def _start(side: LoadBalancerSide, clock: Clock) -> tuple[str, list[str], float]:
    """Start the daemons and settle: (the VIP's home, the holders, seconds it took)."""
    side.start()
    holders, waited = scenarios_lb.settle(side, clock)
    return (holders[0] if len(holders) == 1 else next(iter(side.lbs))), holders, waited


def _api_path(side: LoadBalancerSide, clock: Clock, wanted: frozenset[int]) -> list[Result]:
    home, holders, waited = _start(side, clock)
    results = [scenarios_lb.vip(side, holders, waited)] if 1 in wanted else []
    if 2 in wanted:
        results += [scenarios_lb.failover(side, clock, fault, home) for fault in scenarios_lb.faults(side, home)]
    return results


def _apiserver_loss(side: LoadBalancerSide, clock: Clock) -> list[Result]:
    home, _holders, _waited = _start(side, clock)
    return [scenarios_lb.apiserver_loss(side, clock, home)]


def _fail_back(side: LoadBalancerSide, clock: Clock) -> list[Result]:
    home, _holders, _waited = _start(side, clock)
    link_cut = scenarios_lb.faults(side, home)[-1]
    return [scenarios_lb.fail_back(side, clock, link_cut, home)]


def _all_down(side: LoadBalancerSide, clock: Clock) -> list[Result]:
    home, _holders, _waited = _start(side, clock)
    return [scenarios_lb.all_apiservers_down(side, clock, home)]


def _bgp(side: BgpSide, clock: Clock, wanted: frozenset[int], extra: IPv4Network | None, prover: str | None) -> list[Result]:
    broken = side.start_routers()
    errors: list[BaseException] = []

    def start(node: str) -> None:
        try:
            side.start_speaker(node)
        except BaseException as e:  # noqa: BLE001 (re-raised below, in this thread)
            errors.append(e)

    starters = [threading.Thread(target=start, args=(node,), daemon=True) for node in side.speakers]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join(START_LIMIT)
    if errors:
        raise errors[0]
    sessions = scenarios_bgp.sessions(side, clock)  # also the wait for the others
    results = sessions if 5 in wanted else []
    if broken:
        results.append(Result(scenarios_bgp.SESSIONS, ", ".join(sorted({b.split(":")[0] for b in broken})), False, "; ".join(broken)))
    if 6 in wanted:
        results += scenarios_bgp.routes(side, clock, extra, prover)
    if 7 in wanted:
        results += scenarios_bgp.withdrawal(side, clock)
    if 8 in wanted:
        results += scenarios_bgp.md5(side, clock)
    return results


# --- the twin's report line --------------------------------------------------------------


def twin_result(twin: Twin, sources: Sources, notes: list[str]) -> Result:
    outside = [m for m in twin.addresses if not any(m.sim in r for r in DOCUMENTATION_RANGES)]
    lines = ["simulated = real address (owner):"]
    lines += [f"  {m.sim} = {m.real or '(simulation only)'} ({m.owner})" for m in twin.addresses]
    lines.append(f"  node subnet {twin.node_subnet} = {twin.real.network.subnet}")
    if twin.peer_segment:
        lines.append(f"  peer segment {twin.peer_segment} = where {', '.join(twin.off_subnet_peers())} sit{'s' if len(twin.off_subnet_peers()) == 1 else ''}, behind the gateway")
    lines.append("  announced only, kept: pod, Service and LoadBalancer ranges")
    edited = sources.edited()
    if edited:
        lines.append("simulated as they are, addresses translated (they differ from what cluster.yaml renders): " + ", ".join(edited))
    if twin.inventory.bgp and any(p.router == "yamaha-rtx" for p in twin.inventory.bgp.peers):
        lines.append("a Yamaha RTX cannot run here: FRR stands in for it, configured from its rendered command list")
    lines += [*notes, NOT_SIMULATED]
    ok = not outside
    if outside:
        lines.append("addresses outside the documentation ranges: " + ", ".join(str(m.sim) for m in outside))
    return Result(TWIN, "cluster.yaml", ok, "\n".join(lines))


def _name_edited(result: Result, sources: Sources) -> Result:
    """A failure names the files it concerns; say which of them differ from what cluster.yaml renders."""
    edited = [f for f in result.file.split(", ") if f in sources.edited()]
    if result.ok or not edited:
        return result
    return replace(result, message=f"{result.message}\n(differs from what cluster.yaml renders: {', '.join(edited)})")


def _signals_raise_interrupt() -> Callable[[], None]:
    """SIGTERM ends the run the way Ctrl-C does (so `finally` cleans up); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt()

    previous = signal.signal(signal.SIGTERM, interrupt)
    return lambda: signal.signal(signal.SIGTERM, previous)


def simulate_command(repo: Path, fmt: str, keep: bool, out: TextIO, err: TextIO | None = None) -> int:
    from ..validate import report

    results = Simulation(repo, keep).run(err or sys.stderr)
    out.write(report.render(results, fmt, verbose=True))  # a handful of scenarios, each worth its line
    return report.exit_code(results)
