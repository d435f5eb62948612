"""A checker whose Debian daemon is not installed (a macOS laptop) is a SKIP with the
install hint and a closing warning, not a failure; `--strict` (CI) fails on it. The
daemon really is missing here: PATH is cut to the folders that do not hold haproxy."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import cli, loader
from generator.errors import ToolMissing
from generator.validate import commands, report, runner
from generator.validate.base import Context, Job, Result
from generator.validate.checks import daemons
from support import copy



@pytest.fixture
def without_haproxy(need_tool: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """haproxy is installed (else there is nothing to take away), then gone from every search folder."""
    haproxy = need_tool("haproxy")
    path = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "haproxy").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    assert haproxy.parent.as_posix() not in path
    monkeypatch.setenv("CLUSTERFORGE_CACHE_DIR", str(tmp_path / "cache"))
    # Only the haproxy check: the others' tools and results are their own tests' business.
    monkeypatch.setattr(runner, "check_modules", lambda: [daemons.haproxy_jobs])


def test_a_missing_daemon_is_skipped_with_its_hint_and_a_warning(reference: Path, tmp_path: Path, without_haproxy: None) -> None:
    repo = copy(reference, tmp_path)
    out = io.StringIO()
    assert commands.validate_command(repo, "text", False, out) == 0
    text = out.getvalue()
    assert "SKIP  haproxy -c  loadbalancers/haproxy1/haproxy.cfg" in text
    assert "hint: apt-get install haproxy" in text
    assert text.splitlines()[-1].startswith("warning: 1 check(s) skipped for want of their tool (haproxy -c)")


def test_strict_fails_on_a_skip(reference: Path, tmp_path: Path, without_haproxy: None) -> None:
    repo = copy(reference, tmp_path)
    out = io.StringIO()
    assert cli.main(["validate", "-C", str(repo), "--strict"], out) == 1
    assert "--strict fails on it" in out.getvalue()


def test_a_skip_is_never_cached(reference: Path, tmp_path: Path, without_haproxy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = copy(reference, tmp_path)
    commands.validate_command(repo, "text", False, io.StringIO())
    monkeypatch.undo()  # haproxy is back: the same run now judges the files
    monkeypatch.setenv("CLUSTERFORGE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "check_modules", lambda: [daemons.haproxy_jobs])
    out = io.StringIO()
    assert commands.validate_command(repo, "json", False, out) == 0
    data = json.loads(out.getvalue())
    assert data["summary"]["skipped"] == 0 and data["summary"]["passed"] == len(data["results"]) > 0


def test_json_and_junit_keep_the_skips(reference: Path, tmp_path: Path, without_haproxy: None) -> None:
    repo = copy(reference, tmp_path)
    out = io.StringIO()
    commands.validate_command(repo, "json", False, out)
    data = json.loads(out.getvalue())
    assert data["summary"]["skipped"] == len(data["results"]) > 0
    assert all(r["skipped"] and r["hint"] == "apt-get install haproxy" for r in data["results"])
    out = io.StringIO()
    commands.validate_command(repo, "junit", False, out)
    root = ET.fromstring(out.getvalue())
    assert root.get("skipped") == str(len(data["results"])) and root.get("failures") == "0"
    assert [s.get("message") for s in root.iter("skipped")] == [r["message"] for r in data["results"]]


def test_a_missing_go_tool_still_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only Debian checkers may be skipped: the pinned tools are always there to install."""
    def jobs(_: Context) -> list[Job]:
        def run() -> list[Result]:
            raise ToolMissing("kubeconform", "nox -s tools")

        return [Job("kubeconform", ("a.conf",), run)]

    inv = loader.check_text(cli.example_text(), "cluster.yaml").inventory
    [result] = runner.run(Context(tmp_path, inv, tmp_path / "cache"), factories=[jobs])
    assert not result.ok and not result.skipped and report.exit_code([result]) == 1
