"""The mutation gate's verdict (tests/mutants/mutation.py): CI fails when rules.py or
writer.py kills less than 90 % of its mutants that are not listed as equivalent."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "mutants" / "mutation.py"
_spec = importlib.util.spec_from_file_location("mutation", SCRIPT)
assert _spec is not None and _spec.loader is not None
mutation = importlib.util.module_from_spec(_spec)
sys.modules["mutation"] = mutation  # dataclasses look their module up by name
_spec.loader.exec_module(mutation)


def row(module: str, mutants: int, killed: int, equivalent: int = 0) -> object:
    return mutation.Row(module, mutants=mutants, killed=killed, equivalent=equivalent, survived=mutants - killed - equivalent)


def test_the_target_is_90_percent() -> None:
    assert mutation.THRESHOLD == 90.0


@pytest.mark.parametrize(
    ("killed", "equivalent", "passes"),
    [(900, 0, True), (899, 0, False), (1000, 0, True), (810, 100, True), (809, 100, False), (0, 1000, True)],
    ids=["exactly-90", "just-below", "all", "90-of-the-non-equivalent", "just-below-of-the-non-equivalent", "all-equivalent"],
)
def test_a_module_passes_at_90_percent_of_its_non_equivalent_mutants(killed: int, equivalent: int, passes: bool) -> None:
    assert mutation.below_threshold([row("rules", 1000, killed, equivalent)]) == ([] if passes else ["rules"])


@pytest.mark.parametrize("weak", ["rules", "writer"])
def test_either_module_below_the_target_fails_the_gate(weak: str) -> None:
    rows = [row(m, 1000, 899 if m == weak else 1000) for m in ("rules", "writer")]
    failed = mutation.below_threshold(rows)
    assert failed == [weak]
    assert mutation.exit_code(failed, []) == 1


def test_the_gate_passes_when_both_reach_the_target() -> None:
    assert mutation.exit_code(mutation.below_threshold([row("rules", 826, 819, 4), row("writer", 774, 700, 1)]), []) == 0


def test_an_out_of_date_equivalent_entry_fails_the_gate() -> None:
    assert mutation.exit_code([], [("generator/rules.py", "show_path", "a", "b")]) == 1


def test_ci_runs_the_gate_over_rules_and_writer() -> None:
    """.ci/run runs the README's test command verbatim, and that command ends with the gate."""
    root = Path(__file__).parents[1]
    command = "python3 -m pip install --quiet nox && nox -s tools tests mutants_gate"
    assert any(line.startswith(command + " ") for line in (root / "README.md").read_text().splitlines())
    assert (root / ".ci" / "run").read_text().splitlines()[-1] == command
    assert 'run_mutation(session, "rules", "writer")' in (root / "noxfile.py").read_text()


def test_a_rerun_refuses_when_a_file_it_does_not_mutate_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """mutmut copies the files it does not mutate once: a rerun after one of them changed would test the old copy."""
    monkeypatch.setattr(mutation, "ROOT", tmp_path)
    monkeypatch.setattr(mutation, "SCRATCH", tmp_path / "build" / "mutation")
    copy = tmp_path / "build" / "mutation" / "render" / "mutants"
    for base in (tmp_path, copy):
        for path, text in {"generator/model.py": "A = 1\n", "generator/data/x.yaml": "a: 1\n", "generator/render/svg.py": "B = 1\n"}.items():
            (base / path).parent.mkdir(parents=True, exist_ok=True)
            (base / path).write_text(text)
    (tmp_path / "generator" / "render" / "svg.py").write_text("B = 2\n")  # mutated for render: mutmut regenerates it
    assert mutation.changed_copies("render") == []
    (tmp_path / "generator" / "data" / "x.yaml").write_text("a: 2\n")
    (tmp_path / "generator" / "rules.py").write_text("C = 1\n")  # new since the run
    assert mutation.changed_copies("render") == ["generator/data/x.yaml", "generator/rules.py"]
