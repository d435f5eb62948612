"""The writer owns exactly the files in its lock and never loses a user's edit."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest

from generator import loader, writer
from generator.render import layout, tree
from generator.render.layout import LOCK_FILE

# Paths a lock may name (layout.is_renderable); the contents do not matter here.
A, B, C, D = "README.md", "bootstrap/install-cilium.sh", "nodes/cp1/user-data", "nodes/cp1/meta-data"
TREE = {A: "a: 1\n", B: "#!/usr/bin/env bash\ntrue\n", C: "c\n"}


def test_first_write_creates_everything_and_records_ownership(tmp_path):
    plan = writer.write(tmp_path, TREE)
    assert sorted(plan.create) == sorted(TREE)
    for rel, text in TREE.items():
        assert (tmp_path / rel).read_text() == text
    lock = json.loads((tmp_path / LOCK_FILE).read_text())
    assert lock["files"] == {rel: writer.digest(text) for rel, text in TREE.items()}
    assert os.stat(tmp_path / B).st_mode & stat.S_IXUSR
    assert not os.stat(tmp_path / A).st_mode & stat.S_IXUSR


def test_unchanged_files_are_not_rewritten(tmp_path):
    writer.write(tmp_path, TREE)
    before = {rel: (tmp_path / rel).stat().st_mtime_ns for rel in TREE}
    plan = writer.write(tmp_path, TREE)
    assert sorted(plan.unchanged) == sorted(TREE) and not plan.stale
    assert {rel: (tmp_path / rel).stat().st_mtime_ns for rel in TREE} == before


def test_owned_file_is_updated_and_dropped_file_removed(tmp_path):
    writer.write(tmp_path, TREE)
    new_tree = {A: "a: 2\n", B: TREE[B]}
    plan = writer.write(tmp_path, new_tree)
    assert plan.update == [A] and plan.remove == [C]
    assert (tmp_path / A).read_text() == "a: 2\n"
    assert not (tmp_path / "nodes").exists()  # emptied folders go too


def test_hand_edited_file_is_refused_unless_forced(tmp_path):
    writer.write(tmp_path, TREE)
    (tmp_path / A).write_text("a: mine\n")
    with pytest.raises(writer.WriteConflict, match=A):
        writer.write(tmp_path, {**TREE, A: "a: 2\n"})
    assert (tmp_path / A).read_text() == "a: mine\n"
    writer.write(tmp_path, {**TREE, A: "a: 2\n"}, force=True)
    assert (tmp_path / A).read_text() == "a: 2\n"


def test_hand_edited_file_that_is_no_longer_rendered_is_kept(tmp_path):
    writer.write(tmp_path, TREE)
    (tmp_path / C).write_text("my notes\n")
    with pytest.raises(writer.WriteConflict, match=C):
        writer.write(tmp_path, {A: TREE[A]})
    assert (tmp_path / C).read_text() == "my notes\n"


def test_files_not_owned_are_never_touched(tmp_path):
    (tmp_path / A).write_text("user's own\n")
    (tmp_path / "notes.md").write_text("keep\n")
    with pytest.raises(writer.WriteConflict, match=A):
        writer.write(tmp_path, TREE)
    assert (tmp_path / A).read_text() == "user's own\n"
    writer.write(tmp_path, {k: v for k, v in TREE.items() if k != A})
    assert (tmp_path / "notes.md").read_text() == "keep\n"


def test_identical_unowned_file_is_adopted(tmp_path):
    (tmp_path / A).write_text(TREE[A])
    plan = writer.write(tmp_path, TREE)
    assert A in plan.unchanged
    assert A in json.loads((tmp_path / LOCK_FILE).read_text())["files"]


def test_plan_changes_nothing(tmp_path):
    writer.write(tmp_path, TREE)
    plan = writer.plan(tmp_path, {A: "a: 3\n"})
    assert plan.stale == sorted(TREE)
    assert (tmp_path / A).read_text() == TREE[A]


def test_no_temporary_files_left_behind(tmp_path):
    writer.write(tmp_path, TREE)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == sorted([*TREE, LOCK_FILE])


def test_damaged_lock_is_a_clear_error(tmp_path):
    (tmp_path / LOCK_FILE).parent.mkdir(parents=True)
    (tmp_path / LOCK_FILE).write_text("{not json")
    with pytest.raises(writer.ClusterforgeError, match="damaged"):
        writer.write(tmp_path, TREE)


def test_private_file_mode(tmp_path):
    with writer.session(tmp_path) as disk:
        disk.write_private(layout.SECRETS_FILE, "k: v\n")
    assert stat.S_IMODE(os.stat(tmp_path / layout.SECRETS_FILE).st_mode) == 0o600


# --- what a lock may name ------------------------------------------------------

INVENTORIES = {
    "example": Path(__file__).parents[1] / "generator" / "data" / "cluster.example.yaml",
    "full": Path(__file__).parent / "data" / "full.yaml",
    "variant": Path(__file__).parent / "data" / "variant.yaml",
}


def test_renderable_paths_are_exactly_the_rendered_ones():
    """Every rendered file is renderable (tree.render enforces it), and every pattern of
    layout.RENDERED_FILES is used by one of the test inventories: the list is exact."""
    rendered = {path for source in INVENTORIES.values() for path in tree.render(loader.check_file(source).inventory)}
    assert all(layout.is_renderable(path) for path in rendered)
    for pattern in layout.RENDERED_FILES:
        single = re.compile(re.escape(pattern).replace(re.escape("{name}"), "[a-z0-9-]+"))
        assert any(single.fullmatch(path) for path in rendered), f"no test inventory renders {pattern}"

