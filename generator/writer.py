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

Temporary files are made private (0600) in a scratch folder that tells git to
ignore everything in it before anything else goes there, and that the end of
the next write session removes; one session at a time holds a repository.
A new repository is built in a staging folder beside its destination, marked
the same way, and moved into place whole.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TypeVar

from .errors import ClusterforgeError
from .render import layout
from .render.layout import LOCK_FILE

LOCK_VERSION = 1
_LOCK_LIMIT = 16_000_000  # bytes; a lock for the largest inventory is a small fraction of this
EXECUTABLE_SUFFIXES = (".sh",)
_HASH = re.compile("[0-9a-f]{64}")
_UNSAFE_CHARACTER = re.compile(r"[\x00-\x1f\x7f\\]")
# clusterforge 0.1 made its temporaries with tempfile.mkstemp beside each file: `.NAME.XXXXXXXX`.
_OLD_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}")
_FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO must not block us
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# What a symbolic link where a rendered file belongs "contains": no lock hash matches it,
# so it is a file changed by hand (replacing the link itself is safe).
_A_LINK = "(a symbolic link)"
# Written first into every scratch and staging folder: git ignores the folder whole.
IGNORE_ALL = "# clusterforge's temporary files (they may hold secrets): never commit them\n*\n"
STAGING_PREFIX = ".clusterforge-new-"
T = TypeVar("T")


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

    def __init__(self, path: Path, scratch: str) -> None:
        self.path = path
        self.scratch = scratch  # where temporary files go, relative to path
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
                child = _open_folder(fd, part, create)
            finally:
                os.close(fd)
            if child is None:
                return None
            if isinstance(child, str):
                raise self._blocked(rel, "/".join(parts[: depth + 1]), child)
            fd = child
        return fd

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
            mode = os.stat(_name(rel), dir_fd=parent, follow_symlinks=False).st_mode
        except FileNotFoundError:
            return None
        finally:
            os.close(parent)
        if stat.S_ISREG(mode):
            return "file"
        return "link" if stat.S_ISLNK(mode) else "folder" if stat.S_ISDIR(mode) else "other"

    @contextmanager
    def reading(self, rel: str) -> Iterator[BinaryIO]:
        """The regular file at `rel` (which `kind` found), open for reading."""
        parent = self.folder(rel)
        assert parent is not None
        try:
            fd = os.open(_name(rel), _READ_FLAGS, dir_fd=parent)
        finally:
            os.close(parent)
        with os.fdopen(fd, "rb") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                raise Blocked(f"{self.path / rel} changed while clusterforge read it", self.path / rel)
            yield file

    def put(self, rel: str, text: str, *, mode: int) -> None:
        """Replace `rel` atomically with `text`."""
        self._install(rel, lambda scratch, temporary: _write_new(scratch, temporary, text, mode=mode))

    def _install(self, rel: str, make: Callable[[int, str], None]) -> None:
        """`make(scratch, name)` makes a temporary file in the scratch folder, which is then
        renamed over `rel`. A failure leaves the temporary to the end of the session."""
        parent = self.folder(rel, create=True)
        assert parent is not None
        try:
            scratch = self._scratch_folder()
            try:
                temporary = os.urandom(8).hex()
                make(scratch, temporary)
                os.replace(temporary, _name(rel), src_dir_fd=scratch, dst_dir_fd=parent)
            finally:
                os.close(scratch)
        finally:
            os.close(parent)

    def _scratch_folder(self) -> int:
        """The scratch folder, made (0700, ignored by git before it holds anything) if missing."""
        fd = self.folder(f"{self.scratch}/.gitignore", create=True)
        assert fd is not None
        try:
            os.fchmod(fd, 0o700)
            if not _holds(fd, ".gitignore", IGNORE_ALL):
                _write_new(fd, ".gitignore", IGNORE_ALL, mode=0o644, replace=True)
        except BaseException:
            os.close(fd)
            raise
        return fd

    def remove_scratch(self) -> None:
        """Remove the scratch folder with whatever a killed run left in it."""
        try:
            parent = self.folder(self.scratch)
        except Blocked:
            return  # not ours to clean: the write that needs it says why
        if parent is None:
            return
        try:
            shutil.rmtree(_name(self.scratch), dir_fd=parent)
        except OSError:
            pass  # gone already, or a link someone made: the next write that needs it says so
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

    def remove_old_temporaries(self, paths: set[str]) -> None:
        """Remove what clusterforge 0.1 left when killed beside the files it writes:
        `.NAME.XXXXXXXX` regular files (the secrets file's held every secret)."""
        by_folder: dict[str, set[str]] = {}
        for rel in paths:
            by_folder.setdefault(rel.rpartition("/")[0], set()).add(_name(rel))
        for folder, names in sorted(by_folder.items()):
            try:
                fd = self.folder(f"{folder}/x" if folder else "x")
            except Blocked:
                continue
            if fd is None:
                continue
            try:
                for entry in os.listdir(fd):
                    old = _OLD_TEMPORARY.fullmatch(entry)
                    if old and old["name"] in names and stat.S_ISREG(os.stat(entry, dir_fd=fd, follow_symlinks=False).st_mode):
                        os.unlink(entry, dir_fd=fd)
            except OSError:
                pass  # best effort: a leftover that cannot go is no reason to stop rendering
            finally:
                os.close(fd)

    # --- a write session ------------------------------------------------------------

    def write(self, tree: dict[str, str], *, force: bool = False) -> Plan:
        """Make the repository hold `tree` (see the module's docstring)."""
        todo = _plan(self, tree)
        if todo.conflicts and not force:
            raise WriteConflict(todo.conflicts)
        self._guarded(self.scratch, lambda: os.close(self._scratch_folder()))  # a scratch folder in the way stops us here
        self.remove_old_temporaries({*todo.create, *todo.update, *todo.remove, *todo.unchanged, *todo.conflicts,
                                     LOCK_FILE, layout.SECRETS_FILE})
        for rel in todo.create + todo.update + [c for c in todo.conflicts if c in tree]:
            self.write_file(rel, tree[rel], mode=0o755 if rel.endswith(EXECUTABLE_SUFFIXES) else 0o644)
        for rel in todo.remove + [c for c in todo.conflicts if c not in tree]:
            self._guarded(rel, lambda rel=rel: self.remove(rel))
        lock = {"version": LOCK_VERSION, "files": {rel: digest(text) for rel, text in sorted(tree.items())}}
        self.write_file(LOCK_FILE, json.dumps(lock, indent=1, sort_keys=True) + "\n")
        return todo

    def write_file(self, rel: str, text: str, *, mode: int = 0o644) -> None:
        self._guarded(rel, lambda: self.put(rel, text, mode=mode))

    def write_private(self, rel: str, text: str) -> None:
        """A file only its owner may read (the secrets file, seeds): private from its first byte."""
        self.write_file(rel, text, mode=0o600)

    def build_private(self, rel: str, make: Callable[[Path, Path], None]) -> None:
        """A private file an external tool makes: `make(path, scratch)` writes `path`
        inside the private scratch folder (where its own temporaries may go too), then
        it is moved into place."""

        def made(scratch: int, temporary: str) -> None:
            make(self.path / self.scratch / temporary, self.path / self.scratch)
            fd = os.open(temporary, _READ_FLAGS, dir_fd=scratch)
            try:
                os.fchmod(fd, 0o600)
            finally:
                os.close(fd)

        self._guarded(rel, lambda: self._install(rel, made))

    def _guarded(self, rel: str, change: Callable[[], None]) -> None:
        """Make a change to `rel`, turning the system's refusal into a message naming it."""
        try:
            change()
        except OSError as exc:
            raise ClusterforgeError(f"cannot write {self.path / rel}: {exc.strerror}") from None


def _name(rel: str) -> str:
    return rel.rpartition("/")[2]


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
        return _open_folder(parent, name, create=False)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
        link = stat.S_ISLNK(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
        return "link" if link else "not a folder"


def _write_new(folder: int, name: str, text: str, *, mode: int, replace: bool = False) -> None:
    """Create `name` in `folder`, private until it holds all of `text`, then give it `mode`."""
    if replace:
        try:
            os.unlink(name, dir_fd=folder)
        except FileNotFoundError:
            pass
    fd = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=folder)
    try:
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(fd, data) :]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _holds(folder: int, name: str, text: str) -> bool:
    """Whether `name` in `folder` is a regular file holding exactly `text`."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=folder)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as file:
        return stat.S_ISREG(os.fstat(file.fileno()).st_mode) and file.read(len(text) + 1) == text.encode()


@contextmanager
def opened(root: Path, *, scratch: str = layout.SCRATCH_DIR) -> Iterator[Tree]:
    """`root` for reading: nothing is locked, made or removed."""
    tree = Tree(root, scratch)
    try:
        yield tree
    finally:
        tree.close()


@contextmanager
def session(root: Path, *, scratch: str = layout.SCRATCH_DIR) -> Iterator[Tree]:
    """`root` for writing, by one session at a time (others wait). Its end removes the
    scratch folder, with the temporaries of any session that was killed."""
    with opened(root, scratch=scratch) as tree:
        fcntl.flock(tree.fd, fcntl.LOCK_EX)
        try:
            yield tree
        finally:
            tree.remove_scratch()


def read_texts(repo: Path, paths: list[str]) -> dict[str, tuple[str | None, str]]:
    """What is at each path, as (kind, text): the text of a regular file (read as
    `plan` shows it, never through a link), "" for anything else or nothing."""
    found: dict[str, tuple[str | None, str]] = {}
    with opened(repo) as disk:
        for rel in paths:
            kind = disk.kind(rel)
            text = ""
            if kind == "file":
                with disk.reading(rel) as file:
                    text = file.read().decode("utf-8", errors="replace")
            found[rel] = (kind, text)
    return found


# --- the lock ---------------------------------------------------------------------


def read_lock(repo: Path) -> dict[str, str]:
    """The lock's entries, each checked: the lock is tracked, so it is as hostile as any input."""
    with opened(repo) as tree:
        return _read_lock(tree)


def _read_lock(tree: Tree) -> dict[str, str]:
    path = tree.path / LOCK_FILE
    kind = tree.kind(LOCK_FILE)
    if kind is None:
        return {}
    if kind == "link":
        raise Blocked(f"{path} is a symbolic link: clusterforge never reads or replaces its lock through one; "
                      "delete it and render with --force to take ownership again", path)
    if kind != "file":
        raise _not_a_file(path)
    damaged = ClusterforgeError(f"{path} is damaged; delete it and render with --force to take ownership again")
    with tree.reading(LOCK_FILE) as file:
        raw = file.read(_LOCK_LIMIT + 1)
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise damaged from None
    if len(raw) > _LOCK_LIMIT or not isinstance(data, dict) or type(data.get("version")) is not int or not isinstance(data.get("files"), dict):
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
    """The digest of what is at each path (None: nothing). Raises naming every path
    that cannot be written or deleted safely, all at once."""
    current: dict[str, str | None] = {}
    problems: dict[Path, str] = {}  # one line for each thing in the way, however many paths it blocks
    for rel in paths:
        try:
            kind = disk.kind(rel)
            if kind in ("folder", "other"):
                raise _not_a_file(disk.path / rel)
            if kind == "file":
                with disk.reading(rel) as file:
                    current[rel] = hashlib.file_digest(file, "sha256").hexdigest()
            else:
                current[rel] = _A_LINK if kind == "link" else None
        except Blocked as exc:
            problems.setdefault(exc.where, str(exc))
        except OSError as exc:
            raise ClusterforgeError(f"cannot read {disk.path / rel}: {exc.strerror}") from None
    if problems:
        raise ClusterforgeError("\n".join(problems.values()))
    return current


def write(repo: Path, tree: dict[str, str], *, force: bool = False) -> Plan:
    with session(repo) as disk:
        return disk.write(tree, force=force)


# --- a new folder, whole or not at all ------------------------------------------------


def staged(dest: Path, build: Callable[[Path], tuple[Path, T]]) -> T:
    """Run `build` in a staging folder beside DEST and move the folder it returns into
    place, so a failure or a crash leaves no half-made DEST behind. The staging folder
    is ignored by git from its first byte and locked while in use; the next call beside
    it removes it if a killed run left it. Messages name DEST as given."""
    target = Path(os.path.abspath(dest))  # the build may change the working directory
    remove_stale_staging(target.parent)
    _check_destination(dest, target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f"{STAGING_PREFIX}{os.urandom(8).hex()}"
        staging.mkdir(mode=0o700)
        holder = os.open(staging, _FOLDER_FLAGS)
    except OSError as exc:
        raise _cannot_create(dest, exc) from None
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # in use: no other run removes it
        _write_new(holder, ".gitignore", IGNORE_ALL, mode=0o644)
        built, result = build(staging)
        if target.exists():
            target.rmdir()  # the empty folder DEST was
        os.replace(built, target)
    except OSError as exc:
        raise _cannot_create(dest, exc) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(holder)
    return result


def _check_destination(dest: Path, target: Path) -> None:
    """DEST must be missing, or an empty real folder that a finished one can replace."""
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        return
    except NotADirectoryError:
        blocker = next(p for p in reversed(target.parents) if p.exists() and not p.is_dir())
        raise ClusterforgeError(f"cannot create {dest}: {blocker} is not a folder") from None
    except OSError as exc:
        raise _cannot_create(dest, exc) from None
    if stat.S_ISLNK(mode):
        raise ClusterforgeError(f"{dest} is a symbolic link: give the path of a folder to create, or of an empty one")
    if not stat.S_ISDIR(mode) or any(target.iterdir()):
        raise ClusterforgeError(f"{dest} already exists and is not empty")
    if os.path.ismount(target):
        raise ClusterforgeError(f"{dest} is a mount point: new moves a finished folder into place, which cannot replace one; give a folder inside it")


def _cannot_create(dest: Path, exc: OSError) -> ClusterforgeError:
    return ClusterforgeError(f"cannot create {dest}: {exc.strerror}")


def remove_stale_staging(parent: Path) -> None:
    """Remove the staging folders killed runs left in `parent`: ours by name and by
    marker (whole, or cut short by the kill), and not locked by a run still building."""
    try:
        entries = [entry.name for entry in os.scandir(parent) if entry.name.startswith(STAGING_PREFIX)]
    except OSError:
        return  # no parent yet, or not readable: nothing of ours there
    with opened(parent) as folder:
        for name in entries:
            try:
                fd = os.open(name, _FOLDER_FLAGS, dir_fd=folder.fd)
            except OSError:
                continue  # a link, a file, or gone
            try:
                if _staging_marker(fd):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    shutil.rmtree(name, dir_fd=folder.fd)
            except OSError:
                continue  # in use (BlockingIOError) or not removable: left alone
            finally:
                os.close(fd)


def _staging_marker(folder: int) -> bool:
    try:
        fd = os.open(".gitignore", _READ_FLAGS, dir_fd=folder)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as file:
        return stat.S_ISREG(os.fstat(file.fileno()).st_mode) and IGNORE_ALL.encode().startswith(file.read(len(IGNORE_ALL) + 1))
