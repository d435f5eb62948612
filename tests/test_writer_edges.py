"""The writer at its edges: a lock it must not trust, paths that hold something
other than a text file, an interrupt in the middle of a file, and the exact
bytes and modes it leaves on disk."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from generator import writer
from generator.render.layout import LOCK_FILE

TREE = {"a.yaml": "a: 1\n", "dir/b.sh": "#!/usr/bin/env bash\ntrue\n", "dir/sub/c.txt": "c\n"}


def write_lock(repo: Path, data: object) -> None:
    (repo / LOCK_FILE).parent.mkdir(parents=True, exist_ok=True)
    (repo / LOCK_FILE).write_text(json.dumps(data))


def lock_of(repo: Path) -> dict:
    return json.loads((repo / LOCK_FILE).read_text())


# --- the lock ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lock",
    [
        {"version": writer.LOCK_VERSION + 1, "files": {}},  # a newer clusterforge's format
        {"version": writer.LOCK_VERSION - 1, "files": {}},
        {"version": str(writer.LOCK_VERSION), "files": {}},
        {"files": {}},
        {"version": writer.LOCK_VERSION},
        {"version": writer.LOCK_VERSION, "files": ["a.yaml"]},
        ["a.yaml"],
        "a.yaml",
    ],
    ids=["newer", "older", "version-as-text", "no-version", "no-files", "files-as-list", "a-list", "a-string"],
)
def test_a_lock_of_another_format_is_damaged(tmp_path: Path, lock: object) -> None:
    write_lock(tmp_path, lock)
    with pytest.raises(writer.ClusterforgeError, match=r"lock is damaged; delete it and render with --force to take ownership again") as caught:
        writer.read_lock(tmp_path)
    assert caught.type is writer.ClusterforgeError  # not a WriteConflict: exit code 2
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_a_lock_of_this_format_is_read(tmp_path: Path) -> None:
    write_lock(tmp_path, {"version": writer.LOCK_VERSION, "files": {"a.yaml": writer.digest("a\n")}})
    assert writer.read_lock(tmp_path) == {"a.yaml": writer.digest("a\n")}


def test_no_lock_owns_nothing(tmp_path: Path) -> None:
    assert writer.read_lock(tmp_path) == {}


def test_the_lock_file_is_exact(tmp_path: Path) -> None:
    """Deterministic bytes: sorted paths, one-space indent, a final newline, mode 0644, no exec bit."""
    writer.write(tmp_path, {"z.txt": "z\n", "a.txt": "a\n"})
    text = (tmp_path / LOCK_FILE).read_text()
    assert text == json.dumps({"files": {"a.txt": writer.digest("a\n"), "z.txt": writer.digest("z\n")}, "version": 1}, indent=1) + "\n"
    assert text.startswith('{\n "files": {\n  "a.txt": "')
    assert stat.S_IMODE((tmp_path / LOCK_FILE).stat().st_mode) == 0o644


def test_digest_is_sha256_of_utf8() -> None:
    assert writer.digest("é\n") == hashlib.sha256("é\n".encode()).hexdigest()


# --- what is at a rendered path ---------------------------------------------------------------


def test_a_binary_file_at_a_rendered_path_is_a_conflict(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_bytes(b"\xff\xfe binary")
    plan = writer.plan(tmp_path, TREE)
    assert plan.conflicts == ["a.yaml"] and "a.yaml" not in plan.create
    with pytest.raises(writer.WriteConflict, match="a.yaml"):
        writer.write(tmp_path, TREE)
    assert (tmp_path / "a.yaml").read_bytes() == b"\xff\xfe binary"


def test_an_owned_file_turned_binary_is_a_conflict(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    (tmp_path / "a.yaml").write_bytes(b"\xff")
    assert writer.plan(tmp_path, {**TREE, "a.yaml": "a: 2\n"}).conflicts == ["a.yaml"]
    assert writer.plan(tmp_path, {k: v for k, v in TREE.items() if k != "a.yaml"}).conflicts == ["a.yaml"]  # not removed either


def test_a_folder_at_a_rendered_path_is_a_conflict(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").mkdir()
    (tmp_path / "a.yaml" / "mine.txt").write_text("keep\n")
    plan = writer.plan(tmp_path, TREE)
    assert plan.conflicts == ["a.yaml"] and "a.yaml" not in plan.create
    with pytest.raises(writer.WriteConflict, match="a.yaml"):
        writer.write(tmp_path, TREE)
    assert (tmp_path / "a.yaml" / "mine.txt").read_text() == "keep\n"


def test_an_owned_file_deleted_by_hand_is_created_again(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    (tmp_path / "a.yaml").unlink()
    plan = writer.write(tmp_path, TREE)
    assert plan.create == ["a.yaml"] and not plan.conflicts and not plan.update
    assert (tmp_path / "a.yaml").read_text() == TREE["a.yaml"]


def test_a_dropped_file_already_deleted_is_nothing_to_do(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    (tmp_path / "dir/sub/c.txt").unlink()
    plan = writer.write(tmp_path, {k: v for k, v in TREE.items() if k != "dir/sub/c.txt"})
    assert not plan.stale
    assert "dir/sub/c.txt" not in lock_of(tmp_path)["files"]


def test_plan_lists_each_kind(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    (tmp_path / "dir/b.sh").write_text("edited\n")
    plan = writer.plan(tmp_path, {"a.yaml": "a: 2\n", "dir/b.sh": "new\n", "new.txt": "n\n"})
    assert (plan.create, plan.update, plan.remove, plan.unchanged, plan.conflicts) == (["new.txt"], ["a.yaml"], ["dir/sub/c.txt"], [], ["dir/b.sh"])
    assert plan.stale == ["a.yaml", "dir/b.sh", "dir/sub/c.txt", "new.txt"]


def test_forced_write_replaces_and_removes_conflicts(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    (tmp_path / "a.yaml").write_text("mine\n")
    (tmp_path / "dir/sub/c.txt").write_text("mine too\n")
    plan = writer.write(tmp_path, {"a.yaml": "a: 2\n", "dir/b.sh": TREE["dir/b.sh"]}, force=True)
    assert sorted(plan.conflicts) == ["a.yaml", "dir/sub/c.txt"]
    assert (tmp_path / "a.yaml").read_text() == "a: 2\n"
    assert not (tmp_path / "dir/sub").exists()
    assert sorted(lock_of(tmp_path)["files"]) == ["a.yaml", "dir/b.sh"]


def test_pruning_stops_at_a_folder_with_other_files(tmp_path: Path) -> None:
    writer.write(tmp_path, {"x/y/z.txt": "z\n", "x/keep.txt": "k\n"})
    writer.write(tmp_path, {"x/keep.txt": "k\n"})
    assert not (tmp_path / "x/y").exists() and (tmp_path / "x/keep.txt").exists()
    writer.write(tmp_path, {"top.txt": "t\n"})
    assert not (tmp_path / "x").exists() and tmp_path.is_dir()  # the repository itself stays


# --- modes and interrupts ---------------------------------------------------------------------


def test_modes(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    assert stat.S_IMODE((tmp_path / "dir/b.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a.yaml").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "dir/sub/c.txt").stat().st_mode) == 0o644


def test_line_endings_are_written_as_given(tmp_path: Path) -> None:
    writer.write(tmp_path, {"a.txt": "one\ntwo\n"})
    assert (tmp_path / "a.txt").read_bytes() == b"one\ntwo\n"


def test_no_temporary_file_left_behind_on_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C between writing a file's copy and moving it in place: the old file stays, the copy goes."""
    writer.write(tmp_path, TREE)

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.write(tmp_path, {**TREE, "a.yaml": "a: 2\n"})
    assert sorted(p.name for p in tmp_path.iterdir()) == [".clusterforge", "a.yaml", "dir"]
    assert (tmp_path / "a.yaml").read_text() == TREE["a.yaml"]


def test_no_temporary_file_left_behind_when_the_disk_is_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(path: str, mode: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer.os, "chmod", full)
    with pytest.raises(OSError, match="No space left"):
        writer.write(tmp_path, {"a.yaml": "a\n"})
    assert list(tmp_path.iterdir()) == []


def test_the_copy_is_hidden_beside_the_file_it_replaces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Same folder (so the rename is atomic, on one file system) and a dot name (so no glob or `git add` picks it up)."""
    seen = []

    def interrupted(src: str, dst: str) -> None:
        seen.append((Path(src), Path(dst)))
        raise KeyboardInterrupt

    monkeypatch.setattr(writer.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.write(tmp_path, {"dir/b.sh": "b\n"})
    ((src, dst),) = seen
    assert dst == tmp_path / "dir/b.sh"
    assert src.parent == dst.parent and src.name.startswith(".b.sh.")


def test_ctrl_c_right_after_the_rename_still_interrupts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copy is already in place, so there is nothing to clean up: the interrupt, not a FileNotFoundError, reaches the user."""
    real = os.replace

    def moved_then_interrupted(src: str, dst: str) -> None:
        real(src, dst)
        raise KeyboardInterrupt

    monkeypatch.setattr(writer.os, "replace", moved_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        writer.write(tmp_path, {"a.yaml": "a\n"})
    assert (tmp_path / "a.yaml").read_text() == "a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["a.yaml"]


def test_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """Files, their digests and the lock are UTF-8 even where the locale says ASCII (LC_ALL=C without UTF-8 mode)."""
    package_root = Path(writer.__file__).resolve().parents[1]  # the generator package under test
    script = (
        "import sys; from pathlib import Path; from generator import writer\n"
        "repo = Path(sys.argv[1])\n"
        "text = 'caf\\u00e9\\n'\n"
        "writer.write(repo, {'cafe.txt': text})\n"
        "assert not writer.plan(repo, {'cafe.txt': text}).stale\n"
        "print(len(writer.read_lock(Path(sys.argv[2]))))\n"
    )
    # A lock as another JSON writer may leave it: UTF-8 rather than \\u escapes.
    other = tmp_path / "other"
    (other / LOCK_FILE).parent.mkdir(parents=True)
    (other / LOCK_FILE).write_text(json.dumps({"version": 1, "files": {"é.txt": writer.digest("é")}}, ensure_ascii=False), encoding="utf-8")
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONPATH": str(package_root)}
    repo = tmp_path / "repo"
    done = subprocess.run([sys.executable, "-c", script, str(repo), str(other)], env=env, capture_output=True, text=True, encoding="utf-8")
    assert (done.returncode, done.stdout) == (0, "1\n"), done.stderr
    assert (repo / "cafe.txt").read_bytes() == "café\n".encode()
    assert writer.read_lock(repo) == {"cafe.txt": writer.digest("café\n")}


def test_every_dropped_file_is_removed_even_after_one_already_gone(tmp_path: Path) -> None:
    writer.write(tmp_path, {"a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n", "keep.txt": "k\n"})
    (tmp_path / "a.txt").unlink()
    plan = writer.write(tmp_path, {"keep.txt": "k\n"})
    assert plan.remove == ["b.txt", "c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".clusterforge", "keep.txt"]


def test_write_conflict_message() -> None:
    assert str(writer.WriteConflict(["a.yaml", "dir/b.sh"])) == (
        "refusing to overwrite files changed by hand or not written by clusterforge:\n"
        "  a.yaml\n"
        "  dir/b.sh\n"
        "move your changes into cluster.yaml (or delete the files) and render again, or use --force"
    )
    assert writer.WriteConflict([]).exit_code == 1


@pytest.mark.parametrize("value", ["(not a text file)", "", "abc", "A" * 64, 123, None], ids=["marker", "empty", "short", "upper", "number", "null"])
def test_a_lock_entry_that_is_no_digest_is_damaged(tmp_path: Path, value: object) -> None:
    """Otherwise a lock saying "(not a text file)" would make a binary file or a folder look owned and unchanged."""
    write_lock(tmp_path, {"version": writer.LOCK_VERSION, "files": {"a.yaml": value}})
    with pytest.raises(writer.ClusterforgeError, match="damaged"):
        writer.read_lock(tmp_path)
