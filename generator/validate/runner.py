"""Run every check's jobs in a bounded thread pool and reuse results whose inputs
did not change.

A job's result is stored under results/<sha256 of check, tool version, extra key
and every input's path and content hash>.json. A job that fails for want of a
tool (ToolMissing, or a tool that could not run) reports a failure that is never
cached: installing the tool must change the answer. A missing Debian checker
(haproxy, keepalived, vtysh, bird, cloud-init, netplan, shellcheck: daemons a
macOS laptop lacks) is a skip instead, never cached either; `validate --strict`
fails on it.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, astuple
from pathlib import Path

from ..errors import ClusterforgeError, ToolMissing
from ..toolpins import DEBIAN_TOOLS
from . import caches, checks
from .base import Context, Job, JobsFactory, Result

DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


def check_modules() -> list[JobsFactory]:
    """Every module in generator.validate.checks, in name order: a new check is a new module."""
    names = sorted(m.name for m in pkgutil.iter_modules(checks.__path__) if not m.name.startswith("_"))
    return [importlib.import_module(f"{checks.__name__}.{name}").jobs for name in names]


def _content_hash(path: Path) -> str:
    return caches.file_digest(path) if path.is_file() else "missing"


def cache_key(job: Job, repo: Path) -> str:
    inputs = sorted((rel, _content_hash(repo / rel)) for rel in job.inputs)
    blob = json.dumps([job.check, job.tool_version, job.extra_key, inputs])
    return hashlib.sha256(blob.encode()).hexdigest()


def _read(path: Path) -> list[Result] | None:
    try:
        return [Result(**r) for r in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        return None  # absent or unreadable (e.g. written by another version): run again


def _write(path: Path, results: list[Result]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Per thread too: two jobs of one run may share a key (the same check of the same files).
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def redacted(result: Result, ctx: Context) -> Result:
    return Result(*(ctx.redact(value) if isinstance(value, str) else value for value in astuple(result)))


def run_job(job: Job, ctx: Context, *, use_cache: bool = True) -> tuple[list[Result], bool]:
    """The job's results, and whether they are its verdict (cached or stored) rather than a
    tool's absence or breakdown, which is never cached."""
    path = caches.results_dir(ctx.cache_dir) / f"{cache_key(job, ctx.repo)}.json"
    if use_cache and (cached := _read(path)) is not None:
        return [redacted(r, ctx) for r in cached], True  # cached by a run that knew other secrets, or none
    first = job.inputs[0] if job.inputs else ""
    try:
        results = [redacted(r, ctx) for r in job.run()]
    except ToolMissing as e:
        if e.tool in DEBIAN_TOOLS:
            return [redacted(Result(job.check, first, True, f"not checked: {e.tool} is not installed", e.hint, skipped=True), ctx)], False
        return [redacted(Result(job.check, first, False, str(e), "clusterforge doctor"), ctx)], False
    except ClusterforgeError as e:
        return [redacted(Result(job.check, first, False, str(e)), ctx)], False
    _write(path, results)
    return results, True


def plan(ctx: Context, factories: Sequence[JobsFactory] | None = None) -> list[Job]:
    return [job for factory in (check_modules() if factories is None else factories) for job in factory(ctx)]


Progress = Callable[[int, int, str], None]  # (jobs done, jobs in all, check of the job just done)


def run(
    ctx: Context,
    *,
    factories: Sequence[JobsFactory] | None = None,
    use_cache: bool = True,
    workers: int = DEFAULT_WORKERS,
    timings: dict[str, float] | None = None,
    progress: Progress | None = None,
    uncached: list[str] | None = None,
) -> list[Result]:
    """Every job's results, sorted by check and file (the order of a report). `timings` gets
    the seconds each check's jobs took (summed over the workers); `progress` is called as
    each job ends; `uncached` gets the check of every job whose results were not cached."""
    jobs = plan(ctx, factories)
    lock, done = threading.Lock(), [0]

    def one(job: Job) -> list[Result]:
        started = time.perf_counter()
        results, verdict = run_job(job, ctx, use_cache=use_cache)
        with lock:
            done[0] += 1
            if not verdict and uncached is not None:
                uncached.append(job.check)
            if timings is not None:
                timings[job.check] = timings.get(job.check, 0.0) + time.perf_counter() - started
            if progress is not None:
                progress(done[0], len(jobs), job.check)
        return results

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        batches = list(pool.map(one, jobs))
    return sorted((r for batch in batches for r in batch), key=lambda r: (r.check, r.file, not r.ok, r.message))
