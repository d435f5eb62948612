"""`new` into paths that cannot hold a new repository, and `render` into a tree
with a folder where a file belongs: a clear message (exit 2), never a traceback,
never a word of the inventory, and nothing left behind."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator import writer
from generator.render import layout

from .writer_support import files, new_repo, run

ROOT = Path(__file__).resolve().parents[2]
SYMLINK = "is a symbolic link: give the path of a folder to create, or of an empty one"
INVENTORY_WORDS = ("koedo-lab", "192.168.100", "ssh-ed25519", "rtx1220", "nuc1")
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")


def new(*argv: str, cwd: Path | None = None, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """`clusterforge new ... --example` as the user runs it (its own process)."""
    command = [*prefix, sys.executable, "-m", "generator", "new", *argv, "--example"]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert (done.returncode, done.stderr, done.stdout) == (2, f"clusterforge: {message}\n", "")


def need_root(what: str) -> None:
    if os.geteuid() != 0 or not shutil.which("unshare"):
        if IN_CI:
            pytest.fail(f"CI runs as root with unshare: {what}")
        pytest.skip(f"{what} needs root and unshare")


def test_new_below_a_file(tmp_path):
    (tmp_path / "notes.txt").write_text("a file\n")
    dest = tmp_path / "notes.txt" / "lab"
    refused(new(str(dest)), f"cannot create {dest}: {tmp_path / 'notes.txt'} is not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_new_below_a_read_only_folder(tmp_path):
    """Root ignores permissions unless it drops CAP_DAC_OVERRIDE, as setpriv does here."""
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    prefix = ("setpriv", "--inh-caps=-dac_override", "--bounding-set=-dac_override") if os.geteuid() == 0 else ()
    try:
        refused(new(str(parent / "lab"), prefix=prefix), f"cannot create {parent / 'lab'}: Permission denied")
    finally:
        parent.chmod(0o755)
    assert list(parent.iterdir()) == []


@pytest.mark.parametrize("target", ["missing", "empty-folder"])
def test_new_onto_a_symbolic_link(tmp_path, target):
    (tmp_path / "empty-folder").mkdir()
    dest = tmp_path / "lab"
    dest.symlink_to(tmp_path / target)
    refused(new(str(dest)), f"{dest} {SYMLINK}")
    assert dest.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["empty-folder", "lab"]
    assert list((tmp_path / "empty-folder").iterdir()) == []


def test_new_onto_a_mount_point(tmp_path):
    need_root("mounting a file system")
    dest = tmp_path / "lab"
    dest.mkdir()
    script = f'mount -t tmpfs none "{dest}" && exec "$@"'
    done = new(str(dest), prefix=("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"))
    refused(done, f"{dest} is a mount point: new moves a finished folder into place, which cannot replace one; give a folder inside it")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab"]


def test_new_with_the_longest_name(tmp_path):
    dest = tmp_path / ("n" * 255)
    done = new(str(dest))
    assert done.returncode == 0, done.stderr
    assert (dest / layout.LOCK_FILE).is_file() and sorted(p.name for p in tmp_path.iterdir()) == [dest.name]


def test_new_with_a_name_too_long(tmp_path):
    dest = tmp_path / ("n" * 256)
    refused(new(str(dest)), f"cannot create {dest}: File name too long")
    assert list(tmp_path.iterdir()) == []


def deep_folder(tmp_path: Path, length: int) -> Path:
    """A folder whose path is `length` characters long, made one step at a time."""
    folder, step = tmp_path, 200
    while len(str(folder)) + 1 + step < length:
        folder = folder / ("d" * step)
    folder = folder / ("e" * (length - len(str(folder)) - 1))
    os.makedirs(folder)  # each mkdir's path stays below PATH_MAX
    assert len(str(folder)) == length
    return folder


def assert_no_inventory_in(text: str) -> None:
    assert "Traceback" not in text
    assert not [word for word in INVENTORY_WORDS if word in text]


def test_new_with_a_4000_character_path(tmp_path):
    parent = deep_folder(tmp_path, 3996)
    done = new("lab", cwd=parent)  # the absolute path is 4,000 characters
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in parent.iterdir()) == ["lab"]


def test_new_whose_template_hook_cannot_write_says_why_without_the_inventory(tmp_path):
    """The project folder's path fits, its cluster.yaml's does not: the template's hook
    fails, and used to print a traceback quoting the whole inventory."""
    parent = deep_folder(tmp_path, 4040)
    done = new("lab", cwd=parent)
    staging = re.escape(f"{parent}/{writer.STAGING_PREFIX}") + "[0-9a-f]{16}"
    assert done.returncode == 2 and done.stdout == ""
    assert re.fullmatch(
        f"clusterforge: cannot write {staging}/koedo-lab/cluster.yaml: File name too long\n"
        "clusterforge: no repository was created \\(see the messages above\\)\n",
        done.stderr,
    ), done.stderr[-3000:]
    assert_no_inventory_in(done.stderr.replace("koedo-lab/cluster.yaml", ""))
    assert list(parent.iterdir()) == []


def test_new_says_why_when_the_template_hook_cannot_start(tmp_path, capsys, monkeypatch):
    """cookiecutter runs the hooks with sys.executable: here one that does not exist."""
    missing = tmp_path / "no-python"
    monkeypatch.setattr(sys, "executable", str(missing))
    code, err = run(capsys, "new", str(tmp_path / "lab"), "--example")
    assert (code, err) == (2, "clusterforge: no repository was created: the template's hook could not run "
                              f"([Errno 2] No such file or directory: '{missing}')\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rel", [layout.LOCK_FILE, layout.README])
@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_render_with_a_folder_where_a_file_belongs(tmp_path, capsys, rel, force):
    lab = new_repo(tmp_path / "lab")
    (lab / rel).unlink()
    (lab / rel).mkdir()
    (lab / rel / "mine.txt").write_text("keep\n")
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), *(["--force"] if force else []))
    assert (code, err) == (2, f"clusterforge: {lab / rel} is a folder, but clusterforge writes a file there: move it away and render again\n")
    assert files(tmp_path) == before
