"""The only code that writes a generated repository.

Ownership is recorded in `.clusterforge/lock` (path -> sha256 of what we last
wrote). The writer never touches a file it does not own, refuses to overwrite
an owned file that was edited by hand (unless forced), removes owned files that
are no longer rendered, leaves unchanged files alone, and can be killed at any
moment: every file is replaced atomically and the lock is written last, so a
re-run converges.

The lock and the tree are hostile input: the lock may only name files
clusterforge renders, and every path below the repository root is opened one
folder at a time without following symbolic links (the root itself may be one:
it is opened once), so nothing is ever written, replaced or deleted outside the
repository.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ClusterforgeError
from .render import layout
from .render.layout import LOCK_FILE

LOCK_VERSION = 1
EXECUTABLE_SUFFIXES = (".sh",)
_HASH = re.compile("[0-9a-f]{64}")
_UNSAFE_CHARACTER = re.compile(r"[\x00-\x1f\x7f\\]")
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO must not block us
# What a symbolic link where a rendered file belongs "contains": no lock hash matches it,
# so it is a file changed by hand (replacing the link itself is safe).
_A_LINK = "(a symbolic link)"


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


class Blocked(ClusterforgeError):
    """Something in the tree at `where` that clusterforge must not write through or over."""

    def __init__(self, message: str, where: Path):
        super().__init__(message)
        self.where = where


# --- the tree on disk --------------------------------------------------------------


class Tree:
    """A folder opened once; every path below it is reached one folder at a time,
    never through a symbolic link, so no write leaves it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ClusterforgeError(f"cannot open {path}: {exc.strerror}") from None

    def close(self) -> None:
        os.close(self.fd)

    def folder(self, rel: str, *, create: bool = False) -> int | None:
        """An open descriptor of the folder holding `rel` (the caller closes it); None when
        a folder on the way does not exist and `create` is false."""
        *parts, _ = rel.split("/")
        fd = os.dup(self.fd)
        for depth, part in enumerate(parts):
            try:
                child = self._open_folder(fd, part, create)
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
            if child is None:
                return None
            if isinstance(child, str):
                raise self._blocked(rel, "/".join(parts[: depth + 1]), child)
            fd = child
        return fd

    @staticmethod
    def _open_folder(parent: int, name: str, create: bool) -> int | str | None:
        """The folder `name` opened, None if missing, or what it is instead of a folder."""
        try:
            return os.open(name, _FOLDER_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(name, 0o755, dir_fd=parent)
            except FileExistsError:
                pass  # made meanwhile (or a dangling link: opening it says so)
            return Tree._open_folder(parent, name, create=False)
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            link = stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
            return "link" if link else "not a folder"

    def _blocked(self, rel: str, folder: str, what: str) -> Blocked:
        where = self.path / folder
        if what == "link":
            return Blocked(f"{where} is a symbolic link: clusterforge never writes, replaces or deletes through one ({rel} is below it)", where)
        return Blocked(f"{where} is not a folder, but {rel} is rendered below it", where)

    def kind(self, rel: str) -> str | None:
        """"file", "link", "folder" or "other" for what is at `rel`; None if nothing is."""
        parent = self.folder(rel)
        if parent is None:
            return None
        try:
            mode = os.stat(rel.rsplit("/", 1)[-1], dir_fd=parent, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return None
        finally:
            os.close(parent)
        if stat.S_ISREG(mode):
            return "file"
        return "link" if stat.S_ISLNK(mode) else "folder" if stat.S_ISDIR(mode) else "other"

    def read(self, rel: str) -> bytes:
        """The bytes of the regular file at `rel` (which `kind` found)."""
        parent = self.folder(rel)
        assert parent is not None
        try:
            fd = os.open(rel.rsplit("/", 1)[-1], _READ_FLAGS, dir_fd=parent)
        finally:
            os.close(parent)
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise Blocked(f"{self.path / rel} changed while clusterforge read it", self.path / rel)
            return file.read()

    def put(self, rel: str, text: str, *, mode: int) -> None:
        """Replace `rel` atomically with `text` (a temporary file renamed over it)."""
        name = rel.rsplit("/", 1)[-1]
        parent = self.folder(rel, create=True)
        assert parent is not None
        try:
            temporary = f".{name}.{os.urandom(8).hex()}"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=parent)
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(text.encode("utf-8"))
                    os.fchmod(file.fileno(), mode)
                os.replace(temporary, name, src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                os.unlink(temporary, dir_fd=parent)
                raise
        finally:
            os.close(parent)

    def remove(self, rel: str) -> None:
        """Delete `rel`, then every folder on its way that this left empty."""
        parts = rel.split("/")
        parent = self.folder(rel)
        if parent is None:
            return
        try:
            os.unlink(parts[-1], dir_fd=parent)
        except FileNotFoundError:
            pass
        finally:
            os.close(parent)
        for depth in range(len(parts) - 1, 0, -1):
            parent = self.folder("/".join(parts[:depth]))
            if parent is None:
                return
            try:
                os.rmdir(parts[depth - 1], dir_fd=parent)
            except OSError:
                return  # not empty (or no longer a folder): it stays, and so do the folders above it
            finally:
                os.close(parent)


@contextmanager
def opened(repo: Path) -> Iterator[Tree]:
    tree = Tree(repo)
    try:
        yield tree
    finally:
        tree.close()


# --- the lock ---------------------------------------------------------------------


def read_lock(repo: Path) -> dict[str, str]:
    """The lock's entries, each checked: the lock is tracked, so it is as hostile as any input."""
    with opened(repo) as disk:
        return _read_lock(disk)


def _read_lock(disk: Tree) -> dict[str, str]:
    path = disk.path / LOCK_FILE
    kind = disk.kind(LOCK_FILE)
    if kind is None:
        return {}
    if kind == "link":
        raise Blocked(f"{path} is a symbolic link: clusterforge never reads or replaces its lock through one; "
                      "delete it and render with --force to take ownership again", path)
    if kind != "file":
        raise _not_a_file(path)
    damaged = ClusterforgeError(f"{path} is damaged; delete it and render with --force to take ownership again")
    try:
        data = json.loads(disk.read(LOCK_FILE).decode("utf-8"))
    except ValueError:
        raise damaged from None
    if not isinstance(data, dict) or not isinstance(data.get("version"), int) or not isinstance(data.get("files"), dict):
        raise damaged
    if data["version"] != LOCK_VERSION:
        raise ClusterforgeError(
            f"{path}: lock format version {data['version']}, but this clusterforge reads version {LOCK_VERSION}: "
            "render with the clusterforge version that wrote it"
        )
    files = data["files"]
    problems = [f"{json.dumps(rel)}: {reason}" for rel in sorted(files) for reason in _entry_problems(rel, files[rel])]
    if problems:
        listed = "".join(f"  {problem}\n" for problem in problems)
        raise ClusterforgeError(
            f"{path}: refusing entries that are not files clusterforge renders inside the repository; nothing was changed:\n"
            f"{listed}restore the lock from git, or delete it and render with --force to take ownership again"
        )
    return files


def _entry_problems(rel: str, value: object) -> list[str]:
    problems = []
    if reason := _path_problem(rel):
        problems.append(reason)
    if not isinstance(value, str) or not _HASH.fullmatch(value):
        problems.append(f"hash {json.dumps(value)} is not 64 lowercase hex digits")
    return problems


def _path_problem(rel: str) -> str | None:
    """Why `rel` cannot be a file this repository's lock owns (None: it can)."""
    parts = rel.split("/")
    if not rel:
        return "an empty path"
    if rel.startswith("/"):
        return "an absolute path"
    if _UNSAFE_CHARACTER.search(rel):
        return "a backslash or control character"
    if ".." in parts:
        return '".." leaves the repository'
    if "" in parts or "." in parts:
        return 'an empty or "." part'
    if not layout.is_renderable(rel):
        return "not a file clusterforge renders"
    return None


def _not_a_file(path: Path) -> Blocked:
    what = "a folder" if path.is_dir() else "not a regular file"
    return Blocked(f"{path} is {what}, but clusterforge writes a file there: move it away and render again", path)


# --- planning and writing -----------------------------------------------------------


def plan(repo: Path, tree: dict[str, str]) -> Plan:
    with opened(repo) as disk:
        return _plan(disk, tree)


def _plan(disk: Tree, tree: dict[str, str]) -> Plan:
    lock = _read_lock(disk)
    current = _current(disk, sorted(tree.keys() | lock.keys()))
    result = Plan()
    for rel, text in tree.items():
        want, have = digest(text), current[rel]
        if have == want:
            result.unchanged.append(rel)
        elif have is None:
            result.create.append(rel)
        elif lock.get(rel) == have:
            result.update.append(rel)
        else:
            result.conflicts.append(rel)
    for rel in sorted(lock.keys() - tree.keys()):
        have = current[rel]
        if have is None:
            continue
        (result.remove if have == lock[rel] else result.conflicts).append(rel)
    return result


def _current(disk: Tree, paths: list[str]) -> dict[str, str | None]:
    """The digest of what is at each path (None: nothing). Raises Blocked naming every
    path that cannot be written or deleted safely, all at once."""
    current: dict[str, str | None] = {}
    problems: dict[Path, str] = {}  # one line for each thing in the way, however many paths it blocks
    for rel in paths:
        try:
            kind = disk.kind(rel)
            if kind in ("folder", "other"):
                raise _not_a_file(disk.path / rel)
            current[rel] = hashlib.sha256(disk.read(rel)).hexdigest() if kind == "file" else _A_LINK if kind == "link" else None
        except Blocked as exc:
            problems.setdefault(exc.where, str(exc))
        except OSError as exc:
            raise ClusterforgeError(f"cannot read {disk.path / rel}: {exc.strerror}") from None
    if problems:
        raise ClusterforgeError("\n".join(problems.values()))
    return current


def write(repo: Path, tree: dict[str, str], *, force: bool = False) -> Plan:
    with opened(repo) as disk:
        todo = _plan(disk, tree)
        if todo.conflicts and not force:
            raise WriteConflict(todo.conflicts)
        for rel in todo.create + todo.update + [c for c in todo.conflicts if c in tree]:
            _put(disk, rel, tree[rel], mode=0o755 if rel.endswith(EXECUTABLE_SUFFIXES) else 0o644)
        for rel in todo.remove + [c for c in todo.conflicts if c not in tree]:
            _guarded(disk, rel, disk.remove, rel)
        lock = {"version": LOCK_VERSION, "files": {rel: digest(text) for rel, text in sorted(tree.items())}}
        _put(disk, LOCK_FILE, json.dumps(lock, indent=1, sort_keys=True) + "\n", mode=0o644)
    return todo


def write_private(path: Path, text: str) -> None:
    """A file only its owner may read (the secrets file, seeds)."""
    with opened(path.parent) as disk:
        _put(disk, path.name, text, mode=0o600)


def _put(disk: Tree, rel: str, text: str, *, mode: int) -> None:
    _guarded(disk, rel, disk.put, rel, text, mode=mode)


def _guarded(disk: Tree, rel: str, action, *args, **kwargs) -> None:
    """Run a change to `rel`, turning the system's refusal into a message naming it."""
    try:
        action(*args, **kwargs)
    except OSError as exc:
        raise ClusterforgeError(f"cannot write {disk.path / rel}: {exc.strerror}") from None
