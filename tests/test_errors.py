"""Broken inventories and the exact messages `clusterforge check` prints for them.

netlab style: `tests/errors/<case>.yaml` is an inventory with one thing wrong
(its first line says what and why), `<case>.expected` the stderr lines of
`clusterforge check` without the final `N errors` line. One test per file.
`tests/errors/warnings/` holds valid inventories (exit 0) and the warning lines
they must raise. `tests/errors/hostile/` holds inventories written to attack what
is rendered from them (a second SSH key line, a command in a shell block...), in
the same form. A few inputs are generated here instead of committed (over 1 MB,
not UTF-8, slow to check).
"""

from __future__ import annotations

import codecs
import os
import re
import resource
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from generator import loader, rules, versions, yamlio
from generator.cli import main
from generator.model import Inventory

from benchmarks.limits import LIMITS, inventory_at_limits

ERRORS = Path(__file__).parent / "errors"
WARNINGS = ERRORS / "warnings"
HOSTILE = ERRORS / "hostile"
EXAMPLE = Path(__file__).parents[1] / "generator" / "data" / "cluster.example.yaml"


def _params(folder: Path) -> list:
    return [pytest.param(path, id=path.stem) for path in sorted(folder.glob("*.yaml"))]


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    """`clusterforge check PATH` in-process: exit code, stderr lines, stdout."""
    code = main(["check", str(path)])
    captured = capsys.readouterr()
    return code, captured.err.splitlines(), captured.out


def count_line(problems: int) -> str:
    return f"{problems} error{'s' if problems != 1 else ''}"


@pytest.mark.parametrize("path", _params(ERRORS) + _params(HOSTILE))
def test_error_case(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    code, err, out = check(path, capsys)
    assert (code, err[:-1]) == (2, expected)
    errors = [line for line in err[:-1] if not line.startswith("warning: ")]
    assert err[-1] == count_line(len(errors))
    assert out == ""


@pytest.mark.parametrize("path", _params(WARNINGS))
def test_warning_case(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    code, err, out = check(path, capsys)
    assert (code, err) == (0, expected)
    assert out.startswith(f"{path}: cluster koedo-lab is valid\n")


def test_every_case_is_complete() -> None:
    """A .yaml without .expected (or the reverse) would silently not be tested."""
    for folder in (ERRORS, WARNINGS, HOSTILE):
        stems = {p.stem for p in folder.glob("*.yaml")}
        assert stems == {p.stem for p in folder.glob("*.expected")}, folder
        for stem in stems:
            text = (folder / f"{stem}.yaml").read_bytes()
            # the comment says what is broken; only the empty file cannot have one
            assert text.startswith(b"# ") or stem == "empty-file", f"{stem}.yaml has no leading comment"


def test_every_rule_has_a_case(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each rule in rules.RULES reports something for at least one case file."""
    names = {r.__name__ for r in rules.RULES}
    fired: set[str] = set()

    def watched(rule: rules.Rule) -> rules.Rule:
        def run(inv: Inventory, out: rules.Findings) -> None:
            before = len(out.errors) + len(out.warnings)
            rule(inv, out)
            if len(out.errors) + len(out.warnings) > before:
                fired.add(rule.__name__)

        return run

    monkeypatch.setattr(rules, "RULES", [watched(r) for r in rules.RULES])

    for path in sorted(ERRORS.rglob("*.yaml")):
        try:
            loader.check_file(path)
        except Exception:  # noqa: BLE001 - the cases fail in every way; only the rules that ran count
            pass
    assert names - fired == set()


# --- inputs generated here ---------------------------------------------------


def test_file_over_one_megabyte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One byte over the limit is refused before parsing; exactly 1 MB of valid YAML loads."""
    text = EXAMPLE.read_text(encoding="utf-8")
    padding = 1_000_000 - len(text.encode()) - len("\n")
    exact = text + "#" * padding + "\n"  # one long comment line
    assert len(exact.encode()) == 1_000_000
    (tmp_path / "exactly-1mb.yaml").write_text(exact, encoding="utf-8")
    (tmp_path / "over-1mb.yaml").write_text("#" + exact, encoding="utf-8")

    code, err, _ = check(tmp_path / "exactly-1mb.yaml", capsys)
    assert (code, err) == (0, [])
    code, err, _ = check(tmp_path / "over-1mb.yaml", capsys)
    assert (code, err) == (2, ["over-1mb.yaml: the file is 1000001 bytes; an inventory is at most 1000000 bytes", "1 error"])


def test_file_not_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A comment saved as Latin-1 (é is byte 0xe9) is refused, naming the byte offset."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes("# réseau du labo\n".encode("latin-1") + EXAMPLE.read_bytes())
    code, err, _ = check(path, capsys)
    assert (code, err) == (2, ["latin1.yaml: not UTF-8 text (byte 3)", "1 error"])


def test_utf16_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Windows editors may save UTF-16 with a byte order mark: refused at byte 0."""
    path = tmp_path / "utf16.yaml"
    path.write_bytes(EXAMPLE.read_text(encoding="utf-8").encode("utf-16"))
    code, err, _ = check(path, capsys)
    assert (code, err) == (2, ["utf16.yaml: not UTF-8 text (byte 0)", "1 error"])


def test_inventory_at_every_limit_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(yamlio.dump(inventory_at_limits()), encoding="utf-8")
    assert check(path, capsys)[:2] == (0, [])


@pytest.mark.parametrize("field", LIMITS)
def test_one_entry_past_a_limit_is_refused(field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bounded lists keep check, render and validate fast (tests/benchmarks/limits.py measures them)."""
    path = tmp_path / "cluster.yaml"
    path.write_text(yamlio.dump(inventory_at_limits(over=field)), encoding="utf-8")
    code, err, _ = check(path, capsys)
    shown = re.sub(r"\.([0-9]+)", r"[\1]", field)
    limit = LIMITS[field]
    assert (code, len(err)) == (2, 2)
    assert re.fullmatch(rf"cluster\.yaml:[0-9]+: {re.escape(shown)}: {limit + 1} entries, more than the {limit} clusterforge takes \(.*\)", err[0])


def test_byte_order_mark_is_read_past(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Windows editors may open the file with a UTF-8 byte order mark: `check`, `new` and
    `render` all read past it, and `new` writes cluster.yaml without one."""
    path = tmp_path / "bom.yaml"
    path.write_bytes(codecs.BOM_UTF8 + EXAMPLE.read_bytes())
    assert check(path, capsys)[:2] == (0, [])

    lab = tmp_path / "lab"
    assert main(["new", str(lab), "--inventory", str(path)]) == 0
    written = (lab / "cluster.yaml").read_bytes()
    assert not written.startswith(codecs.BOM_UTF8) and written.endswith(EXAMPLE.read_bytes())

    (lab / "cluster.yaml").write_bytes(codecs.BOM_UTF8 + written)  # saved again on Windows
    assert main(["render", "-C", str(lab), "--check"]) == 0
    assert capsys.readouterr().err == ""


# --- files that are not small regular files ----------------------------------------

MEMORY_LIMIT = 1 << 30  # far below the 2 GB a whole-file read of the inputs below would take


def check_apart(path: Path) -> tuple[int, list[str]]:
    """`clusterforge check PATH` in a process of its own, with at most 1 GiB of address
    space and a timeout far beyond its work, so reading too much fails instead of
    swapping and blocking fails instead of hanging the suite."""

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    done = subprocess.run(
        [sys.executable, "-m", "generator", "check", str(path)], capture_output=True, text=True, timeout=120, preexec_fn=limit_memory
    )
    return done.returncode, done.stderr.splitlines()


def test_sparse_file_of_two_gigabytes(tmp_path: Path) -> None:
    """Only one byte past the limit is read: the size comes from the file system."""
    path = tmp_path / "sparse.yaml"
    with path.open("wb") as file:
        file.truncate(2 << 30)
    assert check_apart(path) == (2, ["sparse.yaml: the file is 2147483648 bytes; an inventory is at most 1000000 bytes", "1 error"])


def test_dev_zero() -> None:
    """An endless device is refused before any read."""
    assert check_apart(Path("/dev/zero")) == (2, ["zero: /dev/zero is a character device, not a regular file: save the inventory to a file first", "1 error"])


def test_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    os.mkfifo(path)
    assert check_apart(path) == (2, [f"cluster.yaml: {path} is a FIFO (named pipe), not a regular file: save the inventory to a file first", "1 error"])


def test_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(tmp_path, capsys)[:2] == (2, [f"{tmp_path.name}: {tmp_path} is a directory, not an inventory file", "1 error"])


def test_end_of_life_follows_the_date(monkeypatch: pytest.MonkeyPatch) -> None:
    """1.35 is maintained until 2027-02-28: no warning on the suite's day, one after."""
    text = EXAMPLE.read_text(encoding="utf-8")
    assert loader.check_text(text).warnings == []
    monkeypatch.setattr(versions, "today", lambda: date(2027, 2, 28))
    (warning,) = loader.check_text(text).warnings
    assert warning.path == "kubernetes.version" and "end of life on 2027-02-28" in warning.message
