"""The writer owns exactly the files in its lock and never loses a user's edit."""

from __future__ import annotations

import json
import os
import stat

import pytest

from generator import writer
from generator.render.layout import LOCK_FILE

TREE = {"a.yaml": "a: 1\n", "dir/b.sh": "#!/usr/bin/env bash\ntrue\n", "dir/sub/c.txt": "c\n"}


def test_first_write_creates_everything_and_records_ownership(tmp_path):
    plan = writer.write(tmp_path, TREE)
    assert sorted(plan.create) == sorted(TREE)
    for rel, text in TREE.items():
        assert (tmp_path / rel).read_text() == text
    lock = json.loads((tmp_path / LOCK_FILE).read_text())
    assert lock["files"] == {rel: writer.digest(text) for rel, text in TREE.items()}
    assert os.stat(tmp_path / "dir/b.sh").st_mode & stat.S_IXUSR
    assert not os.stat(tmp_path / "a.yaml").st_mode & stat.S_IXUSR


def test_unchanged_files_are_not_rewritten(tmp_path):
    writer.write(tmp_path, TREE)
    before = {rel: (tmp_path / rel).stat().st_mtime_ns for rel in TREE}
    plan = writer.write(tmp_path, TREE)
    assert sorted(plan.unchanged) == sorted(TREE) and not plan.stale
    assert {rel: (tmp_path / rel).stat().st_mtime_ns for rel in TREE} == before


def test_owned_file_is_updated_and_dropped_file_removed(tmp_path):
    writer.write(tmp_path, TREE)
    new_tree = {"a.yaml": "a: 2\n", "dir/b.sh": TREE["dir/b.sh"]}
    plan = writer.write(tmp_path, new_tree)
    assert plan.update == ["a.yaml"] and plan.remove == ["dir/sub/c.txt"]
    assert (tmp_path / "a.yaml").read_text() == "a: 2\n"
    assert not (tmp_path / "dir/sub").exists()  # emptied folders go too


def test_hand_edited_file_is_refused_unless_forced(tmp_path):
    writer.write(tmp_path, TREE)
    (tmp_path / "a.yaml").write_text("a: mine\n")
    with pytest.raises(writer.WriteConflict, match="a.yaml"):
        writer.write(tmp_path, {**TREE, "a.yaml": "a: 2\n"})
    assert (tmp_path / "a.yaml").read_text() == "a: mine\n"
    writer.write(tmp_path, {**TREE, "a.yaml": "a: 2\n"}, force=True)
    assert (tmp_path / "a.yaml").read_text() == "a: 2\n"


def test_hand_edited_file_that_is_no_longer_rendered_is_kept(tmp_path):
    writer.write(tmp_path, TREE)
    (tmp_path / "dir/sub/c.txt").write_text("my notes\n")
    with pytest.raises(writer.WriteConflict, match="c.txt"):
        writer.write(tmp_path, {"a.yaml": TREE["a.yaml"]})
    assert (tmp_path / "dir/sub/c.txt").read_text() == "my notes\n"


def test_files_not_owned_are_never_touched(tmp_path):
    (tmp_path / "a.yaml").write_text("user's own\n")
    (tmp_path / "notes.md").write_text("keep\n")
    with pytest.raises(writer.WriteConflict, match="a.yaml"):
        writer.write(tmp_path, TREE)
    assert (tmp_path / "a.yaml").read_text() == "user's own\n"
    writer.write(tmp_path, {k: v for k, v in TREE.items() if k != "a.yaml"})
    assert (tmp_path / "notes.md").read_text() == "keep\n"


def test_identical_unowned_file_is_adopted(tmp_path):
    (tmp_path / "a.yaml").write_text(TREE["a.yaml"])
    plan = writer.write(tmp_path, TREE)
    assert "a.yaml" in plan.unchanged
    assert "a.yaml" in json.loads((tmp_path / LOCK_FILE).read_text())["files"]


def test_plan_changes_nothing(tmp_path):
    writer.write(tmp_path, TREE)
    plan = writer.plan(tmp_path, {"a.yaml": "a: 3\n"})
    assert plan.stale == ["a.yaml", "dir/b.sh", "dir/sub/c.txt"]
    assert (tmp_path / "a.yaml").read_text() == TREE["a.yaml"]


def test_killed_between_files_and_lock_converges(tmp_path, monkeypatch):
    writer.write(tmp_path, TREE)
    new_tree = {**TREE, "a.yaml": "a: 2\n", "d.txt": "d\n"}
    real = writer._atomic_write
    calls = []

    def dies_at_lock(path, text, **kw):
        if path.name == "lock":
            raise KeyboardInterrupt  # the process is killed before the lock is written
        calls.append(path)
        real(path, text, **kw)

    monkeypatch.setattr(writer, "_atomic_write", dies_at_lock)
    with pytest.raises(KeyboardInterrupt):
        writer.write(tmp_path, new_tree)
    monkeypatch.setattr(writer, "_atomic_write", real)
    assert calls  # files were replaced, the lock is the old one
    plan = writer.write(tmp_path, new_tree)  # no conflict: what is on disk is what we render
    assert not plan.conflicts
    assert not writer.plan(tmp_path, new_tree).stale


def test_no_temporary_files_left_behind(tmp_path):
    writer.write(tmp_path, TREE)
    assert not [p for p in tmp_path.rglob(".*") if p.is_file() and p.name.startswith(".") and p.parent.name != ".clusterforge"]


def test_damaged_lock_is_a_clear_error(tmp_path):
    (tmp_path / LOCK_FILE).parent.mkdir(parents=True)
    (tmp_path / LOCK_FILE).write_text("{not json")
    with pytest.raises(writer.ClusterforgeError, match="damaged"):
        writer.write(tmp_path, TREE)


def test_private_file_mode(tmp_path):
    writer.write_private(tmp_path / "s.yaml", "k: v\n")
    assert stat.S_IMODE(os.stat(tmp_path / "s.yaml").st_mode) == 0o600
