"""validate loads the inventory exactly as `check` does: every broken inventory of
tests/errors (the hostile ones too: trailing newlines, non-ASCII digits, huge numbers)
stops validate with check's own messages and exit 2, before any check runs."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from generator import cli
from generator.validate import caches

ERRORS = Path(__file__).resolve().parents[1] / "errors"
CASES = [p for p in sorted(ERRORS.rglob("*.yaml")) if "warnings" not in p.relative_to(ERRORS).parts]


@pytest.mark.parametrize("case", CASES, ids=[p.relative_to(ERRORS).with_suffix("").as_posix() for p in CASES])
def test_validate_stops_where_check_does(case: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(case, repo / "cluster.yaml")
    monkeypatch.setenv(caches.CACHE_ENV, str(tmp_path / "cache"))
    checked = cli.main(["check", str(repo / "cluster.yaml")])
    check_err = capsys.readouterr().err
    out = io.StringIO()
    validated = cli.main(["validate", "-C", str(repo)], out)
    assert (validated, capsys.readouterr().err, out.getvalue()) == (checked, check_err, "")
    assert checked == 2
    assert not (tmp_path / "cache").exists()  # nothing was validated
