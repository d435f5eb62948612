"""Mutation testing of clusterforge with mutmut: `nox -s mutants [-- MODULE ...]`.

Runs mutmut over the named modules (default: all of MODULES) in a scratch
folder, then prints, per module, how many mutants the tests killed, how many
are listed as equivalent in tests/mutants/equivalent.toml, how many survived,
and the score (killed / (mutants - equivalent)); every survivor is printed as a
diff. Exit 1 when a module scores below THRESHOLD, when a listed equivalent
mutant no longer exists or is killed (the list must stay true), 0 otherwise.
With --docs FILE the module rows of the table in FILE are updated.

mutmut numbers the mutants of a function in the order it makes them, so a
number changes when the function does. A mutant is therefore identified here
by its file, its function and the text of the lines it changes (before and
after): what equivalent.toml lists.

The scratch folder (build/mutation) holds links to generator/, tests/, the
template and ../shared, so that mutmut's copy (build/mutation/mutants) finds
../shared where the tests look for it, and a pyproject.toml whose [tool.mutmut]
is the project's with only_mutate narrowed to the chosen modules.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = ROOT / "build" / "mutation"
EQUIVALENT = Path(__file__).resolve().parent / "equivalent.toml"
THRESHOLD = 90.0
V = "tests/validate/"
# A check's mutants face only the tests of that check (tests/mutants/fastest_first.py deselects the
# module's other tests for them): a surviving mutant of daemons.py costs daemons' tests, not all 400.
# _common.py, which every check calls, faces every test of the module (ALL_TESTS).
CHECK_TESTS = {
    "generator/validate/checks/_common.py": [f"{V}test_checks_common.py"],
    "generator/validate/checks/apiversions.py": [f"{V}test_checks_apiversions.py", f"{V}test_checks_secrets_values.py"],
    "generator/validate/checks/bgp.py": [f"{V}test_checks_bgp.py"],
    "generator/validate/checks/cloudinit.py": [f"{V}test_checks_cloudinit.py", f"{V}test_checks_network_config.py", f"{V}test_checks_hand_edits.py"],
    "generator/validate/checks/consistency.py": [f"{V}test_checks_consistency.py", f"{V}test_checks_consistency_parsers.py", f"{V}test_checks_bgp.py", f"{V}test_checks_hand_edits.py"],
    "generator/validate/checks/daemons.py": [f"{V}test_checks_daemons.py", f"{V}test_checks_hints.py", f"{V}test_checks_value_sources.py", f"{V}test_skips.py"],
    "generator/validate/checks/helm.py": [f"{V}test_helm.py", f"{V}test_checks_value_sources.py"],
    "generator/validate/checks/kubeadm.py": [f"{V}test_checks_kubeadm.py"],
    "generator/validate/checks/kubeconform.py": [f"{V}test_kubeconform.py", f"{V}test_helm.py", f"{V}test_checks_value_sources.py"],
    "generator/validate/checks/owned.py": [f"{V}test_checks_owned.py"],
    "generator/validate/checks/routers.py": [f"{V}test_checks_routers.py", f"{V}test_checks_rtx.py", f"{V}test_checks_hints.py", f"{V}test_checks_hand_edits.py"],
    "generator/validate/checks/secrets_scan.py": [f"{V}test_checks_secrets_scan.py", f"{V}test_checks_secrets_values.py"],
}
ALL_TESTS = {"generator/validate/checks/_common.py"}
# Module -> the files mutated for it (globs as in mutmut's only_mutate) and the
# tests that may kill its mutants (mutmut then runs, for each mutant, those of
# them that call the mutated function).
MODULES = {
    "rules": (["generator/rules.py"], ["tests/test_errors.py", "tests/test_rules_limits.py", "tests/test_model.py"]),
    # The writer's fast tests, on trees of a few files; the hostile and repository tests render
    # whole repositories (seconds each, two hours for the writer's mutants) and stay in the suite.
    "writer": (["generator/writer.py"], ["tests/test_writer.py", "tests/test_writer_edges.py", "tests/test_writer_small.py"]),
    # Not the `tools` tests: real cloud-init, helm, shellcheck... take seconds each, and whatever
    # they see in a rendered file the golden files pin byte for byte.
    "render": (["generator/render/*"], ["tests/render", "tests/test_golden.py", "tests/test_plan.py", "-m", "not tools"]),
    # The checks' own tests, and the redaction tests, which run the checks through the runner on a
    # rendered repository. Not the runner's, the caches', the offline runs', the hostile files', the
    # inventory errors', the limits' and the run records' tests: they run every check end to end (a
    # minute each on a busy machine) and are about the runner; nor the offline data's, which checks
    # generator/data/offline against tools/offline.
    "checks": (["generator/validate/checks/*"], [*sorted({t for tests in CHECK_TESTS.values() for t in tests}), f"{V}test_redaction.py"]),
}
LINKS = ("generator", "tests", "cookiecutter-cluster", "README.md")  # tests/validate/test_limits.py reads the README
# mutmut's exit codes of a mutant's test run (mutmut.stats.status_by_exit_code).
KILLED = {1, 3, 36, 37, 24, -24, 152, 255, -11, -9}  # tests failed, errored, timed out or crashed
SURVIVED = {0}
NO_TESTS = {5, 33}  # no test runs the function: nothing can kill it
TABLE_HEADER = "| module | mutants | killed | equivalent | survived | score | minutes (load) | date | machine |"
# fastest_first.py reads CHECK_TESTS from this variable, by each file's dotted module name (what
# mutmut's mutant names start with).
TESTS_BY_MODULE_ENV = "MUTATION_TESTS_BY_MODULE"


def tests_by_module() -> str:
    return json.dumps({path.removesuffix(".py").replace("/", "."): tests for path, tests in CHECK_TESTS.items() if path not in ALL_TESTS})


@dataclass(frozen=True)
class Mutant:
    name: str  # mutmut's, valid for this run only
    path: str  # generator/rules.py
    function: str  # bgp_asns, or Class.method
    original: str  # the changed lines before the mutation, stripped, joined by newlines
    mutated: str  # the same lines after it
    diff: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.path, self.function, self.original, self.mutated)


def module_of(path: str) -> str:
    for module, (globs, _tests) in MODULES.items():
        if any(Path(path).match(g) or path == g for g in globs):
            return module
    raise ValueError(f"{path} belongs to no module of {sorted(MODULES)}")


# --- running mutmut --------------------------------------------------------------


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for the plain text used here
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(value)


def scratch(module: str) -> Path:
    return SCRATCH / module


@contextmanager
def inside(module: str) -> Iterator[None]:
    """mutmut's helpers read `mutants/...` relative to the working directory."""
    cwd = os.getcwd()
    os.chdir(scratch(module))
    try:
        yield
    finally:
        os.chdir(cwd)


def prepare(module: str) -> None:
    """A fresh scratch folder: links to the sources and tests, mutmut's config narrowed to `module`."""
    folder = scratch(module)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for name in LINKS:
        (folder / name).symlink_to(ROOT / name, target_is_directory=(ROOT / name).is_dir())
    shared = ROOT.parent / "shared"
    if shared.is_dir():
        (folder / "shared").symlink_to(shared, target_is_directory=True)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs, tests = MODULES[module]
    config = project["tool"]["mutmut"]
    mutmut = {**config, "only_mutate": globs, "pytest_add_cli_args_test_selection": tests, "also_copy": [*config["also_copy"], "README.md"]}
    pytest_options = project["tool"]["pytest"]["ini_options"]
    lines = ["[tool.mutmut]", *(f"{k} = {toml_value(v)}" for k, v in mutmut.items()), "", "[tool.pytest.ini_options]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in pytest_options.items()]
    (folder / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


# mutmut's own first step (as `mutmut run` starts), so that the listed equivalent
# mutants can be marked before the tests run; `mutmut run` then finds the mutants
# made and leaves every mutant that has a verdict alone.
GENERATE = """
import sys
import mutmut.__main__ as cli
from mutmut.mutation.trampoline import set_mutant_under_test
from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir, setup_source_paths

set_mutant_under_test("mutant_generation")
copy_src_dir()
copy_also_copy_files()
setup_source_paths()
cli.create_mutants(int(sys.argv[1]))
"""
SKIPPED = 34  # mutmut's exit code for a mutant it was told not to test


def mutmut_step(module: str, log: Path, argv: list[str]) -> None:
    env = {**os.environ, TESTS_BY_MODULE_ENV: tests_by_module()}
    with log.open("a", encoding="utf-8") as out:
        done = subprocess.run(argv, cwd=scratch(module), stdout=out, stderr=subprocess.STDOUT, env=env)
    if done.returncode != 0:
        print(log.read_text(encoding="utf-8", errors="replace")[-5000:])
        raise SystemExit(f"mutmut failed on {module} (exit code {done.returncode}): {' '.join(argv[:3])}")


def skip_equivalents(module: str, equivalents: dict[tuple[str, str, str, str], str], among: frozenset[int | None] | None = None) -> int:
    """Give every listed equivalent mutant (whose verdict is in `among`, default: any) the verdict
    `skipped`: running its tests, all of them to the end since none fails, would be the slowest
    part of the run and tell nothing."""
    from mutmut.mutation.data import SourceFileMutationData

    functions = {(path, function) for path, function, _, _ in equivalents}
    skipped = 0
    for path in read_results(module):
        with inside(module):
            data = SourceFileMutationData(path=path)
            data.load()
            for name, code in data.exit_code_by_key.items():
                if among is not None and code not in among:
                    continue
                if (path, function_of(name)) in functions and describe(module, name, path).key in equivalents:
                    data.exit_code_by_key[name] = SKIPPED
                    skipped += 1
            data.save()
    return skipped


def run_mutmut(module: str, max_children: int, equivalents: dict[tuple[str, str, str, str], str]) -> str:
    """Run mutmut on `module`, the listed equivalents skipped; its progress goes to a log file
    (it redraws one line thousands of times). Minutes taken, and the load average at the end."""
    log = scratch(module) / "mutmut.log"
    start = time.monotonic()
    print(f"mutmut: {module} ({', '.join(MODULES[module][0])}), log in {log.relative_to(ROOT)}", flush=True)
    mutmut_step(module, log, [sys.executable, "-c", GENERATE, str(max_children)])
    skipped = skip_equivalents(module, equivalents)
    print(f"mutmut: {skipped} listed equivalent mutants of {module} skipped", flush=True)
    mutmut_step(module, log, [str(Path(sys.executable).with_name("mutmut")), "run", "--max-children", str(max_children)])
    taken = f"{(time.monotonic() - start) / 60:.1f} ({os.getloadavg()[0]:.1f})"
    (scratch(module) / "minutes").write_text(taken + "\n", encoding="utf-8")
    return taken


def changed_copies(module: str) -> list[str]:
    """The files of generator/ that `module`'s last run copied but did not mutate, and that differ
    from that copy now: mutmut never copies such a file again, so a rerun would test the old one."""
    mutated = MODULES[module][0]
    changed = []
    for source in sorted((ROOT / "generator").rglob("*")):
        path = source.relative_to(ROOT).as_posix()
        if not source.is_file() or "__pycache__" in source.parts or any(fnmatch(path, glob) for glob in mutated):
            continue
        copy = scratch(module) / "mutants" / path
        if not copy.is_file() or copy.read_bytes() != source.read_bytes():
            changed.append(path)
    return changed


def retest(module: str, max_children: int, equivalents: dict[tuple[str, str, str, str], str]) -> int:
    """After the last run of `module`: test again its surviving mutants and the mutants of every function
    changed since (mutmut keeps the verdicts of the functions whose text did not change), against the
    tests as they are now; which tests call which function is recorded afresh. The mutants listed as
    equivalent since are skipped. The number of mutants tested."""
    if not (scratch(module) / "mutants").is_dir():
        raise SystemExit(f"no earlier run of {module} to test again: run `nox -s mutants -- {module}`")
    if changed := changed_copies(module):
        raise SystemExit(f"{', '.join(changed)} changed since the last run of {module}, and mutmut would test against the old copy: run `nox -s mutants -- {module}` whole")
    log = scratch(module) / "mutmut.log"
    start = time.monotonic()
    mutmut_step(module, log, [sys.executable, "-c", GENERATE, str(max_children)])
    (scratch(module) / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)  # new tests and functions call each other
    retested = frozenset({None, *SURVIVED, *NO_TESTS})
    skip_equivalents(module, equivalents, among=retested)
    names = [name for verdicts in read_results(module).values() for name, code in verdicts.items() if code in retested]
    if names:
        print(f"mutmut: {len(names)} mutants of {module} (survivors, changed functions) tested again, log in {log.relative_to(ROOT)}", flush=True)
        mutmut_step(module, log, [str(Path(sys.executable).with_name("mutmut")), "run", "--max-children", str(max_children), *names])
        # The table shows both: the whole run's minutes, then the rerun's.
        taken = f"{minutes_of(module)} + {(time.monotonic() - start) / 60:.1f} ({os.getloadavg()[0]:.1f}) rerun"
        (scratch(module) / "minutes").write_text(taken + "\n", encoding="utf-8")
    return len(names)


def minutes_of(module: str) -> str:
    """How long the last run of `module` took (and the load average at its end): as run_mutmut
    noted it, else from its files' times."""
    noted = scratch(module) / "minutes"
    if noted.is_file():
        return noted.read_text(encoding="utf-8").strip()
    metas = list((scratch(module) / "mutants").rglob("*.meta"))
    if not metas:
        return ""
    return f"{(max(m.stat().st_mtime for m in metas) - (scratch(module) / 'pyproject.toml').stat().st_mtime) / 60:.1f}"


# --- reading the results -----------------------------------------------------------


def read_results(module: str) -> dict[str, dict[str, int | None]]:
    """mutmut's verdicts, file -> {mutant name: exit code}, for the files of `module`."""
    out = {}
    mutants = scratch(module) / "mutants"
    for meta in sorted((mutants / "generator").rglob("*.py.meta")):
        path = meta.relative_to(mutants).as_posix().removesuffix(".meta")
        if module_of(path) == module:
            out[path] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return out


def describe(module: str, name: str, path: str) -> Mutant:
    """The mutant's diff and stable identity (mutmut's own diff, run inside the scratch folder)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    with inside(module):
        diff = get_diff_for_mutant(name, path=path)
    body = diff.splitlines()[2:]  # after the ---/+++ header
    removed = "\n".join(line[1:].strip() for line in body if line.startswith("-"))
    added = "\n".join(line[1:].strip() for line in body if line.startswith("+"))
    return Mutant(name, path, function_of(name), removed, added, diff)


def function_of(name: str) -> str:
    """`bgp_asns` or `Class.method` of a mutant name such as generator.rules.x_bgp_asns__mutmut_3."""
    from mutmut.utils.format_utils import orig_function_and_class_names_from_key

    function, cls = orig_function_and_class_names_from_key(name)
    function = function.rpartition(".")[2]
    return f"{cls}.{function}" if cls else function


def load_equivalents() -> dict[tuple[str, str, str, str], str]:
    """equivalent.toml: key -> reason. Every entry needs a reason; a key listed twice is a mistake."""
    entries = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")).get("equivalent", [])
    out: dict[tuple[str, str, str, str], str] = {}
    for i, entry in enumerate(entries):
        key = (entry["module"], entry["function"], entry["original"].strip(), entry["mutated"].strip())
        if not entry.get("reason", "").strip():
            raise SystemExit(f"{EQUIVALENT.name}: entry {i + 1} ({key[0]} {key[1]}) gives no reason")
        if key in out:
            raise SystemExit(f"{EQUIVALENT.name}: entry {i + 1} ({key[0]} {key[1]}) is listed twice")
        out[key] = entry["reason"].strip()
    return out


@dataclass
class Row:
    module: str
    mutants: int = 0
    killed: int = 0
    equivalent: int = 0
    survived: int = 0
    minutes: str = ""  # of the mutmut run, with the machine's load average then (the machine may be shared)

    @property
    def score(self) -> float:
        judged = self.mutants - self.equivalent
        return 100.0 * self.killed / judged if judged else 100.0


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.machine())
    return f"{os.cpu_count()} × {model}, Python {platform.python_version()}"


def update_docs(doc: Path, rows: list[Row]) -> None:
    """Replace the rows of `rows`' modules in the table of `doc`, keep the other modules' rows."""
    today, where = date.today().isoformat(), machine()
    new = {
        r.module: f"| {r.module} | {r.mutants} | {r.killed} | {r.equivalent} | {r.survived} | {r.score:.1f} % | {r.minutes} | {today} | {where} |"
        for r in rows
    }
    lines = doc.read_text(encoding="utf-8").splitlines()
    if TABLE_HEADER not in lines:
        raise SystemExit(f"{doc} has no table with the header {TABLE_HEADER!r}")
    start = lines.index(TABLE_HEADER) + 2  # after the header and its |---| line
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    merged = {**{line.split("|")[1].strip(): line for line in lines[start:end]}, **new}
    body = [merged[m] for m in MODULES if m in merged]
    doc.write_text("\n".join([*lines[:start], *body, *lines[end:]]) + "\n", encoding="utf-8")


def report(modules: list[str], docs: Path | None) -> int:
    equivalents = load_equivalents()
    rows = {m: Row(m, minutes=minutes_of(m)) for m in modules}
    survivors: list[Mutant] = []
    matched: set[tuple[str, str, str, str]] = set()
    for module, path, verdicts in ((m, p, v) for m in modules for p, v in read_results(m).items()):
        row = rows[module]
        for name, code in sorted(verdicts.items()):
            row.mutants += 1
            if code in KILLED:
                row.killed += 1
                continue
            mutant = describe(module, name, path)
            if code == SKIPPED and mutant.key in equivalents:
                row.equivalent += 1
                matched.add(mutant.key)
                continue
            if code not in SURVIVED | NO_TESTS:
                raise SystemExit(f"{name}: mutmut left it {'unchecked' if code is None else f'with exit code {code}'}; run again")
            if mutant.key in equivalents:
                row.equivalent += 1
                matched.add(mutant.key)
            else:
                row.survived += 1
                survivors.append(mutant if code in SURVIVED else Mutant(mutant.name, mutant.path, mutant.function, mutant.original, mutant.mutated, "(no test runs this function)\n" + mutant.diff))
    # An entry that matches no surviving mutant is out of date: the code or the tests changed.
    stale = [k for k in equivalents if module_of(k[0]) in modules and k not in matched]
    for mutant in survivors:
        print(f"\nSURVIVED {mutant.name} ({mutant.path}, {mutant.function})\n{mutant.diff}")
    print(f"\n{TABLE_HEADER}\n" + "|---" * TABLE_HEADER.count(" | ") + "|---|")
    for row in rows.values():
        print(f"| {row.module} | {row.mutants} | {row.killed} | {row.equivalent} | {row.survived} | {row.score:.1f} % | {row.minutes} | {date.today()} | {machine()} |")
    failed = below_threshold(list(rows.values()))
    for path, function, original, mutated in stale:
        print(f"{EQUIVALENT.name}: no surviving mutant of {path} {function} changes {original!r} into {mutated!r}: remove or update the entry")
    if docs is not None:
        update_docs(docs, list(rows.values()))
    if failed:
        print(f"below {THRESHOLD:.0f} % of non-equivalent mutants killed: {', '.join(failed)}")
    return exit_code(failed, stale)


def below_threshold(rows: list[Row]) -> list[str]:
    """The modules that kill less than THRESHOLD % of their non-equivalent mutants."""
    return [r.module for r in rows if r.score < THRESHOLD]


def exit_code(failed: list[str], stale: list[tuple[str, str, str, str]]) -> int:
    """1 (the gate fails) when a module is below the threshold or an equivalent entry is out of date."""
    return 1 if failed or stale else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help=f"some of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--docs", type=Path, help="update the table in this markdown file")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--report-only", action="store_true", help="report the last run again without running mutmut")
    parser.add_argument("--retest", action="store_true", help="after the last run: its survivors and the mutants of the functions changed since, against the tests as they are now")
    args = parser.parse_args(argv)
    if unknown := set(args.modules) - set(MODULES):
        parser.error(f"no module {', '.join(sorted(unknown))}; choose from {', '.join(MODULES)}")
    modules = [m for m in MODULES if m in (args.modules or MODULES)]
    if args.retest:
        for module in modules:
            retest(module, args.max_children, load_equivalents())
    elif not args.report_only:
        equivalents = load_equivalents()
        for module in modules:
            prepare(module)
            run_mutmut(module, args.max_children, equivalents)
    return report(modules, args.docs)


if __name__ == "__main__":
    sys.exit(main())
