"""Benchmark: render and validate N copies of the reference cluster, cold and warm.

    python tests/benchmarks/bench.py [--clusters 1 10] [--repeat 3]

Performance is measured here, never asserted in tests. Each cluster gets its own
name (so nothing is shared by accident); the cache starts empty for the cold
run and is reused for the warm one. Charts and CRD schemas come from
../shared (the offline caches the tests use). Prints one JSON line per size.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from generator import cli, repo
from generator.render import tree
from generator.validate import caches, commands

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


def make_clusters(base: Path, count: int) -> list[Path]:
    example = cli.example_text()
    paths = []
    for i in range(count):
        path = base / f"lab{i}"
        repo.new(path, example.replace("name: koedo-lab", f"name: lab{i}"))
        paths.append(path)
    return paths


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def validate_all(paths: list[Path], no_cache: bool = False) -> None:
    for path in paths:
        code = commands.validate_command(path, "json", no_cache, io.StringIO())
        if code != 0:
            raise SystemExit(f"validate failed on {path} (exit {code})")


def bench(count: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        os.environ["CLUSTERFORGE_CACHE_DIR"] = str(base / "cache")
        paths = make_clusters(base, count)
        inventories = [repo.load(p).inventory for p in paths]
        render = [timed(lambda: [tree.render(inv) for inv in inventories]) for _ in range(repeat)]
        caches.pull_schemas_from_dir(SHARED / "schemas" / "crds", base / "cache")
        for path in paths:
            commands.charts_pull(path, (SHARED / "charts").as_uri(), io.StringIO())
        cold = timed(lambda: validate_all(paths))
        warm = [timed(lambda: validate_all(paths)) for _ in range(repeat)]
    return {
        "clusters": count,
        "render_s": round(statistics.median(render), 3),
        "validate_cold_s": round(cold, 3),
        "validate_warm_s": round(statistics.median(warm), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for count in args.clusters:
        print(json.dumps(bench(count, args.repeat)), flush=True)


if __name__ == "__main__":
    main()
