"""Benchmark: the whole `clusterforge rehearse` run's wall time, with the binaries built.

    python tests/benchmarks/rehearse.py [--cases reference ebgp-argocd]

Measured here, never asserted in tests. Prints one JSON line per case: wall seconds,
the report's pass/fail counts and the seconds at which each step's line was written.
The cold build of the binaries (`nox -s tools`) is measured apart: see the README.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import tempfile
import time
from pathlib import Path

from generator import cli, repo
from generator.rehearse.run import Rehearsal
from generator.validate import report

DATA = Path(__file__).parents[1] / "data"


def ebgp_argocd() -> str:
    """The eBGP variant with Argo CD as its engine (the rehearsal tests' Argo CD case)."""
    return (DATA / "ebgp.yaml").read_text().replace("gitops:\n", "gitops:\n  engine: argocd\n", 1)


CASES = {"reference": cli.example_text, "ebgp-argocd": ebgp_argocd}


def bench(case: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / case
        repo.new(path, CASES[case]())
        started = time.perf_counter()
        results = Rehearsal(path).run(io.StringIO())
        wall = time.perf_counter() - started
    steps = {r.check: float(m.group(1)) for r in results if (m := re.search(r"after (\d+\.\d) s", r.message))}
    return {"case": case, "rehearse_wall_s": round(wall, 1), **report.summary(results), "steps_s": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=sorted(CASES))
    for case in parser.parse_args().cases:
        print(json.dumps(bench(case)), flush=True)


if __name__ == "__main__":
    main()
