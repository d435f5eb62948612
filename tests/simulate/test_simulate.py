"""`clusterforge simulate` for real: the reference home lab and the eBGP variant pass
every scenario, each breakage a person would make fails the scenario it should and
names the file, and nothing is left behind on any way out."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from generator import tools
from generator.render import layout
from generator.simulate import namespaces
from generator.simulate.run import Simulation
from generator.validate import report
from generator.validate.base import Result
from support import copy, edit, processes_mentioning

pytestmark = [pytest.mark.netns, pytest.mark.tools]

CHECKS = [
    "0. twin",
    "1. VIP",
    "2. failover: haproxy stopped",
    "2. failover: keepalived stopped",
    "2. failover: link cut",
    "3. no flapping: every API server down",
    "3. no flapping: the holder returns",
    "4. API server loss",
    "5. BGP sessions",
    "6. routes",
    "7. withdrawal",
    "8. TCP-MD5",
]


def by_check(results: list[Result], check: str) -> list[Result]:
    found = [r for r in results if r.check == check]
    assert found, f"no report line for {check}"
    return found


def failed(results: list[Result]) -> dict[str, Result]:
    return {r.check: r for r in results if not r.ok}


def run(root: Path, *scenarios: int) -> tuple[list[Result], Simulation]:
    simulation = Simulation(root, scenarios=frozenset(scenarios) if scenarios else Simulation.scenarios)
    return simulation.run(sys.stderr), simulation


# --- whole runs --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference_run(reference: Path, namespaces: None) -> list[Result]:
    return run(reference)[0]


@pytest.fixture(scope="module")
def ebgp_run(ebgp: Path, namespaces: None) -> list[Result]:
    return run(ebgp)[0]


@pytest.mark.parametrize("check", CHECKS)
def test_reference_lab_passes(reference_run: list[Result], check: str) -> None:
    for result in by_check(reference_run, check):
        assert result.ok, f"{result.file}: {result.message}"


@pytest.mark.parametrize("check", CHECKS)
def test_ebgp_variant_passes(ebgp_run: list[Result], check: str) -> None:
    for result in by_check(ebgp_run, check):
        assert result.ok, f"{result.file}: {result.message}"


def test_reference_report_says_what_stands_for_what(reference_run: list[Result]) -> None:
    twin = by_check(reference_run, "0. twin")[0].message
    assert "192.0.2.4 = 192.168.100.4 (API VIP)" in twin
    assert "FRR stands in for it" in twin
    assert [r.file for r in by_check(reference_run, "5. BGP sessions")] == ["routers/rtx1220/rtx.txt"]
    assert "6/6 nodes Established" in by_check(reference_run, "5. BGP sessions")[0].message
    assert "198.18.0.0/24 (outside the pools) announced by cp1 was rejected" in by_check(reference_run, "6. routes")[0].message


def test_ebgp_variant_exercises_both_routers_multihop_and_md5(ebgp_run: list[Result]) -> None:
    assert sorted(r.file for r in by_check(ebgp_run, "6. routes")) == ["routers/edge/bird.conf", "routers/tor/frr.conf"]
    assert "peer segment 198.51.100.0/24 = where edge sits, behind the gateway" in by_check(ebgp_run, "0. twin")[0].message
    md5 = by_check(ebgp_run, "8. TCP-MD5")
    assert [r.file for r in md5] == ["routers/edge/bird.conf"]
    assert "with a wrong password: not Established" in md5[0].message


# --- breakages: one per scenario family, each fails and names the file -------------------


def test_wrong_asn_in_the_router_config_fails_the_sessions(reference: Path, tmp_path: Path, namespaces: None) -> None:
    root = copy(reference, tmp_path)
    edit(root, "routers/rtx1220/rtx.txt", "bgp autonomous-system 64513", "bgp autonomous-system 64514")
    results, _ = run(root, 5)
    bad = failed(results)["5. BGP sessions"]
    assert "routers/rtx1220/rtx.txt" in bad.file and "not Established" in bad.message
    assert "differs from what cluster.yaml renders: routers/rtx1220/rtx.txt" in bad.message


def test_wrong_backend_port_in_haproxy_fails_the_vip(reference: Path, tmp_path: Path, namespaces: None) -> None:
    root = copy(reference, tmp_path)
    for lb in ("haproxy1", "haproxy2"):
        edit(root, f"loadbalancers/{lb}/haproxy.cfg", ":6443 check", ":6444 check", every=True)
    results, _ = run(root, 1)
    bad = failed(results)["1. VIP"]
    assert bad.file.endswith("/haproxy.cfg") and "requests to https://192.0.2.4:6443/healthz failed" in bad.message
    assert "cp1 DOWN" in bad.message


def test_wrong_keepalived_peer_address_fails_the_vip(reference: Path, tmp_path: Path, namespaces: None) -> None:
    root = copy(reference, tmp_path)
    edit(root, "loadbalancers/haproxy1/keepalived.conf", "unicast_peer {\n        192.168.100.3", "unicast_peer {\n        192.168.100.9")
    results, _ = run(root, 1)
    bad = failed(results)["1. VIP"]
    assert "haproxy1" in bad.message and "haproxy2" in bad.message and "exactly one should" in bad.message
    assert "loadbalancers/haproxy1/keepalived.conf" in bad.file
    assert "differs from what cluster.yaml renders: loadbalancers/haproxy1/keepalived.conf" in bad.message


def test_advertisement_matching_no_peer_config_fails_the_routes(reference: Path, tmp_path: Path, namespaces: None) -> None:
    root = copy(reference, tmp_path)
    edit(root, layout.CILIUM_BGP, "  labels:\n    advertise: bgp", "  labels:\n    advertise: bgp-typo")
    results, simulation = run(root, 6)
    bad = failed(results)["6. routes"]
    assert layout.CILIUM_BGP in bad.file and "192.168.101.1/32 missing: no node announces it (no CiliumBGPAdvertisement" in bad.message
    assert_nothing_left(simulation.topology)


# --- nothing left behind ---------------------------------------------------------------


def assert_nothing_left(topology: namespaces.Topology | None) -> None:
    assert topology is not None
    prefix = f"cf{topology.token}-"
    listed = tools.run(["ip", "netns", "list"]).stdout
    assert prefix not in listed
    assert not topology.directory.exists()
    assert processes_mentioning(str(topology.directory)) == []
    assert f"cf-{topology.token}" not in Path("/proc/mounts").read_text()  # the machines' own /var/tmp


def _started(root: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """`clusterforge simulate` in a child process, once its daemons run: (process, its folder)."""
    before = set(Path("/tmp").glob("cf*-simulate-*"))
    process = subprocess.Popen([sys.executable, "-m", "generator", "simulate", "-C", root], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(300):  # up to 30 s for the daemons to run
        new = set(Path("/tmp").glob("cf*-simulate-*")) - before
        if len(new) == 1 and [p for p in processes_mentioning(str(next(iter(new)))) if "keepalived" in p or "gobgpd" in p]:
            return process, new.pop()
        time.sleep(0.1)
    process.kill()
    raise AssertionError("the simulation did not start its daemons")


def test_sigterm_stops_everything(reference: Path, namespaces: None) -> None:
    """A run ended from outside (SIGTERM, as Ctrl-C) removes its namespaces, processes and files."""
    process, directory = _started(reference)
    try:
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    token = directory.name.split("-")[0]
    assert f"{token}-" not in tools.run(["ip", "netns", "list"]).stdout
    assert not directory.exists()
    assert processes_mentioning(str(directory)) == []


def test_sigkill_leaves_no_daemon_running(reference: Path, namespaces: None) -> None:
    """An uncatchable kill cannot clean up, but takes every daemon with it (each machine dies
    with clusterforge); only the named namespaces and the folder stay, as the docs say."""
    process, directory = _started(reference)
    token = directory.name.split("-")[0]
    try:
        process.kill()
        process.communicate(timeout=60)
        for _ in range(50):
            if not processes_mentioning(str(directory)):
                break
            time.sleep(0.1)
        assert processes_mentioning(str(directory)) == []
    finally:
        for name in tools.run(["ip", "netns", "list"]).stdout.split():
            if name.startswith(f"{token}-"):
                tools.run(["ip", "netns", "delete", name])
        shutil.rmtree(directory, ignore_errors=True)


def test_keep_leaves_it_running_and_says_how_to_remove_it(reference: Path, namespaces: None) -> None:
    err = io.StringIO()
    simulation = Simulation(reference, keep=True, scenarios=frozenset({5}))
    try:
        results = simulation.run(err)
        topology = simulation.topology
        assert topology is not None and [r.ok for r in results] == [True, True]
        prefix = f"cf{topology.token}-"
        assert f"{prefix}bgp-cp1" in tools.run(["ip", "netns", "list"]).stdout
        assert [p for p in processes_mentioning(str(topology.directory)) if "gobgpd" in p]
        instructions = err.getvalue()
        assert f"sudo nsenter -t {topology.machines[0].init_pid} -p -m -n bash" in instructions
    finally:
        # The printed removal, as a person would run it (without sudo: the tests run as root).
        removal = err.getvalue().split("Remove it with:\n", 1)[1]
        for line in removal.splitlines():
            subprocess.run(line.strip().removeprefix("sudo ").replace("sudo ", ""), shell=True, check=True, timeout=60)
    time.sleep(0.5)  # the killed machines' daemons exit
    assert prefix not in tools.run(["ip", "netns", "list"]).stdout
    assert not topology.directory.exists()
    assert processes_mentioning(str(topology.directory)) == []


def test_the_report_comes_in_every_format(reference_run: list[Result]) -> None:
    assert json.loads(report.render(reference_run, "json"))["summary"]["passed"] >= len(CHECKS) - 1
    suites = ET.fromstring(report.render(reference_run, "junit"))
    assert {s.get("name") for s in suites} == set(CHECKS)


def test_not_root_is_a_clear_error(reference: Path) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv to run as another user")
    done = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "generator", "simulate", "-C", reference],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2
    assert "run it as root" in done.stderr
