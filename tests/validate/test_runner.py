from __future__ import annotations

import io
import json
import os
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from generator import repo as repository
from generator.errors import InventoryError, ToolMissing
from generator.validate import caches, commands, report, runner
from generator.validate.base import Context, Job, Result

from . import example_repo, fill_cache

EXAMPLE_TEXT = (Path(__file__).resolve().parents[2] / "generator/data/cluster.example.yaml").read_text()


@pytest.fixture
def ctx(tmp_path: Path) -> Context:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.conf").write_text("one\n")
    (repo / "b.conf").write_text("two\n")
    inv = repository.loader.check_text(EXAMPLE_TEXT, "cluster.yaml").inventory
    return Context(repo, inv, tmp_path / "cache")


class Counting:
    """A check whose job counts its runs and passes when a.conf says "one"."""

    def __init__(self) -> None:
        self.runs = 0

    def jobs(self, ctx: Context) -> list[Job]:
        def run() -> list[Result]:
            self.runs += 1
            ok = (ctx.repo / "a.conf").read_text() == "one\n"
            return [Result("counting", "a.conf", True) if ok else Result("counting", "a.conf", False, "a.conf is not one", "write one")]

        return [Job("counting", ("a.conf",), run, "counting 1.0")]


def test_results_are_reused_until_an_input_changes(ctx: Context) -> None:
    check = Counting()
    first = runner.run(ctx, factories=[check.jobs])
    assert runner.run(ctx, factories=[check.jobs]) == first == [Result("counting", "a.conf", True)]
    assert check.runs == 1
    (ctx.repo / "b.conf").write_text("not an input\n")
    runner.run(ctx, factories=[check.jobs])
    assert check.runs == 1
    (ctx.repo / "a.conf").write_text("other\n")
    [failed] = runner.run(ctx, factories=[check.jobs])
    assert check.runs == 2 and not failed.ok and failed.hint == "write one"
    assert runner.run(ctx, factories=[check.jobs]) == [failed]  # failures are cached too
    assert check.runs == 2


def test_no_cache_runs_again_but_still_writes(ctx: Context) -> None:
    check = Counting()
    runner.run(ctx, factories=[check.jobs], use_cache=False)
    runner.run(ctx, factories=[check.jobs], use_cache=False)
    assert check.runs == 2
    runner.run(ctx, factories=[check.jobs])
    assert check.runs == 2
    assert len(list(caches.results_dir(ctx.cache_dir).glob("*.json"))) == 1


def test_the_key_covers_tool_version_and_extra_key(ctx: Context) -> None:
    def job(version: str, extra: str) -> Job:
        return Job("c", ("a.conf",), list, version, extra)

    keys = {runner.cache_key(job(v, e), ctx.repo) for v, e in (("1", ""), ("2", ""), ("1", "flags"))}
    assert len(keys) == 3
    assert runner.cache_key(job("1", ""), ctx.repo) == runner.cache_key(job("1", ""), ctx.repo)


def test_a_missing_tool_fails_the_job_and_is_not_cached(ctx: Context) -> None:
    calls = []

    def jobs(_: Context) -> list[Job]:
        def run() -> list[Result]:
            calls.append(1)
            raise ToolMissing("kubeconform", "clusterforge tools install")

        return [Job("kubeconform", ("a.conf",), run, "")]

    [result] = runner.run(ctx, factories=[jobs])
    assert not result.ok and "kubeconform not found" in result.message and result.hint == "clusterforge doctor"
    runner.run(ctx, factories=[jobs])
    assert len(calls) == 2


def test_jobs_with_one_key_in_one_run_store_their_results_side_by_side(ctx: Context) -> None:
    """Two workers storing the same key at once each write their own scratch file."""
    check = Counting()
    results = runner.run(ctx, factories=[check.jobs] * 16, use_cache=False, workers=4)
    assert results == [Result("counting", "a.conf", True)] * 16


def test_jobs_run_in_parallel_within_the_bound(ctx: Context) -> None:
    lock, running, peak = threading.Lock(), [0], [0]

    def jobs(_: Context) -> list[Job]:
        def make(i: int) -> Job:
            def run() -> list[Result]:
                with lock:
                    running[0] += 1
                    peak[0] = max(peak[0], running[0])
                time.sleep(0.05)
                with lock:
                    running[0] -= 1
                return [Result("sleep", f"f{i}", True)]

            return Job("sleep", (), run, extra_key=str(i))

        return [make(i) for i in range(8)]

    results = runner.run(ctx, factories=[jobs], use_cache=False, workers=3)
    assert [r.file for r in results] == [f"f{i}" for i in range(8)]
    assert peak[0] == 3


def test_every_module_in_checks_is_found() -> None:
    names = {f.__module__.rsplit(".", 1)[1] for f in runner.check_modules()}
    assert {"kubeconform", "helm"} <= names


# --- report ----------------------------------------------------------------------------

RESULTS = [
    Result("haproxy -c", "lb/haproxy.cfg", True),
    Result("kubeconform", "infra", False, "v1/ConfigMap x: at '/data': got object\n  second line", "fix it"),
    Result("kubeconform", "clusters/a.yaml", True),
]


def test_text_report_shows_a_line_per_check_and_every_failure_in_full() -> None:
    assert report.text(RESULTS, timings={"haproxy -c": 0.014, "kubeconform": 0.3149}) == (
        "PASS  haproxy -c   1 file  0.01 s\n"
        "FAIL  kubeconform  2 files, 1 failed  0.31 s\n"
        "FAIL  kubeconform  infra\n"
        "    v1/ConfigMap x: at '/data': got object\n"
        "      second line\n"
        "    hint: fix it\n"
        "2 passed, 1 failed, 0 skipped\n"
    )


def test_verbose_text_report_shows_every_result() -> None:
    assert report.text(RESULTS, verbose=True) == (
        "PASS  haproxy -c   1 file\n"
        "FAIL  kubeconform  2 files, 1 failed\n"
        "PASS  haproxy -c  lb/haproxy.cfg\n"
        "FAIL  kubeconform  infra\n"
        "    v1/ConfigMap x: at '/data': got object\n"
        "      second line\n"
        "    hint: fix it\n"
        "PASS  kubeconform  clusters/a.yaml\n"
        "2 passed, 1 failed, 0 skipped\n"
    )


def test_a_run_times_each_check_and_reports_progress(ctx: Context) -> None:
    check, seen = Counting(), []
    timings: dict[str, float] = {}
    runner.run(ctx, factories=[check.jobs, check.jobs], timings=timings, progress=lambda *a: seen.append(a))
    assert set(timings) == {"counting"} and timings["counting"] > 0
    assert seen == [(1, 2, "counting"), (2, 2, "counting")]


def test_the_progress_line_is_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    primary, secondary = os.openpty()
    with os.fdopen(secondary, "w") as terminal:
        with commands.progress_line(terminal) as progress:
            assert progress is not None
            progress(1, 2, "kubeconform")
    drawn = b""
    while True:  # all of it: a terminal may hand it over in parts; EIO once the other end is closed
        try:
            chunk = os.read(primary, 1000)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(primary)
    assert drawn.startswith(b"\r\x1b[K[1/2] kubeconform") and drawn.endswith(b"\r\x1b[K")
    with (tmp_path / "report.txt").open("w") as file, commands.progress_line(file) as progress:
        assert progress is None
    with commands.progress_line(io.StringIO()) as progress:
        assert progress is None


def test_json_report() -> None:
    data = json.loads(report.as_json(RESULTS))
    assert data["summary"] == {"passed": 2, "failed": 1, "skipped": 0}
    assert data["results"][1] == {"check": "kubeconform", "file": "infra", "ok": False, "message": RESULTS[1].message, "hint": "fix it", "skipped": False}


def test_junit_report() -> None:
    root = ET.fromstring(report.junit(RESULTS))
    assert root.get("tests") == "3" and root.get("failures") == "1"
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"haproxy -c", "kubeconform"}
    assert suites["kubeconform"].get("failures") == "1"
    [failure] = suites["kubeconform"].iter("failure")
    assert failure.get("message") == "v1/ConfigMap x: at '/data': got object"
    assert "hint: fix it" in (failure.text or "")
    assert [c.get("name") for c in suites["kubeconform"].iter("testcase")] == ["clusters/a.yaml", "infra"]


def test_exit_codes() -> None:
    assert report.exit_code(RESULTS) == 1
    assert report.exit_code(RESULTS[:1]) == 0


# --- the command end to end ----------------------------------------------------------------


@pytest.mark.tools
def test_validate_command_on_a_new_repository(need_tool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for tool in ("helm", "kustomize", "kubeconform"):
        need_tool(tool)
    cache = fill_cache(tmp_path / "cache")
    monkeypatch.setenv(caches.CACHE_ENV, str(cache))
    repo = example_repo(tmp_path / "repo")
    # Only this module's checks: the others' tools and results are their own tests' business.
    only_ours = [f for f in runner.check_modules() if f.__module__.endswith((".helm", ".kubeconform"))]
    monkeypatch.setattr(runner, "check_modules", lambda: only_ours)
    out = io.StringIO()
    assert commands.validate_command(repo, "json", False, out) == 0
    data = json.loads(out.getvalue())
    assert data["summary"] == {"passed": 6, "failed": 0, "skipped": 0}
    assert {r["check"] for r in data["results"]} == {"kubeconform", "helm template", "helm values"}
    values = repo / "infrastructure/controllers/cilium/values.yaml"
    values.write_text(values.read_text() + "bgp: {enabled: true}\n")
    out = io.StringIO()
    assert commands.validate_command(repo, "text", False, out) == 1
    assert "FAIL  helm values  infrastructure/controllers/cilium/helmrelease.yaml" in out.getvalue()
    assert "PASS  kubeconform" in out.getvalue() and "PASS  kubeconform  clusters" not in out.getvalue()  # passes only with -v
    assert out.getvalue().endswith("5 passed, 1 failed, 0 skipped\n")


def test_validate_command_on_a_bad_inventory_exits_2(tmp_path: Path) -> None:
    (tmp_path / "cluster.yaml").write_text("name: x\n")
    with pytest.raises(InventoryError) as caught:
        commands.validate_command(tmp_path, "text", False, io.StringIO())
    assert caught.value.exit_code == 2
