"""The only code that writes a generated repository.

Ownership is recorded in `.clusterforge/lock` (path -> sha256 of what we last
wrote). The writer never touches a file it does not own, refuses to overwrite
an owned file that was edited by hand (unless forced), removes owned files that
are no longer rendered, leaves unchanged files alone, and can be killed at any
moment: every file is replaced atomically and the lock is written last, so a
re-run converges.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ClusterforgeError
from .render.layout import LOCK_FILE

LOCK_VERSION = 1
EXECUTABLE_SUFFIXES = (".sh",)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Plan:
    """What writing `tree` into a repository would do."""

    create: list[str] = field(default_factory=list)
    update: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Files we would have to overwrite or delete although the user changed them
    # (or never gave them to us): refused unless forced.
    conflicts: list[str] = field(default_factory=list)

    @property
    def stale(self) -> list[str]:
        return sorted(self.create + self.update + self.remove + self.conflicts)


class WriteConflict(ClusterforgeError):
    exit_code = 1

    def __init__(self, paths: list[str]):
        listed = "\n".join(f"  {p}" for p in paths)
        super().__init__(
            f"refusing to overwrite files changed by hand or not written by clusterforge:\n{listed}\n"
            "move your changes into cluster.yaml (or delete the files) and render again, or use --force"
        )


def read_lock(repo: Path) -> dict[str, str]:
    path = repo / LOCK_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        files = data["files"]
        if data.get("version") != LOCK_VERSION or not isinstance(files, dict):
            raise ValueError
        # Only a real digest may say a file is ours: _current's "(not a text file)" must never match one.
        if not all(isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v) for v in files.values()):
            raise ValueError
        return {str(k): str(v) for k, v in files.items()}
    except (ValueError, KeyError, TypeError):
        raise ClusterforgeError(f"{path} is damaged; delete it and render with --force to take ownership again") from None


def _current(repo: Path, rel: str) -> str | None:
    try:
        return digest((repo / rel).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, IsADirectoryError):
        return "(not a text file)"


def plan(repo: Path, tree: dict[str, str]) -> Plan:
    lock = read_lock(repo)
    result = Plan()
    for rel, text in tree.items():
        want, have = digest(text), _current(repo, rel)
        if have == want:
            result.unchanged.append(rel)
        elif have is None:
            result.create.append(rel)
        elif lock.get(rel) == have:
            result.update.append(rel)
        else:
            result.conflicts.append(rel)
    for rel in sorted(lock.keys() - tree.keys()):
        have = _current(repo, rel)
        if have is None:
            continue
        (result.remove if have == lock[rel] else result.conflicts).append(rel)
    return result


def write(repo: Path, tree: dict[str, str], *, force: bool = False) -> Plan:
    todo = plan(repo, tree)
    if todo.conflicts and not force:
        raise WriteConflict(todo.conflicts)
    for rel in todo.create + todo.update + [c for c in todo.conflicts if c in tree]:
        _atomic_write(repo / rel, tree[rel], executable=rel.endswith(EXECUTABLE_SUFFIXES))
    for rel in todo.remove + [c for c in todo.conflicts if c not in tree]:
        (repo / rel).unlink(missing_ok=True)
        _prune_empty_dirs(repo, (repo / rel).parent)
    lock = {"version": LOCK_VERSION, "files": {rel: digest(text) for rel, text in sorted(tree.items())}}
    _atomic_write(repo / LOCK_FILE, json.dumps(lock, indent=1, sort_keys=True) + "\n")
    return todo


def _atomic_write(path: Path, text: str, *, executable: bool = False, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.chmod(tmp, 0o755 if executable else mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(path: Path, text: str) -> None:
    """A file only its owner may read (the secrets file, seeds)."""
    _atomic_write(path, text, mode=0o600)


def _prune_empty_dirs(repo: Path, directory: Path) -> None:
    while directory != repo and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent
