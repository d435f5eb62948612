"""Everything generator/writer.py promises, on small trees of a few files: the lock
and every entry it may hold, containment (no write through a symbolic link or past
a file where a folder belongs), temporaries and the scratch folder, atomic and
private writes, owned and unowned files, --force, stale files, one session at a
time, staging folders, and convergence after a kill at any write or rename.

The hostile tests (tests/hostile) check the same promises through the CLI on whole
rendered repositories; these check them on the writer alone, in milliseconds, which
is what the writer's mutants run against (tests/mutants/mutation.py)."""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import stat
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import writer
from generator.errors import ClusterforgeError
from generator.render.layout import LOCK_FILE, SCRATCH_DIR, SECRETS_FILE
from support import DAMAGED_LOCKS

# Paths a lock may name (layout.is_renderable); the contents do not matter here.
README, SCRIPT, USER_DATA, META_DATA, OTHER = "README.md", "bootstrap/install-cilium.sh", "nodes/cp1/user-data", "nodes/cp1/meta-data", "nodes/cp2/user-data"
TREE = {README: "readme\n", SCRIPT: "#!/usr/bin/env bash\ntrue\n", USER_DATA: "#cloud-config\n"}
CHANGED = {README: "readme 2\n", META_DATA: "instance-id: cp1\n", OTHER: "#cloud-config\n"}  # USER_DATA and SCRIPT dropped
REFUSED = "restore the lock from git, or delete it and render with --force to take ownership again"
KILLED = 137


def on_disk(root: Path) -> dict[str, bytes]:
    """Every regular file below root (links not followed) and its bytes."""
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            if stat.S_ISREG(path.lstat().st_mode):
                found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def listing(root: Path) -> dict[str, bytes | None]:
    """Every path below root: a regular file's bytes, None for anything else (folders too)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() if stat.S_ISREG(p.lstat().st_mode) else None for p in sorted(root.rglob("*"))}


def lock_text(tree: dict[str, str]) -> str:
    return json.dumps({"files": {rel: writer.digest(text) for rel, text in tree.items()}, "version": 1}, indent=1, sort_keys=True) + "\n"


def holding(tree: dict[str, str]) -> dict[str, bytes]:
    """What a repository holding exactly `tree` has on disk."""
    return {**{rel: text.encode() for rel, text in tree.items()}, LOCK_FILE: lock_text(tree).encode()}


def set_lock(repo: Path, text: str | bytes) -> Path:
    path = repo / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def lock_with(repo: Path, entries: dict[str, object], version: object = 1) -> Path:
    return set_lock(repo, json.dumps({"version": version, "files": entries}))


def message(raises: Callable[[], object]) -> str:
    with pytest.raises(ClusterforgeError) as refused:
        raises()
    return str(refused.value)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere"
    path.mkdir()
    (path / "keep.txt").write_text("not the repository's\n")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    return path


# --- writing, owned and unowned files -------------------------------------------------------


def test_a_first_write_holds_the_tree_and_its_lock_exactly(repo: Path) -> None:
    plan = writer.write(repo, TREE)
    assert (plan.create, plan.update, plan.remove, plan.unchanged, plan.conflicts) == (list(TREE), [], [], [], [])
    assert on_disk(repo) == holding(TREE)
    assert writer.read_lock(repo) == {rel: writer.digest(text) for rel, text in TREE.items()}


def test_modes_of_files_and_folders(repo: Path) -> None:
    old = os.umask(0)  # the modes are the writer's own, not the umask's
    try:
        writer.write(repo, TREE)
    finally:
        os.umask(old)
    modes = {rel: stat.S_IMODE((repo / rel).stat().st_mode) for rel in [*TREE, "nodes", "nodes/cp1", "bootstrap", ".clusterforge", LOCK_FILE]}
    assert modes == {README: 0o644, SCRIPT: 0o755, USER_DATA: 0o644, "nodes": 0o755, "nodes/cp1": 0o755, "bootstrap": 0o755, ".clusterforge": 0o755, LOCK_FILE: 0o644}


def test_a_rewrite_updates_owned_files_removes_dropped_ones_and_their_empty_folders(repo: Path) -> None:
    writer.write(repo, TREE)
    (repo / "nodes" / "cp1" / "notes.txt").write_text("mine\n")  # keeps nodes/cp1 when user-data goes
    plan = writer.write(repo, CHANGED)
    assert (plan.create, plan.update, plan.remove, plan.unchanged, plan.conflicts) == ([META_DATA, OTHER], [README], [SCRIPT, USER_DATA], [], [])
    assert on_disk(repo) == {**holding(CHANGED), "nodes/cp1/notes.txt": b"mine\n"}
    assert not (repo / "bootstrap").exists()


def test_unchanged_files_are_left_alone(repo: Path) -> None:
    writer.write(repo, TREE)
    before = {rel: (repo / rel).stat().st_ino for rel in TREE}
    plan = writer.write(repo, TREE)
    assert plan.unchanged == list(TREE) and not plan.stale
    assert {rel: (repo / rel).stat().st_ino for rel in TREE} == before


def test_a_file_edited_by_hand_is_refused_and_kept_unless_forced(repo: Path) -> None:
    writer.write(repo, TREE)
    (repo / README).write_text("mine\n")
    (repo / USER_DATA).write_text("mine too\n")
    before = on_disk(repo)
    with pytest.raises(writer.WriteConflict) as refused:
        writer.write(repo, {README: "readme 2\n", SCRIPT: TREE[SCRIPT]})
    assert refused.value.exit_code == 1
    assert str(refused.value).splitlines()[1:3] == [f"  {README}", f"  {USER_DATA}"]
    assert on_disk(repo) == before
    plan = writer.write(repo, {README: "readme 2\n", SCRIPT: TREE[SCRIPT]}, force=True)
    assert plan.conflicts == [README, USER_DATA]
    assert on_disk(repo) == holding({README: "readme 2\n", SCRIPT: TREE[SCRIPT]})


def test_an_unowned_file_is_a_conflict_and_an_identical_one_is_adopted(repo: Path) -> None:
    (repo / README).write_text("the user's\n")
    (repo / "bootstrap").mkdir()
    (repo / SCRIPT).write_text(TREE[SCRIPT])
    plan = writer.plan(repo, TREE)
    assert (plan.create, plan.unchanged, plan.conflicts) == ([USER_DATA], [SCRIPT], [README])
    assert plan.stale == [README, USER_DATA]
    writer.write(repo, {SCRIPT: TREE[SCRIPT]})
    assert writer.read_lock(repo) == {SCRIPT: writer.digest(TREE[SCRIPT])}
    assert (repo / README).read_text() == "the user's\n"


def test_plan_changes_nothing(repo: Path) -> None:
    writer.write(repo, TREE)
    (repo / README).write_text("mine\n")
    before = listing(repo)
    plan = writer.plan(repo, CHANGED)
    assert (plan.create, plan.update, plan.remove, plan.conflicts) == ([META_DATA, OTHER], [], [SCRIPT, USER_DATA], [README])
    assert listing(repo) == before  # not even a folder for nodes/cp2


def test_a_dropped_file_edited_by_hand_is_a_conflict_and_one_already_gone_is_nothing(repo: Path) -> None:
    writer.write(repo, TREE)
    (repo / USER_DATA).write_text("mine\n")
    (repo / SCRIPT).unlink()
    plan = writer.plan(repo, {README: TREE[README]})
    assert (plan.remove, plan.conflicts, plan.unchanged) == ([], [USER_DATA], [README])


def test_a_symbolic_link_at_a_rendered_path_is_a_file_changed_by_hand(repo: Path, elsewhere: Path) -> None:
    """Replaced (not written through) when forced."""
    target = elsewhere / "keep.txt"
    (repo / README).symlink_to(target)
    assert writer.plan(repo, TREE).conflicts == [README]
    writer.write(repo, TREE, force=True)
    assert (repo / README).read_text() == TREE[README] and not (repo / README).is_symlink()
    assert target.read_text() == "not the repository's\n"


def test_the_lock_is_written_last(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written = []
    put = writer.Tree.put
    monkeypatch.setattr(writer.Tree, "put", lambda self, rel, text, *, mode: (written.append(rel), put(self, rel, text, mode=mode)))
    writer.write(repo, TREE)
    assert written == [*TREE, LOCK_FILE]


# --- what is in the way ------------------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True])
def test_a_linked_folder_is_not_written_through(repo: Path, elsewhere: Path, force: bool) -> None:
    (repo / "nodes").symlink_to(elsewhere, target_is_directory=True)
    assert message(lambda: writer.write(repo, TREE, force=force)) == (
        f"{repo / 'nodes'} is a symbolic link: clusterforge never writes, replaces or deletes through one ({USER_DATA} is below it)"
    )
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"] and not (repo / LOCK_FILE).exists()


def test_a_linked_folder_deeper_down_is_named(repo: Path, elsewhere: Path) -> None:
    (repo / "nodes").mkdir()
    (repo / "nodes" / "cp1").symlink_to(elsewhere, target_is_directory=True)
    assert message(lambda: writer.write(repo, TREE)) == (
        f"{repo / 'nodes/cp1'} is a symbolic link: clusterforge never writes, replaces or deletes through one ({USER_DATA} is below it)"
    )


def test_every_thing_in_the_way_is_named_once_all_at_once(repo: Path, elsewhere: Path) -> None:
    (repo / "nodes").symlink_to(elsewhere, target_is_directory=True)
    (repo / "bootstrap").write_text("a file\n")
    (repo / README).mkdir()
    assert message(lambda: writer.write(repo, {**TREE, META_DATA: "m\n"}, force=True)).splitlines() == [
        f"{repo / README} is a folder, but clusterforge writes a file there: move it away and render again",
        f"{repo / 'bootstrap'} is not a folder, but {SCRIPT} is rendered below it",
        f"{repo / 'nodes'} is a symbolic link: clusterforge never writes, replaces or deletes through one ({META_DATA} is below it)",
    ]


def test_a_fifo_or_a_folder_at_a_rendered_path(repo: Path) -> None:
    os.mkfifo(repo / README)
    assert message(lambda: writer.plan(repo, TREE)) == f"{repo / README} is not a regular file, but clusterforge writes a file there: move it away and render again"
    with writer.opened(repo) as tree:
        assert tree.kind(README) == "other"
        with pytest.raises(writer.Blocked) as blocked, tree.reading(README):
            pass
        assert (str(blocked.value), blocked.value.where) == (f"{repo / README} changed while clusterforge read it", repo / README)


def test_what_is_at_a_path(repo: Path, elsewhere: Path) -> None:
    (repo / "a-file").write_text("x")
    (repo / "a-folder").mkdir()
    (repo / "a-link").symlink_to(elsewhere)
    with writer.opened(repo) as tree:
        kinds = [tree.kind(rel) for rel in ["a-file", "a-folder", "a-link", "missing", "missing/below", "a-folder/missing"]]
        with pytest.raises(writer.Blocked) as blocked:
            tree.kind("a-file/below")
    assert kinds == ["file", "folder", "link", None, None, None]
    assert (str(blocked.value), blocked.value.where) == (f"{repo / 'a-file'} is not a folder, but a-file/below is rendered below it", repo / "a-file")


def test_an_unreadable_path_is_named(repo: Path) -> None:
    long = "n" * 256
    assert message(lambda: writer.plan(repo, {f"{long}/x": "x\n"})) == f"cannot read {repo / long}/x: File name too long"


def test_a_refused_write_names_the_file(repo: Path) -> None:
    (repo / README).mkdir()
    (repo / README / "x").write_text("x")
    with writer.session(repo) as disk:
        assert message(lambda: disk.write_file(README, "x\n")) == f"cannot write {repo / README}: Is a directory"


def test_a_repository_that_cannot_be_opened(tmp_path: Path) -> None:
    assert message(lambda: writer.plan(tmp_path / "missing", TREE)) == f"cannot open {tmp_path / 'missing'}: No such file or directory"
    (tmp_path / "a-file").write_text("x")
    assert message(lambda: writer.plan(tmp_path / "a-file", TREE)) == f"cannot open {tmp_path / 'a-file'}: Not a directory"


def test_the_repository_stays_open_in_no_child_process(repo: Path) -> None:
    with writer.opened(repo) as tree:
        assert fcntl.fcntl(tree.fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC


def test_two_things_of_a_kind_in_the_way_are_each_named(repo: Path, elsewhere: Path) -> None:
    (repo / "nodes").symlink_to(elsewhere, target_is_directory=True)
    (repo / "bootstrap").symlink_to(elsewhere, target_is_directory=True)
    (repo / README).mkdir()
    (repo / "README.ja.md").mkdir()
    assert message(lambda: writer.write(repo, {**TREE, "README.ja.md": "r\n"}, force=True)).splitlines() == [
        f"{repo / 'README.ja.md'} is a folder, but clusterforge writes a file there: move it away and render again",
        f"{repo / README} is a folder, but clusterforge writes a file there: move it away and render again",
        f"{repo / 'bootstrap'} is a symbolic link: clusterforge never writes, replaces or deletes through one ({SCRIPT} is below it)",
        f"{repo / 'nodes'} is a symbolic link: clusterforge never writes, replaces or deletes through one ({USER_DATA} is below it)",
    ]


FS_IOC_SETFLAGS, FS_IMMUTABLE_FL = 0x40086602, 0x10  # linux/fs.h (x86-64): chattr +i


def immutable(folder: Path, on: bool) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("l", FS_IMMUTABLE_FL if on else 0))
    finally:
        os.close(fd)


def test_a_file_that_cannot_be_removed_is_named(repo: Path) -> None:
    writer.write(repo, TREE)
    try:
        immutable(repo / "nodes" / "cp1", True)
    except OSError as exc:
        pytest.skip(f"no immutable folders here (needs root and ext4 or the like): {exc.strerror}")
    try:
        assert message(lambda: writer.write(repo, {README: TREE[README]})) == f"cannot write {repo / USER_DATA}: Operation not permitted"
    finally:
        immutable(repo / "nodes" / "cp1", False)


def test_the_repository_itself_may_be_a_link(tmp_path: Path, repo: Path) -> None:
    (tmp_path / "link").symlink_to(repo, target_is_directory=True)
    writer.write(tmp_path / "link", TREE)
    assert on_disk(repo) == holding(TREE)


def test_removing_a_file_below_a_linked_folder_deletes_nothing(repo: Path, elsewhere: Path) -> None:
    writer.write(repo, TREE)
    (elsewhere / "cp1").mkdir()
    (elsewhere / "cp1" / "user-data").write_text(TREE[USER_DATA])
    (repo / USER_DATA).unlink()
    (repo / "nodes" / "cp1").rmdir()
    (repo / "nodes").rmdir()
    (repo / "nodes").symlink_to(elsewhere, target_is_directory=True)
    assert message(lambda: writer.write(repo, {README: TREE[README]}, force=True)) == (
        f"{repo / 'nodes'} is a symbolic link: clusterforge never writes, replaces or deletes through one ({USER_DATA} is below it)"
    )
    assert (elsewhere / "cp1" / "user-data").read_text() == TREE[USER_DATA]


def test_remove_stops_at_a_missing_folder_or_a_folder_with_other_files(repo: Path) -> None:
    writer.write(repo, {USER_DATA: "u\n", OTHER: "o\n"})
    with writer.session(repo) as disk:
        disk.remove("missing/folder/file")
        disk.remove("nodes/cp9/user-data")
        disk.remove(USER_DATA)
        assert not (repo / "nodes/cp1").exists() and (repo / OTHER).exists()
        disk.remove(OTHER)
    assert not (repo / "nodes").exists() and repo.is_dir()


# --- the lock -----------------------------------------------------------------------------------


def test_no_lock_is_an_empty_one(repo: Path) -> None:
    assert writer.read_lock(repo) == {}


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        pytest.param("", "an empty path", id="empty"),
        pytest.param("/etc/passwd", "an absolute path", id="absolute"),
        pytest.param("../victim.txt", '".." leaves the repository', id="dot-dot"),
        pytest.param("nodes/../../victim.txt", '".." leaves the repository', id="dot-dot-inside"),
        pytest.param("nodes//cp1/user-data", 'an empty or "." part', id="empty-part"),
        pytest.param("./README.md", 'an empty or "." part', id="dot-part"),
        pytest.param("nodes/cp1/", 'an empty or "." part', id="trailing-slash"),
        pytest.param("nodes\\cp1\\user-data", "a backslash or control character", id="backslash"),
        pytest.param("README.md\x00", "a backslash or control character", id="nul"),
        pytest.param("README.md\x1f", "a backslash or control character", id="unit-separator"),
        pytest.param("README.md\x7f", "a backslash or control character", id="delete"),
        pytest.param("\nREADME.md", "a backslash or control character", id="leading-newline"),
        pytest.param("cluster.yaml", "not a file clusterforge renders", id="inventory"),
        pytest.param(LOCK_FILE, "not a file clusterforge renders", id="lock-itself"),
        pytest.param(SECRETS_FILE, "not a file clusterforge renders", id="secrets"),
    ],
)
def test_an_entry_that_is_no_rendered_file_inside_the_repository_is_refused(tmp_path: Path, repo: Path, entry: str, reason: str) -> None:
    (tmp_path / "victim.txt").write_text("x\n")
    lock = lock_with(repo, {entry: "0" * 64})
    before = on_disk(tmp_path)
    assert message(lambda: writer.write(repo, TREE, force=True)) == (
        f"{lock}: refusing entries that are not files clusterforge renders inside the repository; nothing was changed:\n"
        f"  {json.dumps(entry)}: {reason}\n{REFUSED}"
    )
    assert on_disk(tmp_path) == before


@pytest.mark.parametrize("value", ["0" * 63, "0" * 65, "A" * 64, "g" * 64, "0" * 64 + "\n", 64, None])
def test_a_malformed_hash_is_refused(repo: Path, value: object) -> None:
    lock = lock_with(repo, {README: value})
    assert message(lambda: writer.read_lock(repo)) == (
        f"{lock}: refusing entries that are not files clusterforge renders inside the repository; nothing was changed:\n"
        f'  "README.md": hash {json.dumps(value)} is not 64 lowercase hex digits\n{REFUSED}'
    )


def test_every_bad_entry_is_named_at_once_sorted(repo: Path) -> None:
    lock = lock_with(repo, {"cluster.yaml": "x", "../v": "0" * 64, README: "f" * 64})
    assert message(lambda: writer.read_lock(repo)).splitlines()[1:4] == [
        '  "../v": ".." leaves the repository',
        '  "cluster.yaml": not a file clusterforge renders',
        '  "cluster.yaml": hash "x" is not 64 lowercase hex digits',
    ]
    assert str(lock) in message(lambda: writer.read_lock(repo))


def test_a_good_lock_is_read(repo: Path) -> None:
    lock_with(repo, {README: "a" * 64, USER_DATA: "0123456789abcdef" * 4})
    assert writer.read_lock(repo) == {README: "a" * 64, USER_DATA: "0123456789abcdef" * 4}


def test_a_lock_of_another_format_version_is_refused(repo: Path) -> None:
    lock = lock_with(repo, {}, version=2)
    assert message(lambda: writer.write(repo, TREE, force=True)) == (
        f"{lock}: lock format version 2, but this clusterforge reads version 1: render with the clusterforge version that wrote it"
    )
    assert not (repo / README).exists()


@pytest.mark.parametrize("text", DAMAGED_LOCKS)
def test_a_damaged_lock_is_refused(repo: Path, text: str | bytes) -> None:
    lock = set_lock(repo, text)
    assert message(lambda: writer.write(repo, TREE, force=True)) == f"{lock} is damaged; delete it and render with --force to take ownership again"
    assert not (repo / README).exists()


def test_a_lock_of_16_mb_is_read(repo: Path) -> None:
    set_lock(repo, '{"version": 1, "files": {}}' + " " * (16_000_000 - 27))
    assert writer.read_lock(repo) == {}


def test_a_linked_lock_is_neither_read_nor_replaced(repo: Path, elsewhere: Path) -> None:
    (repo / ".clusterforge").mkdir()
    (elsewhere / "lock").write_text(lock_text({}))
    (repo / LOCK_FILE).symlink_to(elsewhere / "lock")
    assert message(lambda: writer.write(repo, TREE, force=True)) == (
        f"{repo / LOCK_FILE} is a symbolic link: clusterforge never reads or replaces its lock through one; "
        "delete it and render with --force to take ownership again"
    )
    assert (elsewhere / "lock").read_text() == lock_text({})


@pytest.mark.parametrize(("make", "what"), [(os.mkdir, "a folder"), (os.mkfifo, "not a regular file")])
def test_a_lock_that_is_no_file(repo: Path, make: Callable[[Path], None], what: str) -> None:
    (repo / ".clusterforge").mkdir()
    make(repo / LOCK_FILE)
    assert message(lambda: writer.read_lock(repo)) == f"{repo / LOCK_FILE} is {what}, but clusterforge writes a file there: move it away and render again"


def test_the_lock_owns_what_it_names_and_nothing_else(repo: Path) -> None:
    """An owned file the tree drops is removed; a file the lock does not name is never touched."""
    (repo / "nodes" / "cp1").mkdir(parents=True)
    (repo / USER_DATA).write_text("owned\n")
    (repo / META_DATA).write_text("not owned\n")
    lock_with(repo, {USER_DATA: writer.digest("owned\n")})
    assert writer.write(repo, {README: "r\n"}).remove == [USER_DATA]
    assert on_disk(repo) == {**holding({README: "r\n"}), META_DATA: b"not owned\n"}


# --- temporaries and the scratch folder ----------------------------------------------------------


def test_the_scratch_folder_is_private_ignored_and_gone_after_the_session(repo: Path) -> None:
    with writer.session(repo) as disk:
        disk.write_file(README, "x\n")
        os.close(disk._scratch_folder())
        scratch = repo / SCRATCH_DIR
        assert stat.S_IMODE(scratch.stat().st_mode) == 0o700
        assert (scratch / ".gitignore").read_text() == writer.IGNORE_ALL
        assert stat.S_IMODE((scratch / ".gitignore").stat().st_mode) == 0o644
        assert sorted(p.name for p in scratch.iterdir()) == [".gitignore"]
    assert not scratch.exists() and (repo / README).read_text() == "x\n"


@pytest.mark.parametrize("marker", ["", "*\n", writer.IGNORE_ALL + "more\n"])
def test_a_scratch_folder_with_another_gitignore_gets_ours(repo: Path, marker: str) -> None:
    scratch = repo / SCRATCH_DIR
    scratch.mkdir(parents=True, mode=0o755)
    (scratch / ".gitignore").write_text(marker)
    with writer.session(repo) as disk:
        os.close(disk._scratch_folder())
        assert (scratch / ".gitignore").read_text() == writer.IGNORE_ALL
        assert stat.S_IMODE(scratch.stat().st_mode) == 0o700


def test_a_linked_scratch_gitignore_is_replaced_not_written_through(repo: Path, elsewhere: Path) -> None:
    scratch = repo / SCRATCH_DIR
    scratch.mkdir(parents=True)
    (scratch / ".gitignore").symlink_to(elsewhere / "keep.txt")
    with writer.session(repo) as disk:
        os.close(disk._scratch_folder())
        assert not (scratch / ".gitignore").is_symlink() and (scratch / ".gitignore").read_text() == writer.IGNORE_ALL
    assert (elsewhere / "keep.txt").read_text() == "not the repository's\n"


def test_a_temporary_goes_to_the_scratch_folder_and_a_failed_one_is_removed_at_the_end(repo: Path) -> None:
    seen: list[tuple[str, int]] = []

    def fails(scratch: int, temporary: str) -> None:
        writer._write_new(scratch, temporary, "half", mode=0o600)
        seen.extend((name, stat.S_IMODE(os.stat(name, dir_fd=scratch).st_mode)) for name in os.listdir(scratch))
        raise OSError(28, "No space left on device")

    with writer.session(repo) as disk:
        with pytest.raises(ClusterforgeError, match=f"^cannot write {repo / README}: No space left on device$"):
            disk._guarded(README, lambda: disk._install(README, fails))
        assert sorted(p.name for p in (repo / SCRATCH_DIR).iterdir()) == sorted(name for name, _ in seen)
    assert [mode for name, mode in sorted(seen)] == [0o644, 0o600] and len(sorted(seen)[1][0]) == 16
    assert on_disk(repo) == {}


def test_stale_temporaries_of_a_killed_session_are_removed(repo: Path) -> None:
    scratch = repo / SCRATCH_DIR
    scratch.mkdir(parents=True)
    (scratch / "0123456789abcdef").write_text("secret: 1\n")
    writer.write(repo, TREE)
    assert on_disk(repo) == holding(TREE)


def test_a_linked_scratch_folder_is_neither_used_nor_emptied_and_stops_the_write_first(repo: Path, elsewhere: Path) -> None:
    (repo / ".clusterforge").mkdir()
    (repo / SCRATCH_DIR).symlink_to(elsewhere, target_is_directory=True)
    (repo / ".README.md.abcdefgh").write_text("an old temporary\n")
    before = listing(repo)
    assert message(lambda: writer.write(repo, {USER_DATA: "u\n", README: "r\n"})) == (
        f"{repo / SCRATCH_DIR} is a symbolic link: clusterforge never writes, replaces or deletes through one ({SCRATCH_DIR}/.gitignore is below it)"
    )
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]
    assert listing(repo) == before  # no folder made, no old temporary removed


def test_a_scratch_folder_that_cannot_be_made_ready_is_named(repo: Path) -> None:
    (repo / SCRATCH_DIR / ".gitignore").mkdir(parents=True)
    (repo / SCRATCH_DIR / ".gitignore" / "x").write_text("x")
    assert message(lambda: writer.write(repo, TREE)) == f"cannot write {repo / SCRATCH_DIR}: Is a directory"
    assert not (repo / README).exists()


def test_a_scratch_folder_below_a_linked_folder_is_not_emptied(repo: Path, elsewhere: Path) -> None:
    (repo / ".clusterforge").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "tmp").mkdir()
    (elsewhere / "tmp" / "keep.txt").write_text("x")
    with writer.opened(repo) as tree:
        tree.remove_scratch()
    assert (elsewhere / "tmp" / "keep.txt").exists()


def test_a_file_where_the_scratch_folder_belongs_is_left(repo: Path) -> None:
    (repo / ".clusterforge").mkdir()
    (repo / SCRATCH_DIR).write_text("x")
    with writer.opened(repo) as tree:
        tree.remove_scratch()
    assert (repo / SCRATCH_DIR).read_text() == "x"


def test_temporaries_of_clusterforge_0_1_are_removed(repo: Path, elsewhere: Path) -> None:
    """`.NAME.XXXXXXXX` beside a file it wrote, regular files only."""
    writer.write(repo, TREE)
    old = {
        ".README.md.ab_c0z12": True,
        "nodes/cp1/.user-data.0123abcd": True,
        ".clusterforge/.secrets.yaml.abcdefgh": True,
        ".clusterforge/.lock.abcdefgh": True,
        "nodes/cp1/.meta-data.abcdefgh": True,  # a file the tree dropped
        ".README.md.abcdefg": False,  # 7 characters
        ".README.md.abcdefghi": False,  # 9
        ".README.md.ABCDEFGH": False,  # not lower case
        ".notes.md.abcdefgh": False,  # not a file clusterforge writes
        "README.md.abcdefgh": False,  # no leading dot
    }
    for rel in old:
        (repo / rel).write_text("secret\n")
    (repo / ".README.md.linked01").symlink_to(elsewhere / "keep.txt")
    (repo / META_DATA).write_text("dropped\n")
    lock_with(repo, {**writer.read_lock(repo), META_DATA: "0" * 64})
    writer.write(repo, TREE, force=True)
    assert {rel: (repo / rel).exists() for rel in old} == {rel: not gone for rel, gone in old.items()}
    assert (repo / ".README.md.linked01").is_symlink() and (elsewhere / "keep.txt").exists()


def test_old_temporaries_below_a_linked_or_missing_folder_are_left_and_the_others_removed(repo: Path, elsewhere: Path) -> None:
    (elsewhere / ".user-data.abcdefgh").write_text("x")
    (repo / "bootstrap").symlink_to(elsewhere, target_is_directory=True)  # sorted before nodes/
    (repo / "nodes" / "cp2").mkdir(parents=True)
    (repo / "nodes" / "cp2" / ".user-data.abcdefgh").write_text("x")
    with writer.opened(repo) as tree:
        tree.remove_old_temporaries({".clusterforge/lock", "bootstrap/.user-data", "nodes/cp1/user-data", OTHER})
    assert (elsewhere / ".user-data.abcdefgh").exists()
    assert not (repo / "nodes" / "cp2" / ".user-data.abcdefgh").exists()


def test_writes_are_whole_and_private_until_written(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Short writes are continued; the file is 0600 while it is being written."""
    modes = []
    real_write = os.write

    def short_write(fd: int, data: bytes) -> int:
        modes.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, bytes(data[:3]))

    monkeypatch.setattr(os, "write", short_write)
    with writer.session(repo) as disk:
        disk.write_file(README, "0123456789\n", mode=0o644)
        disk.write_private(SECRETS_FILE, "k: v\n")
    monkeypatch.undo()
    assert (repo / README).read_text() == "0123456789\n" and (repo / SECRETS_FILE).read_text() == "k: v\n"
    assert set(modes) == {0o600}
    assert stat.S_IMODE((repo / SECRETS_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((repo / README).stat().st_mode) == 0o644


def test_a_private_file_a_tool_builds(repo: Path) -> None:
    calls = []

    def make(path: Path, scratch: Path) -> None:
        calls.append((path.parent, scratch, len(path.name)))
        (scratch / "tool-temporary").write_text("x")
        path.write_bytes(b"\x00iso")
        path.chmod(0o644)

    with writer.session(repo) as disk:
        disk.build_private("seed.iso", make)
    assert calls == [(repo / SCRATCH_DIR, repo / SCRATCH_DIR, 16)]
    assert (repo / "seed.iso").read_bytes() == b"\x00iso" and stat.S_IMODE((repo / "seed.iso").stat().st_mode) == 0o600
    assert sorted(p.name for p in repo.rglob("*")) == [".clusterforge", "seed.iso"]


def test_a_failed_tool_build_is_named(repo: Path) -> None:
    with writer.session(repo) as disk:
        assert message(lambda: disk.build_private("seed.iso", lambda path, scratch: None)) == f"cannot write {repo / 'seed.iso'}: No such file or directory"


# --- one session at a time -------------------------------------------------------------------------


def test_a_session_holds_the_repository(repo: Path) -> None:
    other = os.open(repo, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with writer.session(repo):
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again
    finally:
        os.close(other)


def test_a_failed_session_removes_its_scratch_folder(repo: Path) -> None:
    with pytest.raises(RuntimeError), writer.session(repo) as disk:
        os.close(disk._scratch_folder())
        raise RuntimeError("stop")
    assert not (repo / SCRATCH_DIR).exists()


def test_opened_locks_nothing_and_keeps_the_scratch_folder(repo: Path) -> None:
    (repo / SCRATCH_DIR).mkdir(parents=True)
    with writer.opened(repo) as tree:
        fcntl.flock(os.open(repo, os.O_RDONLY | os.O_DIRECTORY), fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert tree.path == repo
    assert (repo / SCRATCH_DIR).is_dir()


def test_a_session_writes_refuse_conflicts_unless_forced(repo: Path) -> None:
    (repo / README).write_text("mine\n")
    with writer.session(repo) as disk, pytest.raises(writer.WriteConflict):
        disk.write(TREE)
    assert (repo / README).read_text() == "mine\n"
    with writer.session(repo) as disk:
        assert disk.write(TREE, force=True).conflicts == [README]


def test_the_scratch_gitignore_is_left_alone_when_it_holds_the_marker(repo: Path) -> None:
    with writer.session(repo) as disk:
        os.close(disk._scratch_folder())
        os.link(repo / SCRATCH_DIR / ".gitignore", repo / SCRATCH_DIR / "first")  # a rewrite would make another file
        os.close(disk._scratch_folder())
        assert (repo / SCRATCH_DIR / ".gitignore").samefile(repo / SCRATCH_DIR / "first")


def test_a_new_file_never_replaces_what_is_there_unless_told(repo: Path, elsewhere: Path) -> None:
    """Temporaries are created, never opened: a link planted at the name is neither followed nor removed."""
    (repo / "planted").symlink_to(elsewhere / "keep.txt")
    fd = os.open(repo, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(FileExistsError):
            writer._write_new(fd, "planted", "x\n", mode=0o600)
        assert (repo / "planted").is_symlink() and (elsewhere / "keep.txt").read_text() == "not the repository's\n"
        writer._write_new(fd, "planted", "x\n", mode=0o600, replace=True)
    finally:
        os.close(fd)
    assert not (repo / "planted").is_symlink() and (repo / "planted").read_text() == "x\n"


def test_a_session_may_use_another_scratch_folder(repo: Path) -> None:
    with writer.session(repo, scratch=".tmp") as disk:
        disk.write_file(README, "x\n")
        assert (repo / ".tmp" / ".gitignore").exists()
    assert sorted(p.name for p in repo.iterdir()) == [README]


# --- killed at any point, a write converges ----------------------------------------------------------


def killed_at(action: Callable[[], object], point: int) -> int:
    """Run `action` in a forked child that dies (no cleanup) just before its `point`-th
    call of os.replace or os.write; if it makes fewer, it exits 0. The child's exit status."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            calls = 0

            def dies(real: Callable[..., object]) -> Callable[..., object]:
                def call(*args: object, **kwargs: object) -> object:
                    nonlocal calls
                    calls += 1
                    if calls == point:
                        os._exit(KILLED)
                    return real(*args, **kwargs)

                return call

            os.replace, os.write = dies(os.replace), dies(os.write)
            action()
            os._exit(0)
        except BaseException:  # noqa: BLE001 - any escape is a failure the parent sees
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_write_killed_at_any_point_converges(tmp_path: Path) -> None:
    """Killed before each write and rename of a rewrite, a repository holds only files of
    the old or the new tree and temporaries in the scratch folder; the next write ends
    with exactly the new tree and its lock, nothing refused, no temporary left."""
    expected = {**holding(TREE), **holding(CHANGED)}
    for point in range(1, 40):
        repo = tmp_path / f"repo-{point}"
        repo.mkdir()
        writer.write(repo, TREE)
        code = killed_at(lambda repo=repo: writer.write(repo, CHANGED), point)
        assert code in (KILLED, 0), (point, code)
        assert all(rel in expected or rel.startswith(SCRATCH_DIR + "/") for rel in on_disk(repo)), point
        writer.write(repo, CHANGED)
        assert on_disk(repo) == holding(CHANGED), point
        if code == 0:
            break
    else:
        pytest.fail("the rewrite makes more than 39 writes and renames")
    assert point > 8  # every file, the scratch marker and the lock were each a point


# --- a new folder, whole or not at all --------------------------------------------------------------


def builds(files: dict[str, str]) -> Callable[[Path], tuple[Path, str]]:
    def build(staging: Path) -> tuple[Path, str]:
        assert stat.S_IMODE(staging.stat().st_mode) == 0o700
        assert re.fullmatch(re.escape(writer.STAGING_PREFIX) + "[0-9a-f]{16}", staging.name)
        assert (staging / ".gitignore").read_text() == writer.IGNORE_ALL
        assert stat.S_IMODE((staging / ".gitignore").stat().st_mode) == 0o644
        with pytest.raises(BlockingIOError):  # locked while in use
            fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(fd)
        built = staging / "repository"
        for rel, text in files.items():
            (built / rel).parent.mkdir(parents=True, exist_ok=True)
            (built / rel).write_text(text)
        return built, "result"

    return build


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "empty-folder"])
def test_staged_moves_the_finished_folder_into_place(tmp_path: Path, exists: bool) -> None:
    dest = tmp_path / "deep" / "er" / "lab"
    if exists:
        dest.mkdir(parents=True)
    assert writer.staged(dest, builds(TREE)) == "result"
    assert on_disk(dest) == {rel: text.encode() for rel, text in TREE.items()}
    assert sorted(p.name for p in (tmp_path / "deep" / "er").iterdir()) == ["lab"]


def test_a_staging_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "parent").symlink_to(tmp_path / "missing")
    dest = tmp_path / "parent" / "lab"
    assert message(lambda: writer.staged(dest, builds(TREE))) == f"cannot create {dest}: File exists"


def test_a_build_that_removed_its_staging_folder_reports_its_own_failure(tmp_path: Path) -> None:
    def fails(staging: Path) -> tuple[Path, str]:
        shutil.rmtree(staging)
        raise ClusterforgeError("bad inventory")

    assert message(lambda: writer.staged(tmp_path / "lab", fails)) == "bad inventory"
    assert list(tmp_path.iterdir()) == []


def test_a_failed_build_leaves_nothing_and_names_dest_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fails(staging: Path) -> tuple[Path, str]:
        (staging / "half").write_text("x")
        raise OSError(28, "No space left on device")

    monkeypatch.chdir(tmp_path)
    assert message(lambda: writer.staged(Path("lab"), fails)) == "cannot create lab: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_a_build_that_raises_leaves_nothing(tmp_path: Path) -> None:
    def fails(staging: Path) -> tuple[Path, str]:
        raise ClusterforgeError("bad inventory")

    assert message(lambda: writer.staged(tmp_path / "lab", fails)) == "bad inventory"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("setup", "rel", "expected"),
    [
        pytest.param(lambda t: (t / "lab").mkdir() or (t / "lab" / "x").write_text("x"), "lab", "{dest} already exists and is not empty", id="not-empty"),
        pytest.param(lambda t: (t / "lab").write_text("x"), "lab", "{dest} already exists and is not empty", id="a-file"),
        pytest.param(lambda t: (t / "lab").symlink_to(t / "missing"), "lab", "{dest} is a symbolic link: give the path of a folder to create, or of an empty one", id="link"),
        pytest.param(lambda t: (t / "notes").write_text("x"), "notes/lab", "cannot create {dest}: {t}/notes is not a folder", id="below-a-file"),
    ],
)
def test_staged_refuses_a_destination(tmp_path: Path, setup: Callable[[Path], object], rel: str, expected: str) -> None:
    setup(tmp_path)
    dest = tmp_path / rel
    before = on_disk(tmp_path)
    assert message(lambda: writer.staged(dest, builds(TREE))) == expected.format(dest=dest, t=tmp_path)
    assert on_disk(tmp_path) == before and not any(p.name.startswith(writer.STAGING_PREFIX) for p in tmp_path.iterdir())


def test_staged_names_a_name_too_long(tmp_path: Path) -> None:
    dest = tmp_path / ("n" * 256)
    assert message(lambda: writer.staged(dest, builds(TREE))) == f"cannot create {dest}: File name too long"


def test_staged_refuses_a_mount_point(tmp_path: Path) -> None:
    """An empty folder is replaced; the same with a file system mounted on it is refused."""
    if os.geteuid() != 0:
        pytest.skip("mounting a file system needs root")
    dest = tmp_path / "lab"
    dest.mkdir()
    writer.staged(tmp_path / "plain", builds({README: "r\n"}))
    shutil.rmtree(tmp_path / "plain")
    script = "import sys; from pathlib import Path; from generator import writer; writer.staged(Path(sys.argv[1]), lambda s: (s, 0))"
    package_root = Path(writer.__file__).resolve().parents[1]
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", f'mount -t tmpfs none "{dest}" && exec "$@"', "sh", sys.executable, "-c", script, str(dest)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(package_root)},
    )
    assert f"{dest} is a mount point: new moves a finished folder into place, which cannot replace one; give a folder inside it" in done.stderr
    assert done.returncode == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["lab"]


def stale_staging(parent: Path, suffix: str, marker: str | None = writer.IGNORE_ALL) -> Path:
    folder = parent / f"{writer.STAGING_PREFIX}{suffix}"
    folder.mkdir()
    if marker is not None:
        (folder / ".gitignore").write_text(marker)
    (folder / "repository").mkdir()
    (folder / "repository" / "secrets.yaml").write_text("k: v\n")
    return folder


def test_staging_folders_of_killed_runs_are_removed_and_others_left(tmp_path: Path) -> None:
    whole = stale_staging(tmp_path, "0" * 16)
    cut_short = stale_staging(tmp_path, "1" * 16, marker=writer.IGNORE_ALL[:10])
    empty_marker = stale_staging(tmp_path, "2" * 16, marker="")
    unmarked = stale_staging(tmp_path, "3" * 16, marker=None)
    other_marker = stale_staging(tmp_path, "4" * 16, marker="*\n")
    longer_marker = stale_staging(tmp_path, "5" * 16, marker=writer.IGNORE_ALL + "x")
    in_use = stale_staging(tmp_path, "6" * 16)
    folder_marker = stale_staging(tmp_path, "7" * 16, marker=None)
    (folder_marker / ".gitignore").mkdir()
    link = tmp_path / f"{writer.STAGING_PREFIX}{'8' * 16}"
    link.symlink_to(whole, target_is_directory=True)
    a_file = tmp_path / f"{writer.STAGING_PREFIX}{'9' * 16}"
    a_file.write_text(writer.IGNORE_ALL)
    not_ours = stale_staging(tmp_path, "x", marker=writer.IGNORE_ALL)
    not_ours.rename(tmp_path / "clusterforge-new-x")
    holder = os.open(in_use, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        writer.remove_stale_staging(tmp_path)
    finally:
        os.close(holder)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(p.name for p in [unmarked, other_marker, longer_marker, in_use, folder_marker, link, a_file, tmp_path / "clusterforge-new-x"])
    assert not any(p.exists() for p in [whole, cut_short, empty_marker])


def test_staged_removes_stale_staging_beside_it_first(tmp_path: Path) -> None:
    stale = stale_staging(tmp_path, "0" * 16)
    writer.staged(tmp_path / "lab", builds({README: "x\n"}))
    assert not stale.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["lab"]


def test_no_parent_has_no_stale_staging(tmp_path: Path) -> None:
    writer.remove_stale_staging(tmp_path / "missing")


# --- reading for plan -------------------------------------------------------------------------


def test_read_texts_reads_regular_files_only_and_never_through_a_link(repo: Path, elsewhere: Path) -> None:
    writer.write(repo, TREE)
    (repo / "nodes/cp1/meta-data").symlink_to(elsewhere / "keep.txt")
    (repo / "nodes/cp2").mkdir()
    (repo / "nodes/cp2/user-data").mkdir()
    (repo / "bad.txt").write_bytes(b"caf\xe9\n")
    found = writer.read_texts(repo, [README, USER_DATA, META_DATA, OTHER, "bad.txt", "docs/missing.md"])
    assert found == {
        README: ("file", "readme\n"),
        USER_DATA: ("file", "#cloud-config\n"),
        META_DATA: ("link", ""),
        OTHER: ("folder", ""),
        "bad.txt": ("file", "caf\ufffd\n"),
        "docs/missing.md": (None, ""),
    }
    (repo / "nodes/linked").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(writer.Blocked, match="is a symbolic link"):
        writer.read_texts(repo, ["nodes/linked/keep.txt"])
