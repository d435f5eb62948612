"""Temporary files: where git ignores them from their first byte, private when they
hold secrets, and removed by the next run of the command that made them."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import pytest

from generator import cli, repo, writer
from generator.render import layout, meta

from .writer_support import files, git, git_init, new_repo, run

# FAKE secrets file of a killed render; the token is made up and built in two parts so
# no tracked line looks like a real one.
STALE_SECRETS = "# Secrets of this cluster: never commit this file in plaintext.\nbootstrapToken: " + "abcdef." + "0123456789abcdef" + "\n"


def test_stale_temporaries_of_a_killed_render_are_removed(tmp_path, capsys):
    lab = new_repo(tmp_path / "lab")
    scratch = lab / layout.SCRATCH_DIR
    scratch.mkdir()
    (scratch / "0123456789abcdef").write_text(STALE_SECRETS)
    before = files(lab)
    assert run(capsys, "render", "-C", str(lab))[0] == 0
    assert not scratch.exists()
    assert files(lab) == {rel: data for rel, data in before.items() if not rel.startswith(layout.SCRATCH_DIR)}


def test_temporaries_left_by_clusterforge_0_1_are_removed(tmp_path, capsys):
    """It named them `.NAME.` and 8 random characters beside the file: the secrets file's
    held every secret. Only names of that form beside a file clusterforge writes go."""
    lab = new_repo(tmp_path / "lab")
    legacy = [".clusterforge/.secrets.yaml.k3_9zq0a", ".clusterforge/.lock.abcdefgh", "nodes/cp1/.user-data.x1y2z3w4", ".README.md.00000000"]
    kept = [".clusterforge/.secrets.yaml.backup", "nodes/cp1/.notes.abcdefgh", "nodes/cp1/.user-data.ABCDEFGH", "nodes/cp1/.user-data.123456789"]
    for rel in legacy + kept:
        (lab / rel).write_text(STALE_SECRETS)
    assert run(capsys, "render", "-C", str(lab))[0] == 0
    assert [rel for rel in legacy + kept if (lab / rel).exists()] == kept


def test_the_generated_gitignore_covers_the_temporaries(tmp_path):
    lab = new_repo(tmp_path / "lab")
    git_init(lab)
    (lab / layout.SCRATCH_DIR).mkdir()
    (lab / layout.SCRATCH_DIR / "0123456789abcdef").write_text(STALE_SECRETS)
    assert f"/{layout.SCRATCH_DIR}/" in meta.gitignore().splitlines()
    assert git(lab, "check-ignore", "-q", f"{layout.SCRATCH_DIR}/0123456789abcdef").returncode == 0


# --- `new` builds in a staging folder beside DEST ------------------------------------


def staging(parent: Path, suffix: str, marker: str | None = writer.IGNORE_ALL) -> Path:
    folder = parent / f"{writer.STAGING_PREFIX}{suffix}"
    folder.mkdir()
    if marker is not None:
        (folder / ".gitignore").write_text(marker)
        (folder / "repository").mkdir()
        (folder / "repository" / "secrets.yaml").write_text(STALE_SECRETS)
    return folder


def test_new_removes_the_staging_folders_a_killed_new_left(tmp_path, capsys):
    """Its marker may be cut short by the kill (here: empty)."""
    stale = [staging(tmp_path, "0123456789abcdef"), staging(tmp_path, "fedcba9876543210", marker="")]
    assert run(capsys, "new", str(tmp_path / "lab"), "--example")[0] == 0
    assert not any(path.exists() for path in stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab"]


def test_new_leaves_staging_folders_that_are_not_its_own_or_in_use(tmp_path, capsys):
    in_use = staging(tmp_path, "1111111111111111")
    unmarked = staging(tmp_path, "2222222222222222", marker=None)
    (unmarked / "mine.txt").write_text("not clusterforge's\n")
    other_marker = staging(tmp_path, "3333333333333333", marker="*\n")
    being_made = tmp_path / f"{writer.STAGING_PREFIX}6666666666666666"
    being_made.mkdir()  # no marker yet: a run may be about to lock it
    link = tmp_path / f"{writer.STAGING_PREFIX}4444444444444444"
    link.symlink_to(in_use, target_is_directory=True)
    a_file = tmp_path / f"{writer.STAGING_PREFIX}5555555555555555"
    a_file.write_text(writer.IGNORE_ALL)
    holder = os.open(in_use, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)  # a `new` still building there
        before = files(tmp_path)
        assert run(capsys, "new", str(tmp_path / "lab"), "--example")[0] == 0
    finally:
        os.close(holder)
    assert {rel: data for rel, data in files(tmp_path).items() if not rel.startswith("lab/")} == before
    assert link.is_symlink() and being_made.is_dir() and other_marker.is_dir()


def test_the_staging_folder_is_ignored_by_an_enclosing_git_work_tree(tmp_path):
    git_init(tmp_path)
    folder = staging(tmp_path, "0123456789abcdef")
    assert git(tmp_path, "check-ignore", "-q", str(folder / "repository" / "secrets.yaml")).returncode == 0
    assert git(tmp_path, "status", "--porcelain").stdout == ""


def test_cookiecutter_hook_scripts_stay_in_the_staging_folder(tmp_path, capsys, monkeypatch):
    """cookiecutter renders each hook, with the whole inventory in it, into the system's
    temporary folder and never deletes it: clusterforge points it at the staging folder."""
    system_tmp = tmp_path / "tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    assert cli.main(["new", str(tmp_path / "lab"), "--example"]) == 0
    assert list(system_tmp.iterdir()) == []
    assert tempfile.tempdir == str(system_tmp)


def test_private_files_are_written_whole_and_private(tmp_path):
    outdir = tmp_path / "seed"
    outdir.mkdir()
    with writer.session(outdir, scratch=".clusterforge-tmp") as disk:
        disk.write_private("user-data", "#cloud-config\n")
    assert [(p.name, oct(p.stat().st_mode & 0o777)) for p in outdir.iterdir()] == [("user-data", "0o600")]


@pytest.mark.parametrize("rel", [layout.SCRATCH_DIR + "/x", layout.SECRETS_FILE])
def test_secrets_and_temporaries_are_not_renderable(rel):
    assert not layout.is_renderable(rel)

