"""The rendered repository as the GitOps engine reads it: a bare repository on the
loopback git server, filled from a working copy of the rendered tree. The rehearsal
changes exactly one thing in it, and says so: the chart repository URL (the
HelmRepository's and the bootstrap script's) points at the loopback chart server."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .. import yamlio
from ..render import layout
from ..tools import run
from .kube import load_yaml

REPOSITORY = "cluster.git"
AUTHOR = {"GIT_AUTHOR_NAME": "clusterforge rehearse", "GIT_AUTHOR_EMAIL": "rehearse@clusterforge.invalid",
          "GIT_COMMITTER_NAME": "clusterforge rehearse", "GIT_COMMITTER_EMAIL": "rehearse@clusterforge.invalid"}
HELM_REPOSITORY = f"{layout.CILIUM_DIR}/helmrepository.yaml"


@dataclass(frozen=True)
class ServedRepository:
    bare: Path
    work: Path
    branch: str

    def git(self, *args: str) -> str:
        return run(["git", "-C", self.work, *args], env=AUTHOR).stdout

    def commit(self, message: str) -> str:
        """Commit the working copy and push it to the served repository; the new revision."""
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        self.git("push", "--quiet", "origin", f"HEAD:{self.branch}")
        return self.git("rev-parse", "HEAD").strip()


def _copy_tree(source: Path, target: Path) -> None:
    """The rendered tree without its git folder and git-ignored secrets (nothing Flux reads)."""
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(".git", "secrets.yaml", "tmp", "cache"),
                    dirs_exist_ok=True)


def create(folder: Path, repo: Path, branch: str) -> ServedRepository:
    root = folder / "git"
    bare, work = root / REPOSITORY, folder / "work"
    run(["git", "init", "--quiet", "--bare", f"--initial-branch={branch}", bare])
    run(["git", "init", "--quiet", f"--initial-branch={branch}", work])
    run(["git", "-C", work, "remote", "add", "origin", bare])
    served = ServedRepository(bare, work, branch)
    _copy_tree(repo, work)
    served.commit("the rendered repository")
    return served


def refresh(served: ServedRepository, repo: Path) -> None:
    """Bring a re-rendered tree into the working copy (files the render removed go too)."""
    for path in served.work.iterdir():
        if path.name != ".git":
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
    _copy_tree(repo, served.work)


def redirect_charts(served: ServedRepository, upstream: str, loopback: str) -> list[str]:
    """Point the HelmRepository and the bootstrap script at the loopback chart server; the
    files changed (for the report)."""
    changed = []
    helm_repository = served.work / HELM_REPOSITORY
    if helm_repository.is_file():
        doc = load_yaml(helm_repository.read_text())
        doc["spec"]["url"] = loopback
        helm_repository.write_text(yamlio.dump(doc))
        changed.append(HELM_REPOSITORY)
    script = served.work / layout.CILIUM_BOOTSTRAP
    text = script.read_text()
    if f"--repo {upstream}" in text:
        script.write_text(text.replace(f"--repo {upstream}", f"--repo {loopback}"))
        changed.append(layout.CILIUM_BOOTSTRAP)
    return changed



def redirect_argocd(served: ServedRepository, urls: dict[str, str]) -> list[str]:
    """Point the Applications' sources and the AppProject's sourceRepos at the loopback servers
    (`urls`: upstream URL -> loopback URL); the files changed (for the report)."""
    changed = []
    for path in sorted((served.work / layout.ARGOCD_DIR).rglob("*.yaml")):
        doc = load_yaml(path.read_text())
        spec = doc.get("spec", {})
        sources = [spec["source"]] if "source" in spec else spec.get("sources", [])
        hits = [s for s in sources if s.get("repoURL") in urls]
        for source in hits:
            source["repoURL"] = urls[source["repoURL"]]
        repos = spec.get("sourceRepos", [])
        if hits or any(r in urls for r in repos):
            if repos:
                spec["sourceRepos"] = sorted(urls.get(r, r) for r in repos)
            path.write_text(yamlio.dump(doc))
            changed.append(path.relative_to(served.work).as_posix())
    return changed
