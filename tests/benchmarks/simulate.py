"""Benchmark: the whole `clusterforge simulate` run's wall time (root, Linux).

    sudo python tests/benchmarks/simulate.py [--cases reference ebgp]

Measured here, never asserted in tests. The two 60-second flapping watches of
scenario 3 bound the run from below; everything else runs beside them. Prints one
JSON line per case: wall seconds and the report's pass/fail counts.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

from generator import cli, repo
from generator.simulate.run import Simulation
from generator.validate import report

DATA = Path(__file__).resolve().parents[1] / "data"
CASES = {"reference": cli.example_text, "ebgp": lambda: (DATA / "ebgp.yaml").read_text()}


def bench(case: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / case
        repo.new(path, CASES[case]())
        started = time.perf_counter()
        results = Simulation(path).run(io.StringIO())
        wall = time.perf_counter() - started
    return {"case": case, "simulate_wall_s": round(wall, 1), **report.summary(results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=sorted(CASES, reverse=True))
    for case in parser.parse_args().cases:
        print(json.dumps(bench(case)), flush=True)


if __name__ == "__main__":
    main()
