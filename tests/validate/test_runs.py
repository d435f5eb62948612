"""`validate DIR...`: several repositories in one process, and a repository none of whose
inputs changed answered from its run record (no plan, no probe, no subprocess)."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import cli
from generator.validate import caches, runner, runs
from generator.validate.checks import daemons
from support import copy, edit


HAPROXY_CFG = "loadbalancers/haproxy1/haproxy.cfg"


@pytest.fixture
def haproxy_only(need_tool: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    need_tool("haproxy")
    monkeypatch.setenv(caches.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(runner, "check_modules", lambda: [daemons.haproxy_jobs])
    return tmp_path / "cache"


def validate(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(["validate", *args], out), out.getvalue()


def test_an_unchanged_repository_is_answered_from_its_run_record(reference: Path, tmp_path: Path, haproxy_only: Path) -> None:
    repo = copy(reference, tmp_path)
    code, first = validate("-C", str(repo))
    assert code == 0 and runs.record_path(haproxy_only, repo).is_file()
    shutil.rmtree(caches.results_dir(haproxy_only))  # every job's own cache gone
    code, again = validate("-C", str(repo))
    assert code == 0 and again.splitlines()[-1] == first.splitlines()[-1]
    assert not caches.results_dir(haproxy_only).exists()  # so no job ran: each would have stored its results
    edit(repo, HAPROXY_CFG, "    balance roundrobin\n", "    balanse roundrobin\n")  # an input changed: run
    code, broken = validate("-C", str(repo))
    assert code == 1 and f"FAIL  haproxy -c  {HAPROXY_CFG}" in broken
    assert caches.results_dir(haproxy_only).is_dir()


def test_a_run_with_a_skip_is_not_remembered(reference: Path, tmp_path: Path, haproxy_only: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = copy(reference, tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # haproxy gone (the tools folder has none)
    code, text = validate("-C", str(repo))
    assert code == 0 and "SKIP  haproxy -c" in text
    assert not runs.record_path(haproxy_only, repo).exists()


def test_several_repositories_in_one_process(reference: Path, tmp_path: Path, haproxy_only: Path) -> None:
    good = copy(reference, tmp_path / "a")
    bad = copy(reference, tmp_path / "b")
    edit(bad, HAPROXY_CFG, "    balance roundrobin\n", "    balanse roundrobin\n")
    code, text = validate(str(good), str(bad))
    assert code == 1
    assert text.index(f"== {good}\n") < text.index(f"== {bad}\n") < text.index(f"FAIL  haproxy -c  {HAPROXY_CFG}")
    out = io.StringIO()
    assert cli.main(["validate", "--format", "json", str(good), str(bad)], out) == 1
    documents = json.loads(out.getvalue())["repositories"]
    assert [(d["repository"], d["summary"]["failed"]) for d in documents] == [(str(good), 0), (str(bad), 1)]


def test_a_monorepo_folder_validates_each_cluster_in_it(reference: Path, tmp_path: Path, haproxy_only: Path) -> None:
    monorepo = tmp_path / "mono"
    for name in ("east", "west"):
        shutil.copytree(reference, monorepo / "clusters" / name)
    code, text = validate(str(monorepo))
    assert code == 0
    assert [line for line in text.splitlines() if line.startswith("== ")] == [f"== {monorepo / 'clusters' / n}" for n in ("east", "west")]
    code, _ = validate(str(tmp_path / "empty-folder-that-is-missing"))
    assert code == 2  # bad input


def test_the_catalog_url_is_the_caches_one() -> None:
    assert cli.CATALOG_URL == caches.CATALOG_URL


def test_a_repository_with_a_symlink_or_a_big_file_is_always_run(reference: Path, tmp_path: Path) -> None:
    """What a link points at can change unseen, and a file over the limit is the full run's to refuse."""
    repo = copy(reference, tmp_path)
    assert runs.repository_digest(repo) is not None
    (repo / "docs-link").symlink_to(tmp_path)
    assert runs.repository_digest(repo) is None
    (repo / "docs-link").unlink()
    (repo / "big.bin").write_bytes(b"x" * (runs.MAX_FILE_BYTES + 1))
    assert runs.repository_digest(repo) is None
