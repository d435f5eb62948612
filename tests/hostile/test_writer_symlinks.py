"""The repository tree is hostile too: a symbolic link to a folder (committed, or
made by hand) must never let render write, replace or delete outside the
repository. Only the repository root may be a link (resolved once)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from generator.render import layout

from .writer_support import edit_inventory, files, new_repo, run

WORKER3 = "  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n"


def through(path: Path, below: str) -> str:
    return f"{path} is a symbolic link: clusterforge never writes, replaces or deletes through one ({below} is below it)"


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return new_repo(tmp_path / "lab")


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere"
    path.mkdir()
    (path / "keep.txt").write_text("not the repository's\n")
    return path


def link_away(lab: Path, rel: str, elsewhere: Path) -> Path:
    """Move the folder `rel` out of the repository and leave a link to it in its place."""
    target = elsewhere / Path(rel).name
    shutil.move(lab / rel, target)
    (lab / rel).symlink_to(target, target_is_directory=True)
    return target


@pytest.mark.parametrize("force", [False, True], ids=["plain", "force"])
def test_a_linked_nodes_folder_is_not_written_through(tmp_path, lab, elsewhere, capsys, force):
    shutil.rmtree(lab / "nodes")
    (lab / "nodes").symlink_to(elsewhere, target_is_directory=True)
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), *(["--force"] if force else []))
    assert (code, err) == (2, f"clusterforge: {through(lab / 'nodes', 'nodes/cp1/meta-data')}\n")
    assert files(tmp_path) == before


def test_every_linked_folder_is_named_at_once(tmp_path, lab, elsewhere, capsys):
    link_away(lab, "nodes", elsewhere)
    link_away(lab, "loadbalancers", elsewhere)
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), "--force")
    assert (code, err) == (2, (
        f"clusterforge: {through(lab / 'loadbalancers', 'loadbalancers/haproxy1/check_apiserver.sh')}\n"
        f"{through(lab / 'nodes', 'nodes/cp1/meta-data')}\n"
    ))
    assert files(tmp_path) == before


def test_a_linked_clusterforge_folder_gets_no_lock(tmp_path, lab, elsewhere, capsys):
    link_away(lab, ".clusterforge", elsewhere)
    edit_inventory(lab, "hubble: true", "hubble: false")
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), "--force")
    assert (code, err) == (2, f"clusterforge: {through(lab / '.clusterforge', layout.LOCK_FILE)}\n")
    assert files(tmp_path) == before


def test_removing_a_node_whose_folder_is_a_link_deletes_nothing(tmp_path, lab, elsewhere, capsys):
    target = link_away(lab, "nodes/worker3", elsewhere)
    edit_inventory(lab, WORKER3, "")
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), "--force")
    assert (code, err) == (2, f"clusterforge: {through(lab / 'nodes/worker3', 'nodes/worker3/meta-data')}\n")
    assert files(tmp_path) == before
    assert sorted(p.name for p in target.iterdir()) == ["meta-data", "network-config", "user-data"]


def test_a_file_where_a_folder_belongs_is_named(tmp_path, lab, capsys):
    shutil.rmtree(lab / "nodes")
    (lab / "nodes").write_text("a file\n")
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), "--force")
    assert (code, err) == (2, f"clusterforge: {lab / 'nodes'} is not a folder, but nodes/cp1/meta-data is rendered below it\n")
    assert files(tmp_path) == before


def test_a_linked_lock_is_not_read_or_replaced(tmp_path, lab, elsewhere, capsys):
    lock = lab / layout.LOCK_FILE
    shutil.move(lock, elsewhere / "lock")
    lock.symlink_to(elsewhere / "lock")
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab), "--force")
    assert (code, err) == (2, f"clusterforge: {lock} is a symbolic link: clusterforge never reads or replaces its lock "
                              "through one; delete it and render with --force to take ownership again\n")
    assert files(tmp_path) == before


def test_a_linked_file_is_replaced_not_written_through(tmp_path, lab, elsewhere, capsys):
    """A link where a rendered file belongs is a file changed by hand: refused, and with
    --force replaced by the file itself; its target is never written."""
    readme = lab / layout.README
    readme.unlink()
    readme.symlink_to(elsewhere / "keep.txt")
    code, err = run(capsys, "render", "-C", str(lab))
    assert code == 1 and f"  {layout.README}\n" in err
    assert run(capsys, "render", "-C", str(lab), "--force")[0] == 0
    assert not readme.is_symlink() and readme.read_text().startswith("# koedo-lab\n")
    assert (elsewhere / "keep.txt").read_text() == "not the repository's\n"


def test_the_repository_root_may_be_a_link(tmp_path, lab, capsys):
    link = tmp_path / "link"
    link.symlink_to(lab, target_is_directory=True)
    edit_inventory(lab, "hubble: true", "hubble: false")
    assert run(capsys, "render", "-C", str(link))[0] == 0
    assert run(capsys, "render", "-C", str(lab), "--check")[0] == 0


def test_a_linked_scratch_folder_is_neither_used_nor_emptied(tmp_path, lab, elsewhere, capsys):
    (lab / layout.SCRATCH_DIR).symlink_to(elsewhere, target_is_directory=True)
    edit_inventory(lab, "hubble: true", "hubble: false")
    before = files(tmp_path)
    code, err = run(capsys, "render", "-C", str(lab))
    assert (code, err) == (2, f"clusterforge: {through(lab / layout.SCRATCH_DIR, layout.SCRATCH_DIR + '/.gitignore')}\n")
    assert files(tmp_path) == before
