"""pytest plugin for `nox -s mutants`: a mutant's tests run fastest first.

mutmut runs each mutant's tests with -x, so a killed mutant costs the time of
the tests before the first that fails. Test files are ordered by the mean
duration of their tests and the tests within a file by their own duration (as
mutmut's stats run recorded them); a file's tests stay together so that its
module-scoped fixtures are built once.
"""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

import pytest

STATS = Path("mutmut-stats.json")  # mutmut runs the tests inside its copy, where it writes this
_durations: dict[str, float] | None = None


def durations() -> dict[str, float]:
    global _durations
    if _durations is None:
        _durations = json.loads(STATS.read_text(encoding="utf-8"))["duration_by_test"] if STATS.exists() else {}
    return _durations


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    known = durations()
    if not known:
        return
    by_file: dict[str, list[float]] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::")[0], []).append(known.get(item.nodeid, 0.0))
    file_cost = {name: mean(values) for name, values in by_file.items()}
    items.sort(key=lambda item: (file_cost[item.nodeid.split("::")[0]], known.get(item.nodeid, 0.0)))
