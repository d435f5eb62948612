"""Helpers shared by the validation tests: example repositories, a filled cache, a loopback HTTP server,
and checking a rendered repository (its fixtures are in conftest.py; copy and edit in tests/support.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from generator import loader, repo
from generator.rehearse.serve import chart_server
from generator.render import layout
from generator.validate import caches
from generator.validate.base import Context, Result

SHARED = Path(__file__).resolve().parents[3] / "shared"
CATALOG = SHARED / "schemas" / "crds"
CHARTS = SHARED / "charts"
EXAMPLE = Path(__file__).resolve().parents[2] / "generator" / "data" / "cluster.example.yaml"

NeedTool = Callable[..., Path]  # the type of the `need_tool` fixture (tests/conftest.py)


def example_repo(dest: Path, *, engine: str = "flux", replace: tuple[str, str] | None = None) -> Path:
    """A repository rendered from the reference inventory (optionally Argo CD, or edited text)."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("engine: flux", f"engine: {engine}")
    if replace:
        assert replace[0] in text
        text = text.replace(*replace)
    repo.new(dest, text)
    return dest


def ctx_of(root: Path) -> Context:
    """The checks' context for a rendered repository, its cache beside it (not shared)."""
    return Context(root, loader.check_file(root / layout.INVENTORY).inventory, root.parent / "cache")


def run(root: Path, factory: Callable[[Context], list]) -> list[Result]:
    """Every result of the jobs `factory` makes for the repository (cache beside it, not shared)."""
    ctx = ctx_of(root)
    return [r for job in factory(ctx) for r in job.run()]


def failures(results: list[Result]) -> dict[str, str]:
    """The failed results, file -> message."""
    return {r.file: r.message for r in results if not r.ok}


def fill_cache(cache: Path, *, charts: tuple[str, ...] = ("cilium-1.19.6.tgz",)) -> Path:
    """A cache holding the shared CRD catalog and chart archives (copied into the tmp cache only)."""
    caches.pull_schemas_from_dir(CATALOG, cache)
    for name in charts:
        caches.charts_dir(cache).mkdir(parents=True, exist_ok=True)
        shutil.copy(CHARTS / name, caches.charts_dir(cache) / name)
    return cache


# A folder served on a loopback port chosen by the OS: the rehearsal's chart server.
serve = chart_server
