"""The README's main job and a generated repository's `nox -s validate`, run with no
network at all (a fresh network namespace: `unshare -n`, as root) and no ../shared."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.validate import caches

from . import CATALOG, CHARTS, EXAMPLE

ROOT = Path(__file__).resolve().parents[2]
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")  # as tests/conftest.py: CI must run every test
BLOCKED = "import socket; s = socket.socket(); s.settimeout(5); s.connect(('1.1.1.1', 443))"


def _no_network_prefix() -> list[str]:
    """`unshare -n --`, checked to really cut the network; skips outside CI when it cannot."""
    unshare = shutil.which("unshare")
    done = subprocess.run([unshare, "-n", "--", sys.executable, "-c", BLOCKED], capture_output=True, text=True) if unshare else None
    if done is None or "Network is unreachable" not in done.stderr:
        reason = "cannot run without network: `unshare -n` (util-linux, as root) is needed to make a network namespace"
        detail = "" if done is None else f" ({done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode})"
        if IN_CI:
            pytest.fail(reason + detail)
        pytest.skip(reason + detail)
    return [unshare, "-n", "--"]


@pytest.fixture
def offline_env(tmp_path: Path, need_tool: Callable[..., Path]) -> dict[str, str]:
    for name in ("kubeconform", "helm", "kustomize"):
        need_tool(name)
    env = {**os.environ, caches.CACHE_ENV: str(tmp_path / "cache")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # this venv's clusterforge
    return env


def test_the_demo_works_offline_from_an_empty_cache(tmp_path: Path, offline_env: dict[str, str]) -> None:
    prefix = _no_network_prefix()
    spec = importlib.util.spec_from_file_location("project_noxfile", ROOT / "noxfile.py")
    assert spec and spec.loader
    noxfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(noxfile)
    work = tmp_path / "work"  # no ../shared beside it
    work.mkdir()
    for command in noxfile.demo_commands(work / "koedo-lab", strict=IN_CI):
        done = subprocess.run([*prefix, sys.executable, "-m", "generator", *command], cwd=work, env=offline_env, capture_output=True, text=True)
        assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert " 0 failed, 0 skipped" in done.stdout
    assert not (tmp_path / "cache" / "charts").exists()  # nothing was pulled: the package's data served


def test_a_generated_repository_validates_offline_with_full_caches(tmp_path: Path, offline_env: dict[str, str]) -> None:
    prefix = _no_network_prefix()
    inventory = tmp_path / "cluster.yaml"  # with a chart the package lacks
    inventory.write_text(EXAMPLE.read_text(encoding="utf-8").replace("version: 1.19.6", "version: 1.20.0"), encoding="utf-8")
    repo = tmp_path / "lab"
    subprocess.run([sys.executable, "-m", "generator", "new", str(repo), "--inventory", str(inventory)], env=offline_env, check=True, capture_output=True)
    # Fill the user cache once, as its session would online (a local mirror stands in for upstream).
    for command in (["charts", "pull", "--mirror", CHARTS.as_uri()], ["schemas", "pull", "--from", str(CATALOG)]):
        subprocess.run([sys.executable, "-m", "generator", *command], cwd=repo, env=offline_env, check=True, capture_output=True)
    # The repository's own session, pulls included, in this venv (nothing to install offline).
    done = subprocess.run(
        [*prefix, sys.executable, "-m", "nox", "-f", str(repo / "noxfile.py"), "-s", "validate", "--no-venv", "--no-install"],
        cwd=repo, env=offline_env, capture_output=True, text=True,
    )
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "cached cilium 1.20.0" in done.stdout + done.stderr
    assert "every schema the repository uses is cached" in done.stdout + done.stderr
