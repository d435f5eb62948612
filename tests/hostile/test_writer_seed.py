"""`seed` writes secrets: never where a git work tree would take them (a monorepo's
`git add -A` staged a seed with the join token). git itself is asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from .writer_support import git, git_init, new_repo, run

SEED = "meta-data, network-config, user-data"


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    return new_repo(tmp_path / "lab")


def refused(outdir: Path, top: Path, names: str = SEED) -> str:
    return (f"clusterforge: {outdir} is in the git work tree {top}, which does not ignore {names} there: "
            "seeds hold secrets; write them outside any git work tree, or where git ignores them\n")


def test_seed_into_another_work_tree_is_refused(tmp_path, lab, capsys):
    monorepo = tmp_path / "monorepo"
    monorepo.mkdir()
    git_init(monorepo)
    outdir = monorepo / "vms" / "cp1"
    code, err = run(capsys, "seed", "cp1", str(outdir), "-C", str(lab))
    assert (code, err) == (2, refused(outdir, monorepo))
    assert not (monorepo / "vms").exists()


def test_seed_over_a_tracked_file_is_refused_although_now_ignored(tmp_path, lab, capsys):
    monorepo = tmp_path / "monorepo"
    (monorepo / "vms").mkdir(parents=True)
    git_init(monorepo)
    (monorepo / "vms" / "user-data").write_text("#cloud-config\n")
    git(monorepo, "add", "vms/user-data")
    (monorepo / ".gitignore").write_text("/vms/\n")
    code, err = run(capsys, "seed", "cp1", str(monorepo / "vms"), "-C", str(lab), "--iso")
    assert (code, err) == (2, refused(monorepo / "vms", monorepo, "user-data"))
    assert (monorepo / "vms" / "user-data").read_text() == "#cloud-config\n"


def test_seed_where_the_work_tree_ignores_it(tmp_path, lab, capsys):
    monorepo = tmp_path / "monorepo"
    monorepo.mkdir()
    git_init(monorepo)
    (monorepo / ".gitignore").write_text("/secret-seeds/\n")
    outdir = monorepo / "secret-seeds" / "cp1"
    assert run(capsys, "seed", "cp1", str(outdir), "-C", str(lab)) == (0, "")
    assert sorted(p.name for p in outdir.iterdir()) == ["meta-data", "network-config", "user-data"]
    assert git(monorepo, "status", "--porcelain").stdout == "?? .gitignore\n"


def test_seed_into_the_repositorys_own_seeds_folder(tmp_path, lab, capsys):
    git_init(lab)
    outdir = lab / "seeds" / "cp1"
    assert run(capsys, "seed", "cp1", str(outdir), "-C", str(lab))[0] == 0
    assert "seeds" not in git(lab, "status", "--porcelain", "--untracked-files=all").stdout


def test_seed_into_the_repository_when_it_is_a_work_tree(tmp_path, lab, capsys):
    git_init(lab)
    outdir = lab / "nodes" / "cp1" / "seed"
    code, err = run(capsys, "seed", "cp1", str(outdir), "-C", str(lab))
    assert (code, err) == (2, f"clusterforge: {outdir} is inside the repository: seeds hold secrets; write them outside it or under seeds/\n")


def test_seed_without_git_refuses_a_work_tree(tmp_path, lab, capsys, monkeypatch):
    """Without git to ask, a folder inside a work tree is refused."""
    (tmp_path / "monorepo" / ".git").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    outdir = tmp_path / "monorepo" / "cp1"
    code, err = run(capsys, "seed", "cp1", str(outdir), "-C", str(lab))
    assert (code, err) == (2, f"clusterforge: {outdir} is in the git work tree {tmp_path / 'monorepo'}, and git is not "
                              "installed to say whether it ignores the seed: seeds hold secrets; write them outside "
                              "any git work tree\n")
    assert run(capsys, "seed", "cp1", str(tmp_path / "elsewhere"), "-C", str(lab))[0] == 0


def test_seed_leaves_only_the_seed(tmp_path, lab, capsys):
    outdir = tmp_path / "seed"
    assert run(capsys, "seed", "cp1", str(outdir), "-C", str(lab))[0] == 0
    assert sorted((p.name, oct(p.stat().st_mode & 0o777)) for p in outdir.iterdir()) == [
        ("meta-data", "0o600"), ("network-config", "0o600"), ("user-data", "0o600"),
    ]
