"""Helpers shared by the test packages: copying and editing a rendered repository, and
finding processes a run may have left behind."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest


def copy(root: Path, tmp_path: Path) -> Path:
    """A fresh copy of a rendered repository, to break without touching the shared one."""
    dest = tmp_path / root.name
    shutil.copytree(root, dest)
    return dest


def program(path: Path, text: str) -> Path:
    """An executable file at `path` (its folder made): a stand-in for a tool, in the tests that need one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


def edit(root: Path, path: str, old: str, new: str, *, every: bool = False) -> None:
    """Replace the first `old` (or `every` one) in one file of the repository, which must hold it."""
    text = (root / path).read_text()
    assert old in text, f"{old!r} not in {path}"
    (root / path).write_text(text.replace(old, new, -1 if every else 1))


def descendants(pid: int) -> set[int]:
    """Every process started by `pid`, by its children, and so on."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def processes_mentioning(text: str, *, parent: int | None = None) -> list[str]:
    """Every process whose command line or environment holds `text` (Argo CD's repo server has
    the rehearsal's folder in its environment only) and, given `parent`, started by that process
    (other runs on the machine may hold the same words), as "PID: command line"."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environ = Path(f"/proc/{entry}/environ").read_bytes().decode(errors="replace")
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if (text in cmdline or text in environ) and parent in (None, ppid):
                found.append(f"{entry}: {cmdline}")
    return found


def load_script(path: Path, name: str) -> ModuleType:
    """A script of the project's tools/ folder (no package) imported as module `name`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the script runs
    spec.loader.exec_module(module)
    return module


# Lock files the writer must refuse as damaged (its own tests and the CLI's hostile ones).
DAMAGED_LOCKS = [
    pytest.param('{"files": {}}', id="no-version"),
    pytest.param('{"version": 1}', id="no-files"),
    pytest.param('{"version": 1, "files": []}', id="files-not-a-mapping"),
    pytest.param('{"version": "1", "files": {}}', id="version-a-string"),
    pytest.param('{"version": true, "files": {}}', id="version-true"),
    pytest.param("[1]", id="not-a-mapping"),
    pytest.param('{"version": 1', id="not-json"),
    pytest.param(b'{"version": 1, "files": {"README.md": "\xff"}}', id="not-utf8"),
    pytest.param('{"version": 1, "files": {}}' + " " * (16_000_000 - 27 + 1), id="one-byte-over-16-mb"),
]
