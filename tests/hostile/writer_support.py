"""Helpers of the writer's hostile-input tests: a rendered repository to break, the
CLI's exit code and messages, and what is on disk."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from generator import cli, repo, writer

EXAMPLE = cli.example_text()


def new_repo(dest: Path, text: str = EXAMPLE) -> Path:
    """A repository rendered from the reference inventory (without cookiecutter: fast)."""
    repo.new(dest, text)
    return dest


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """`clusterforge ARGV` in-process: exit code and stderr."""
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


def files(root: Path) -> dict[str, bytes]:
    """Every regular file below root (links are not followed) and its bytes."""
    found = {}
    for folder, dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if stat.S_ISREG(path.lstat().st_mode):
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def edit_inventory(dest: Path, old: str, new: str) -> None:
    inventory = dest / "cluster.yaml"
    text = inventory.read_text()
    assert old in text
    inventory.write_text(text.replace(old, new))


def digest_of(path: Path) -> str:
    return writer.digest(path.read_text())


def git(root: Path, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    assert done.returncode in ok, done.stderr
    return done


def git_init(root: Path) -> None:
    git(root, "init", "-q")
