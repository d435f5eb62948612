"""The writer at its edges: paths that hold something other than the text it wrote,
files gone before it looks, every kind of plan at once, and the exact bytes and
modes it leaves on disk (the lock, temporaries and links: tests/hostile)."""

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
from generator.errors import ClusterforgeError
from generator.render.layout import LOCK_FILE

# Paths a lock may name (layout.is_renderable); the contents do not matter here.
A, B, C, D, E = "README.md", "bootstrap/install-cilium.sh", "nodes/cp1/user-data", "nodes/cp1/meta-data", "nodes/cp2/user-data"
TREE = {A: "a: 1\n", B: "#!/usr/bin/env bash\ntrue\n", C: "c\n"}


def lock_of(repo: Path) -> dict:
    return json.loads((repo / LOCK_FILE).read_text())


def test_digest_is_sha256_of_utf8() -> None:
    assert writer.digest("é\n") == hashlib.sha256("é\n".encode()).hexdigest()


# --- what is at a rendered path ---------------------------------------------------------------


def test_a_binary_file_at_a_rendered_path_is_a_conflict(tmp_path: Path) -> None:
    (tmp_path / A).write_bytes(b"\xff\xfe binary")
    plan = writer.plan(tmp_path, TREE)
    assert plan.conflicts == [A] and A not in plan.create
    with pytest.raises(writer.WriteConflict, match=A):
        writer.write(tmp_path, TREE)
    assert (tmp_path / A).read_bytes() == b"\xff\xfe binary"


def test_an_owned_file_turned_binary_is_a_conflict(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    (tmp_path / A).write_bytes(b"\xff")
    assert writer.plan(tmp_path, {**TREE, A: "a: 2\n"}).conflicts == [A]
    assert writer.plan(tmp_path, {k: v for k, v in TREE.items() if k != A}).conflicts == [A]  # not removed either


def test_a_folder_at_a_rendered_path_is_refused_not_taken_for_absent(tmp_path: Path) -> None:
    (tmp_path / A).mkdir()
    (tmp_path / A / "mine.txt").write_text("keep\n")
    with pytest.raises(ClusterforgeError) as refused:
        writer.write(tmp_path, TREE, force=True)
    assert str(refused.value) == f"{tmp_path / A} is a folder, but clusterforge writes a file there: move it away and render again"
    assert (tmp_path / A / "mine.txt").read_text() == "keep\n"


def test_a_fifo_at_a_rendered_path_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / A)
    with pytest.raises(ClusterforgeError) as refused:
        writer.write(tmp_path, TREE, force=True)
    assert str(refused.value) == f"{tmp_path / A} is not a regular file, but clusterforge writes a file there: move it away and render again"
    assert stat.S_ISFIFO((tmp_path / A).lstat().st_mode)


def test_an_owned_file_deleted_by_hand_is_created_again(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    (tmp_path / A).unlink()
    plan = writer.write(tmp_path, TREE)
    assert plan.create == [A] and not plan.conflicts and not plan.update
    assert (tmp_path / A).read_text() == TREE[A]


def test_a_dropped_file_already_deleted_is_nothing_to_do(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    (tmp_path / C).unlink()
    plan = writer.write(tmp_path, {k: v for k, v in TREE.items() if k != C})
    assert not plan.stale
    assert C not in lock_of(tmp_path)["files"]


def test_every_dropped_file_is_removed_even_after_one_already_gone(tmp_path: Path) -> None:
    writer.write(tmp_path, {C: "c\n", D: "d\n", E: "e\n", A: "a\n"})
    (tmp_path / C).unlink()
    plan = writer.write(tmp_path, {A: "a\n"})
    assert plan.remove == [D, E]
    assert not (tmp_path / "nodes").exists() and (tmp_path / A).exists()


def test_plan_lists_each_kind(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    (tmp_path / B).write_text("edited\n")
    plan = writer.plan(tmp_path, {A: "a: 2\n", B: "new\n", D: "n\n"})
    assert (plan.create, plan.update, plan.remove, plan.unchanged, plan.conflicts) == ([D], [A], [C], [], [B])
    assert plan.stale == sorted([A, B, C, D])


def test_forced_write_replaces_and_removes_conflicts(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    (tmp_path / A).write_text("mine\n")
    (tmp_path / C).write_text("mine too\n")
    plan = writer.write(tmp_path, {A: "a: 2\n", B: TREE[B]}, force=True)
    assert sorted(plan.conflicts) == sorted([A, C])
    assert (tmp_path / A).read_text() == "a: 2\n"
    assert not (tmp_path / "nodes").exists()
    assert sorted(lock_of(tmp_path)["files"]) == sorted([A, B])


def test_pruning_stops_at_a_folder_with_other_files(tmp_path: Path) -> None:
    writer.write(tmp_path, {C: "c\n", E: "e\n"})
    writer.write(tmp_path, {E: "e\n"})
    assert not (tmp_path / "nodes/cp1").exists() and (tmp_path / E).exists()
    writer.write(tmp_path, {A: "a\n"})
    assert not (tmp_path / "nodes").exists() and tmp_path.is_dir()  # the repository itself stays


# --- bytes and modes ------------------------------------------------------------------------


def test_modes(tmp_path: Path) -> None:
    writer.write(tmp_path, TREE)
    assert stat.S_IMODE((tmp_path / B).stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / A).stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / C).stat().st_mode) == 0o644


def test_line_endings_are_written_as_given(tmp_path: Path) -> None:
    writer.write(tmp_path, {A: "one\ntwo\n"})
    assert (tmp_path / A).read_bytes() == b"one\ntwo\n"


def test_utf8_whatever_the_locale(tmp_path: Path) -> None:
    """Files and their digests are UTF-8 even where the locale says ASCII (LC_ALL=C without UTF-8 mode)."""
    package_root = Path(writer.__file__).resolve().parents[1]  # the generator package under test
    script = (
        "import sys; from pathlib import Path; from generator import writer\n"
        "repo = Path(sys.argv[1])\n"
        "text = 'caf\\u00e9\\n'\n"
        f"writer.write(repo, {{{A!r}: text}})\n"
        f"assert not writer.plan(repo, {{{A!r}: text}}).stale\n"
    )
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONPATH": str(package_root)}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / A).read_bytes() == "café\n".encode()
    assert writer.read_lock(tmp_path) == {A: writer.digest("café\n")}


def test_write_conflict_message() -> None:
    assert str(writer.WriteConflict([A, B])) == (
        "refusing to overwrite files changed by hand or not written by clusterforge:\n"
        f"  {A}\n"
        f"  {B}\n"
        "move your changes into cluster.yaml (or delete the files) and render again, or use --force"
    )
    assert writer.WriteConflict([]).exit_code == 1
