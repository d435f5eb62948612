"""The validation commands as the CLI calls them: `validate`, `schemas pull`, `charts pull`.
Each writes to `out` and returns the exit code; user errors raise ClusterforgeError
(an invalid inventory: InventoryError, exit 2) for the CLI's one handler."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..errors import ClusterforgeError
from ..render import layout
from . import report, runs
from .base import Result

if TYPE_CHECKING:
    from .runner import Progress

# A warm `validate` (every repository answered by its run record, see runs.py) imports only
# what it reads: the modules that plan and run checks are imported where a run needs them.


def validate_command(repo: Path, fmt: str, no_cache: bool, out: TextIO, strict: bool = False, verbose: bool = False) -> int:
    results, timings = validate_results(repo, no_cache, out)
    out.write(report.render(results, fmt, strict, verbose=verbose, timings=timings))
    return report.exit_code(results, strict)


def validate_results(repo: Path, no_cache: bool, out: TextIO) -> tuple[list[Result], dict[str, float]]:
    """Every result for one repository and each check's seconds: from the run record when
    none of its inputs changed (see runs.py; every time then reads 0), else by running."""
    cache = runs.cache_dir()
    run_key = None if no_cache else runs.key(cache, repo)  # None for a repository holding a link
    if run_key is not None and (remembered := runs.lookup(cache, repo, run_key)) is not None:
        return remembered, {check: 0.0 for check in {r.check for r in remembered}}
    from .. import repo as repository
    from .. import secrets
    from . import limits, runner
    from .base import Context

    if (repo / layout.INVENTORY).is_symlink():  # before reading it: a link may point anywhere
        raise limits.LinkedInput([layout.INVENTORY])
    inv = repository.load(repo).inventory
    limits.check(repo)
    redact = secrets.redactor(repository.secrets_path(repo))
    ctx = Context(repo, inv, cache, redact=redact)
    timings: dict[str, float] = {}
    uncached: list[str] = []
    with progress_line(out) as progress:
        results = runner.run(ctx, use_cache=not no_cache, timings=timings, progress=progress, uncached=uncached)
    if not uncached and (after := runs.key(cache, repo)) is not None:
        runs.store(cache, repo, after, results)  # keyed as the next run will see the caches
    return results, timings


def repositories(dirs: list[Path]) -> list[Path]:
    """The cluster repositories to validate: each DIR holding a cluster.yaml, else (a monorepo
    of clusters) every DIR/*/ and DIR/clusters/*/ that holds one."""
    found: list[Path] = []
    for d in dirs:
        if (d / layout.INVENTORY).is_file():
            found.append(d)
            continue
        inside = sorted({p.parent for pattern in (f"*/{layout.INVENTORY}", f"clusters/*/{layout.INVENTORY}") for p in d.glob(pattern) if p.is_file()})
        if not inside:
            raise ClusterforgeError(f"{d} holds no {layout.INVENTORY}, nor does any folder in it or in its clusters/")
        found += inside
    return found


def validate_many(dirs: list[Path], fmt: str, no_cache: bool, out: TextIO, strict: bool = False, verbose: bool = False) -> int:
    """`validate DIR...`: every repository in one process, one report: text under a `== DIR`
    line per repository; JSON as {"repositories": [{"repository", "results", "summary"}]};
    JUnit with each testsuite named "DIR: check"."""
    repos = repositories(dirs)
    if len(repos) == 1:
        return validate_command(repos[0], fmt, no_cache, out, strict, verbose)
    runs_done = [(repo, *validate_results(repo, no_cache, out)) for repo in repos]
    if fmt == "json":
        documents = [{"repository": str(repo), **json.loads(report.as_json(results))} for repo, results, _ in runs_done]
        out.write(json.dumps({"repositories": documents}, indent=2) + "\n")
    elif fmt == "junit":
        named = [replace(r, check=f"{repo}: {r.check}") for repo, results, _ in runs_done for r in results]
        timings = {f"{repo}: {check}": t for repo, _, took in runs_done for check, t in took.items()}
        out.write(report.junit(named, timings))
    else:
        for repo, results, timings in runs_done:
            out.write(f"== {repo}\n" + report.text(results, strict, verbose=verbose, timings=timings))
    return max(report.exit_code(results, strict) for _, results, _ in runs_done)


@contextmanager
def progress_line(out: TextIO) -> Iterator[Progress | None]:
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
    from .. import repo as repository
    from . import caches, gitops

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
    from . import caches

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
    from .. import repo as repository
    from . import caches, gitops

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
