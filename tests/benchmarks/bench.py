"""Benchmark of issue 10's speed targets; writes docs/benchmarks.md (run by `nox -s bench`).

    python tests/benchmarks/bench.py [--clusters 1 10 50] [--docs docs/benchmarks.md] [--flate PATH]

Performance is measured here, never asserted in tests. Monorepos of N clusters are made
from the reference inventory, each cluster with its own name, addresses (node subnet and
load-balancer pool) and size (3 to 6 workers): no two clusters share a file, so caching by
content cannot turn a cold run warm. Every figure is a `clusterforge` process (or a tool's)
measured from outside: CPU seconds are the user+system time of the whole process tree
(getrusage of the children), memory the peak of the tree's summed RSS sampled every 20 ms.

The raw-tool pipeline is built by the bench in the same run: every external command a cold
`clusterforge validate` of the reference lab starts is recorded (with the scratch files it
reads kept), then the same commands are run directly, two at a time (the machine's cores),
with nothing of clusterforge around them; the network-namespace commands of the keepalived
check run in their recorded order. The ratio is clusterforge's CPU over the pipeline's.

flate (home-operations/flate, the Go rewrite of flux-local) renders the same repository
with its HelmRepository pointed at a loopback HTTP server holding the package's chart.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from generator import cli, repo
from generator.rehearse.serve import chart_server

ROOT = Path(__file__).resolve().parents[2]
PACKAGED_CHARTS = ROOT / "generator" / "data" / "offline" / "charts"
FLUX_TOOLS = ("kustomize", "helm", "kubeconform")
FLUX_CHECKS = ("kubeconform", "kustomize build", "helm template", "helm values", "gitops values", "cilium apiVersions")
FLATE_MODULE = "github.com/home-operations/flate/cmd/flate"
FLATE_TOOLCHAIN = "go1.27.3"

# Issue 10's targets: (what, unit, limit).
TARGETS = {
    "cold_cpu": ("cold validate of the reference lab, CPU", "s", 2.0),
    "cold_ratio": ("cold validate / best parallel raw-tool pipeline, CPU", "x", 1.2),
    "warm_1": ("warm validate, 1 cluster", "s", 0.3),
    "warm_50": ("warm validate, 50 clusters (one process)", "s", 1.0),
    "render_50": ("render 50 clusters", "s", 3.0),
    "check": ("clusterforge check", "s", 0.2),
    "memory_50": ("peak memory of the process tree, 50 clusters (cold)", "MB", 300.0),
}


# --- measuring a process tree ------------------------------------------------------------


@dataclass
class Measure:
    wall: float
    cpu: float  # user + system of the whole tree
    peak_mb: float  # the tree's summed RSS, sampled
    code: int = 0
    stdout: str = ""


def _children(pid: int) -> list[int]:
    found, frontier = [], [pid]
    by_parent: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            by_parent.setdefault(ppid, []).append(int(entry))
    while frontier:
        nxt = [c for p in frontier for c in by_parent.get(p, [])]
        found += nxt
        frontier = nxt
    return found


def _rss_mb(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return total / 2**20


def measure(argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> Measure:
    """Run argv to its end; its tree's CPU (getrusage of the children) and sampled peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb([proc.pid, *_children(proc.pid)]))
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}:\n{stderr[-3000:]}")
    return Measure(wall, cpu, peak[0], proc.returncode, stdout)


def best(runs: int, fn: Callable[[], Measure]) -> Measure:
    """The run with the least CPU: the machine is shared, and others' load only adds."""
    return min((fn() for _ in range(runs)), key=lambda m: m.cpu)


# --- the clusters ----------------------------------------------------------------------------


def inventory(i: int) -> str:
    """The reference inventory as cluster i: its own name, /24s and 3 + i % 4 workers."""
    text = cli.example_text().replace("name: koedo-lab", f"name: lab{i}")
    second, third = 10 + i // 100, 2 * (i % 100)
    text = text.replace("192.168.101.", f"10.{second}.{third + 1}.").replace("192.168.100.", f"10.{second}.{third}.")
    extra = "".join(
        f"  - {{name: worker{k},  role: worker,        ip: 10.{second}.{third}.{130 + k}, host: nuc{k % 3 + 1}}}\n" for k in range(4, 4 + i % 4)
    )
    anchor = next(line for line in text.splitlines(keepends=True) if line.lstrip().startswith("- {name: worker3,"))
    return text.replace(anchor, anchor + extra)


def make_monorepo(base: Path, count: int) -> Path:
    for i in range(count):
        repo.new(base / "clusters" / f"lab{i}", inventory(i))
    return base


def clusterforge(*args: str) -> list[str]:
    return [sys.executable, "-m", "generator", *args]


# --- the raw-tool pipeline ----------------------------------------------------------------


@dataclass
class Call:
    argv: list[str]
    cwd: str | None
    input: str | None = None
    env: dict[str, str] = field(default_factory=dict)


def record_calls(lab: Path, cache: Path, keep: Path) -> list[Call]:
    """Every external command a validate of `lab` with --no-cache starts, in order, with the
    scratch folders they read kept under `keep` (a separate, untimed run in this process;
    `cache` holds the tool probes of the measured run, so no probe is recorded)."""
    from generator import tools
    from generator.validate import commands

    calls: list[Call] = []
    lock = threading.Lock()
    real_run, real_helm, real_tmp = tools.run, tools.helm, tempfile.TemporaryDirectory

    def run(argv, *, cwd=None, env=None, timeout=120, ok_codes=(0,), input=None):  # type: ignore[no-untyped-def]
        with lock:
            calls.append(Call([os.fspath(a) for a in argv], None if cwd is None else os.fspath(cwd), input, dict(env or {})))
        return real_run(argv, cwd=cwd, env=env, timeout=timeout, ok_codes=ok_codes, input=input)

    def helm(*args, cwd=None, timeout=300):  # type: ignore[no-untyped-def]
        with lock:
            calls.append(Call([str(tools.require("helm")), *args], None if cwd is None else os.fspath(cwd)))
        return real_helm(*args, cwd=cwd, timeout=timeout)

    @contextlib.contextmanager
    def kept(*args, **kwargs) -> Iterator[str]:  # type: ignore[no-untyped-def]
        yield tempfile.mkdtemp(dir=keep)

    tools.run, tools.helm, tempfile.TemporaryDirectory = run, helm, kept  # type: ignore[assignment]
    os.environ["CLUSTERFORGE_CACHE_DIR"] = str(cache)
    try:
        commands.validate_command(lab, "json", True, open(os.devnull, "w"))
    finally:
        tools.run, tools.helm, tempfile.TemporaryDirectory = real_run, real_helm, real_tmp  # type: ignore[assignment]
        del os.environ["CLUSTERFORGE_CACHE_DIR"]
    return calls


def replay(calls: list[Call], workers: int) -> Measure:
    """The recorded commands run directly: the network-namespace chain (ip ... and what runs
    inside) in its order on one worker, every other command on its own, `workers` at a time."""
    chain = [c for c in calls if Path(c.argv[0]).name == "ip"]
    alone = [c for c in calls if Path(c.argv[0]).name != "ip"]

    def one(call: Call) -> None:
        subprocess.run(call.argv, cwd=call.cwd, input=call.input, env={**os.environ, **call.env}, capture_output=True, text=True,
                       stdin=None if call.input is not None else subprocess.DEVNULL)

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(lambda: [one(c) for c in chain])] + [pool.submit(one, c) for c in alone]
        for f in futures:
            f.result()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measure(time.perf_counter() - started, cpu, 0.0)


# --- flate ---------------------------------------------------------------------------------


def flate_binary(given: str | None, work: Path) -> tuple[Path | None, str]:
    """flate from --flate, PATH, or built with `go install` (Go 1.27 fetched as GOTOOLCHAIN)."""
    if given:
        path = Path(given)
        return (path, f"given: {given}") if os.access(path, os.X_OK) else (None, f"{given} (--flate) is not an executable")
    found = shutil.which("flate")
    if found:
        return Path(found), f"on PATH: {found}"
    go = shutil.which("go")
    if go is None:
        return None, "no `go` on PATH to build it with"
    gobin = work / "flate-bin"
    env = {**os.environ, "GOTOOLCHAIN": FLATE_TOOLCHAIN, "GOBIN": str(gobin)}
    done = subprocess.run([go, "install", f"{FLATE_MODULE}@latest"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        return None, f"`GOTOOLCHAIN={FLATE_TOOLCHAIN} go install {FLATE_MODULE}@latest` failed: {done.stderr.strip().splitlines()[-1:]}"
    return gobin / "flate", f"built: go install {FLATE_MODULE}@latest"


serve = chart_server  # a folder on a loopback port (the rehearsal's chart server)


def run_flate(flate: Path, lab: Path, work: Path, env: dict[str, str]) -> tuple[Measure | None, str]:
    """`flate build all` on a copy of the lab whose HelmRepository points at a loopback
    server holding the package's chart archive (with an index made by the pinned helm)."""
    copy = work / "flate-lab"
    shutil.copytree(lab, copy)
    charts = work / "flate-charts"
    charts.mkdir()
    for archive in PACKAGED_CHARTS.glob("*.tgz"):
        shutil.copy2(archive, charts)
    helmrepos = [p for p in copy.rglob("*.yaml") if re.search(r"^kind: HelmRepository$", p.read_text(), re.M)]
    with serve(charts) as url:
        from generator import tools

        subprocess.run([str(tools.require("helm")), "repo", "index", str(charts), "--url", url], check=True, capture_output=True)
        for path in helmrepos:
            path.write_text(re.sub(r"(?m)^(  url: ).*$", rf"\g<1>{url}", path.read_text()))
        from generator import loader

        version = loader.check_file(lab / "cluster.yaml").inventory.kubernetes.version
        argv = [str(flate), "build", "all", "--path", str(copy), "--cache-dir", str(work / "flate-cache"), "--kube-version", version]
        try:
            result = measure(argv, env=env)  # an empty cache: cold, as clusterforge's run
        except SystemExit as e:
            return None, f"flate failed: {str(e)[-600:]}"
    if result.code != 0:
        return None, f"flate exited {result.code}"
    if "kind: CiliumBGPClusterConfig" not in result.stdout or "name: cilium-agent" not in result.stdout:
        return None, "flate's output lacks the lab's Cilium objects or the chart's DaemonSet: it did not render what clusterforge checks"
    return result, f"`flate build all --path` on the lab, HelmRepository served from {url.rsplit(':', 1)[0]} (loopback)"


# --- the report ------------------------------------------------------------------------------


def flux_half(junit_xml: str) -> float:
    """The seconds clusterforge's Flux checks took (their JUnit suites' times)."""
    root = ET.fromstring(junit_xml)
    return sum(float(s.get("time", "0")) for s in root.iter("testsuite") if s.get("name") in FLUX_CHECKS)


def verdict(key: str, value: float, wall: float | None) -> str:
    _, unit, limit = TARGETS[key]
    shown = f"{value:.2f} {unit}" + (" CPU" if unit == "s" else "") + (f", {wall:.2f} s wall" if wall is not None else "")
    if value <= limit:
        return f"met ({shown}; target ≤ {limit:g} {unit})"
    return f"missed by {value - limit:.2f} {unit} ({shown}; target ≤ {limit:g} {unit})"


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.processor())
    load = os.getloadavg()[0]
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}, load average {load:.1f} at the start"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--docs", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--flate", help="a flate binary (default: PATH, else built with go install)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each quick measurement (the least CPU is kept)")
    args = parser.parse_args()
    started = datetime.now(timezone.utc)
    header = machine()
    rows: list[tuple[str, str, str]] = []  # (what, figures, target)
    figures: dict[str, float] = {}  # what each target is judged on: CPU seconds of the process tree
    walls: dict[str, float] = {}  # and, for the time targets, the wall-clock seconds beside them
    with tempfile.TemporaryDirectory(prefix="clusterforge-bench-") as tmp:
        work = Path(tmp)
        base_env = {**os.environ}
        for count in args.clusters:
            mono = make_monorepo(work / f"mono{count}", count)
            env = {**base_env, "CLUSTERFORGE_CACHE_DIR": str(work / f"cache{count}")}
            cold = measure(clusterforge("validate", str(mono)), env=env)
            warm = best(args.repeat, lambda: measure(clusterforge("validate", str(mono)), env=env))
            rows.append((f"validate {count} cluster(s), cold (empty cache)", f"{cold.cpu:.2f} CPU-s, {cold.wall:.2f} s wall, peak {cold.peak_mb:.0f} MB", ""))
            rows.append((f"validate {count} cluster(s), warm", f"{warm.cpu:.2f} CPU-s, {warm.wall:.2f} s wall", ""))
            if cold.code or warm.code:
                rows.append((f"validate {count}: FAILED", cold.stdout[-500:], ""))
            if count == 1:
                figures["warm_1"], walls["warm_1"] = warm.cpu, warm.wall
            if count == 50:
                figures["warm_50"], walls["warm_50"] = warm.cpu, warm.wall
                figures["memory_50"] = cold.peak_mb
                render = best(args.repeat, lambda: measure(
                    [sys.executable, "-c", RENDER_ALL, *map(str, sorted((mono / "clusters").iterdir()))], env=env))
                figures["render_50"], walls["render_50"] = render.cpu, render.wall
                rows.append(("render 50 clusters (load + render, one process)", f"{render.cpu:.2f} CPU-s, {render.wall:.2f} s wall", ""))
        # The reference lab itself: cold CPU, the raw pipeline, flate.
        lab = work / "lab"
        repo.new(lab, cli.example_text())
        env = {**base_env, "CLUSTERFORGE_CACHE_DIR": str(work / "cache-lab")}
        cold = measure(clusterforge("validate", "--format", "junit", "-C", str(lab)), env=env)
        figures["cold_cpu"] = cold.cpu
        if cold.code:
            rows.append(("reference lab: validate FAILED", cold.stdout[-500:], ""))
        keep = work / "kept"
        keep.mkdir()
        calls = record_calls(lab, work / "cache-lab", keep)  # its tool probes are cached: none is recorded
        raw = best(args.repeat, lambda: replay(calls, os.cpu_count() or 1))
        figures["cold_ratio"] = cold.cpu / raw.cpu
        rows.append(("reference lab, cold validate (empty cache)", f"{cold.cpu:.2f} CPU-s, {cold.wall:.2f} s wall, peak {cold.peak_mb:.0f} MB", ""))
        rows.append((f"reference lab, raw-tool pipeline ({len(calls)} commands)", f"{raw.cpu:.2f} CPU-s, {raw.wall:.2f} s wall", ""))
        lab_env = {**base_env, "CLUSTERFORGE_CACHE_DIR": str(work / "cache-lab")}
        check = best(max(5, args.repeat), lambda: measure(clusterforge("check", str(lab / "cluster.yaml")), env=lab_env))
        figures["check"], walls["check"] = check.cpu, check.wall
        rows.append(("clusterforge check", f"{check.cpu:.2f} CPU-s, {check.wall:.2f} s wall", ""))
        flux = flux_half(cold.stdout)
        binary, how = flate_binary(args.flate, work)
        if binary is None:
            rows.append(("flate (Flux render of the lab)", f"could not run: {how}", ""))
        else:
            result, note = run_flate(binary, lab, work, base_env)
            if result is None:
                rows.append(("flate (Flux render of the lab)", f"could not run ({how}): {note}", ""))
            else:
                rows.append(("flate build all (Flux render of the lab)", f"{result.cpu:.2f} CPU-s, {result.wall:.2f} s wall; {note}; {how}", ""))
        flux_calls = [c for c in calls if Path(c.argv[0]).name in FLUX_TOOLS]
        flux_raw = best(args.repeat, lambda: replay(flux_calls, os.cpu_count() or 1))
        rows.append(("clusterforge's Flux tool calls of that run, run directly (kustomize, helm, kubeconform)",
                     f"{flux_raw.cpu:.2f} CPU-s, {flux_raw.wall:.2f} s wall ({len(flux_calls)} commands)", ""))
        rows.append(("clusterforge, the Flux checks of the cold run", f"{flux:.2f} s of their jobs (from its JUnit report)", ""))
    lines = [
        "# Benchmarks",
        "",
        "Written by `nox -s bench` (tests/benchmarks/bench.py); do not edit by hand.",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        f"- machine: {header}",
        f"- clusters: monorepos of {', '.join(map(str, args.clusters))} clusters that differ in name, addresses and workers",
        "",
        "## Targets (issue 10)",
        "",
        "| target | result |",
        "|---|---|",
        *(f"| {TARGETS[key][0]} | {verdict(key, figures[key], walls.get(key))} |" for key in TARGETS if key in figures),
        "",
        "Every time target is judged on the CPU seconds of the whole process tree: the machine is shared",
        "(see the load average above), so wall time measures the neighbours as much as clusterforge;",
        "it is shown beside. The flate row and the Flux checks of clusterforge's cold run compare the Flux",
        "half of the work: flate renders (kustomize, helm), clusterforge also validates with kubeconform.",
        "",
        "## Figures",
        "",
        "| run | figures |",
        "|---|---|",
        *(f"| {what} | {value} |" for what, value, _ in rows),
        "",
    ]
    args.docs.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


# Load and render every repository given, in one process: what `render` does before writing.
RENDER_ALL = """
import sys
from pathlib import Path
from generator import loader
from generator.render import tree
for path in sys.argv[1:]:
    tree.render(loader.check_file(Path(path) / "cluster.yaml").inventory)
"""


if __name__ == "__main__":
    main()
