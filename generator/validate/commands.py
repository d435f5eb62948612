"""The validation commands as the CLI calls them: `validate`, `schemas pull`, `charts pull`.
Each writes to `out` and returns the exit code; user errors raise ClusterforgeError
(an invalid inventory: InventoryError, exit 2) for the CLI's one handler."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from .. import repo as repository
from .. import secrets
from ..errors import ClusterforgeError
from ..render import layout, tree
from . import caches, gitops, limits, report, runner
from .base import Context


def validate_command(repo: Path, fmt: str, no_cache: bool, out: TextIO, strict: bool = False, verbose: bool = False) -> int:
    inv = repository.load(repo).inventory
    limits.check(repo)
    redact = secrets.redactor(repository.secrets_path(repo))
    ctx = Context(repo, inv, caches.cache_dir(), tree.render(inv), redact)
    timings: dict[str, float] = {}
    with progress_line(out) as progress:
        results = runner.run(ctx, use_cache=not no_cache, timings=timings, progress=progress)
    out.write(report.render(results, fmt, strict, verbose=verbose, timings=timings))
    return report.exit_code(results, strict)


@contextmanager
def progress_line(out: TextIO) -> Iterator[runner.Progress | None]:
    """On a terminal, one line rewritten in place as jobs end, erased before the report;
    nothing at all when `out` is a file or a pipe."""
    if not out.isatty():
        yield None
        return

    def show(done: int, total: int, check: str) -> None:
        out.write(f"\r\033[K[{done}/{total}] {check}")
        out.flush()

    try:
        yield show
    finally:
        out.write("\r\033[K")
        out.flush()


def _wanted_kinds(repo: Path) -> list[tuple[str, str]]:
    if not (repo / layout.INVENTORY).is_file():
        raise ClusterforgeError(f"{repo} holds no {layout.INVENTORY}: pulling from a URL fetches the kinds a cluster repository uses (give -C DIR)")
    inv = repository.load(repo).inventory
    discovery = gitops.discover(repo, inv)
    core = caches.kubernetes_schemas(caches.cache_dir(), inv.kubernetes.version)
    return sorted(gitops.custom_kinds(discovery, core))


def schemas_pull(source: str | None, out: TextIO, repo: Path = Path("."), refresh: bool = False) -> int:
    """Fill the CRD schema cache: copy a catalog folder, or download from a catalog URL
    (default: datreeio's CRDs-catalog) the schemas of the kinds the repository uses that
    no cache layer holds verified (all of them with refresh)."""
    cache = caches.cache_dir()
    if source is not None and "://" not in source:
        count = caches.pull_schemas_from_dir(Path(source), cache)
        print(f"copied {count} schemas from {source} to {caches.user_catalog(cache)}", file=out)
        return 0
    wanted = _wanted_kinds(repo)
    if not refresh:
        wanted = [(a, k) for a, k in wanted if caches.cached_schema(cache, caches.catalog_file(a, k)) is None]
        if not wanted:
            print("every schema the repository uses is cached (--refresh pulls them again)", file=out)
            return 0
    fetched, missing = caches.pull_schemas_from_url(source or caches.CATALOG_URL, wanted, cache)
    for rel in fetched:
        print(f"pulled {rel}", file=out)
    for rel in missing:
        print(f"not in the catalog: {rel}", file=out)
    print(f"{len(fetched)} pulled, {len(missing)} not in the catalog, into {caches.user_catalog(cache)}", file=out)
    return 1 if missing else 0


def charts_pull(repo: Path, mirror: str | None, out: TextIO, refresh: bool = False) -> int:
    """Download every chart the repository's releases use that no cache layer holds
    verified (all of them with refresh) into the chart cache."""
    inv = repository.load(repo).inventory
    cache = caches.cache_dir()
    failed = 0
    for release in gitops.discover(repo, inv).releases:
        if release.chart is None:
            print(f"{release.file}: {release.problem}", file=out)
            failed += 1
            continue
        cached = None if refresh else caches.cached_chart(release.chart, cache)
        if cached is not None:
            print(f"cached {release.chart.chart} {release.chart.version}: {cached}", file=out)
            continue
        archive = caches.pull_chart(release.chart, cache, mirror)
        print(f"pulled {release.chart.chart} {release.chart.version} -> {archive}", file=out)
    return 1 if failed else 0
