"""pytest plugin for `nox -s mutants`: a mutant's tests run likeliest killer first,
then fastest first.

mutmut runs each mutant's tests with -x, so a killed mutant costs the time of
the tests before the first that fails. Most mutants of a function die in the
same few tests (a rule's mutants in its error cases, among the hundreds of tests
that load an inventory and so call every rule): the tests that killed earlier
mutants of the same function run first, the last killer first, recorded in
KILLERS as mutants die. The rest keep this order: test files by the mean
duration of their tests and the tests within a file by their own duration (as
mutmut's stats run recorded them); a file's tests stay together so that its
module-scoped fixtures are built once.

The order changes only how long a mutant takes, never whether it is killed:
every test of the mutant still runs until one fails.

Which tests a mutant faces may be narrowed per file: MUTATION_TESTS_BY_MODULE
(set by mutation.py from its CHECK_TESTS) maps a mutated file's dotted module
name to the test files meant to check it; the mutant's other tests are
deselected.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from statistics import mean

import pytest

STATS = Path("mutmut-stats.json")  # mutmut runs the tests inside its copy, where it writes this
KILLERS = Path("mutmut-killers.txt")
TESTS_BY_MODULE_ENV = "MUTATION_TESTS_BY_MODULE"  # mutation.TESTS_BY_MODULE_ENV  # lines "function<TAB>test node id", appended by each worker
_durations: dict[str, float] | None = None


def durations() -> dict[str, float]:
    global _durations
    if _durations is None:
        _durations = json.loads(STATS.read_text(encoding="utf-8"))["duration_by_test"] if STATS.exists() else {}
    return _durations


def function_under_test() -> str | None:
    """generator.rules.x_pool_selection of the mutant generator.rules.x_pool_selection__mutmut_63."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    function, found, number = mutant.rpartition("__mutmut_")
    return function if found and number.isdigit() else None


def killers(function: str) -> list[str]:
    """The tests that killed mutants of `function` so far, the latest first."""
    try:
        lines = KILLERS.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    found = [test for line in reversed(lines) for name, _, test in [line.partition("\t")] if name == function]
    return list(dict.fromkeys(found))


def order(items: list[pytest.Item], known: dict[str, float], first: list[str]) -> None:
    by_file: dict[str, list[float]] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::")[0], []).append(known.get(item.nodeid, 0.0))
    file_cost = {name: mean(values) for name, values in by_file.items()}
    rank = {test: i for i, test in enumerate(first)}
    items.sort(key=lambda item: (rank.get(item.nodeid, len(rank)), file_cost[item.nodeid.split("::")[0]], known.get(item.nodeid, 0.0)))


def allowed_tests(function: str) -> list[str] | None:
    """The test files meant to check the module of `function`, or None: no narrowing."""
    by_module: dict[str, list[str]] = json.loads(os.environ.get(TESTS_BY_MODULE_ENV) or "{}")
    module = function.rpartition(".")[0]  # generator.validate.checks.daemons of ...daemons.x_keepalived_result
    return by_module.get(module)


def narrow(items: list[pytest.Item], config: pytest.Config, function: str | None) -> None:
    allowed = allowed_tests(function) if function else None
    if allowed is None:
        return
    dropped = [item for item in items if item.nodeid.split("::")[0] not in allowed]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item.nodeid.split("::")[0] in allowed]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    narrow(items, config, function_under_test())
    known = durations()
    if not known:
        return
    function = function_under_test()
    order(items, known, killers(function) if function else [])


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    function = function_under_test()
    if report.failed and function:
        with KILLERS.open("a", encoding="utf-8") as out:
            out.write(f"{function}\t{report.nodeid}\n")  # one short write: workers' lines do not mix
