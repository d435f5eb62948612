"""What the checks share: finding the repository's files (and which of them are
meant for git), finding a tool (a missing one raises ToolMissing only when a
Job runs, so the runner reports it uncached), running a tool on one file and
turning its verdict into a Result in the tool's own words."""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ... import tools
from ...toolpins import KUBERNETES_VERSION, kubeadm_binary
from ...errors import ToolMissing
from .. import caches
from ..base import Context, Job, Result

TIMEOUT = 60  # seconds for one tool run on one file: they all take well under one
RERENDER = "it is rendered from cluster.yaml: change that and run `clusterforge render` (`--force` replaces a hand edit)"


@dataclass(frozen=True)
class Tool:
    name: str
    path: Path | None  # None: not installed
    version: str  # part of the cache key; "" when the tool prints none
    install: str  # the command that installs it

    def require(self) -> Path:
        """The path; ToolMissing (which the runner reports and never caches) when not installed."""
        if self.path is None:
            raise ToolMissing(self.name, self.install)
        return self.path


def find(name: str, **kw: str) -> Tool:
    """The tool, never raising (a missing tool fails each Job when it runs), identified for
    the cache by its path, size and modification time: a stat instead of a version probe,
    and stronger (the pinned Go builds print "development" or "v3.22" as their version)."""
    path = tools.find_kubeadm(**kw) if name == "kubeadm" else tools.find_tool(name)
    version = kw.get("kubernetes_version", KUBERNETES_VERSION)
    shown = kubeadm_binary(version) if name == "kubeadm" else name
    identity = f"{path} {caches.stamp(path)}" if path else ""
    return Tool(shown, path, identity, tools.install_hint(name, version))


def repo_files(ctx: Context, *patterns: str) -> list[str]:
    """Repository-relative POSIX paths of the files matching any glob pattern, sorted."""
    found = {p.relative_to(ctx.repo).as_posix() for pattern in patterns for p in ctx.repo.glob(pattern) if p.is_file()}
    return sorted(found)


def read(ctx: Context, path: str) -> str:
    return (ctx.repo / path).read_text(encoding="utf-8", errors="replace")


def tool_output(stdout: str, stderr: str, renames: Mapping[str, str] | None = None) -> str:
    """The tool's own words, with scratch paths replaced by the repository paths they stand for."""
    text = "\n".join(part.strip() for part in (stderr, stdout) if part.strip())
    for scratch, shown in (renames or {}).items():
        text = text.replace(scratch, shown)
    return text


def verdict(
    check: str,
    path: str,
    argv: Sequence[str | os.PathLike[str]],
    hint: str,
    *,
    cwd: Path | None = None,
    fail_codes: Sequence[int] = (1,),
    renames: Mapping[str, str] | None = None,
    drop: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    """Run a checker on one file: exit 0 passes; a code in fail_codes fails with the tool's
    own message (lines matching the regex `drop` removed). Any other exit code or a timeout
    raises ToolFailed: the tool could not judge, which the runner reports without caching."""
    done = tools.run(argv, cwd=cwd, ok_codes=(0, *fail_codes), timeout=TIMEOUT, env=env)
    if done.returncode == 0:
        return Result(check, path, True)
    message = tool_output(done.stdout, done.stderr, renames)
    if drop:
        message = "\n".join(line for line in message.splitlines() if not re.search(drop, line))
    return Result(check, path, False, message or f"exit code {done.returncode}", hint)


def file_jobs(
    check: str,
    tool: Tool,
    paths: Sequence[str],
    result: Callable[[str], Result],
    *,
    extra_inputs: Callable[[str], Sequence[str]] = lambda _path: (),
    extra_key: str = "",
) -> list[Job]:
    """One cacheable Job per file; each raises ToolMissing while the tool is missing."""

    def job(path: str) -> Job:
        def run() -> list[Result]:
            tool.require()
            return [result(path)]

        return Job(check, (path, *extra_inputs(path)), run, tool.version, extra_key)

    return [job(path) for path in paths]


# --- the files meant for git ---------------------------------------------------


def committed_files(repo: Path) -> list[str]:
    """Every file of the repository that is not ignored: what `git add -A` would take."""
    return [p for p in committed_entries(repo) if (repo / p).is_file()]


def committed_links(repo: Path) -> list[str]:
    """The symbolic links among them, to files or folders."""
    return [p for p in committed_entries(repo) if (repo / p).is_symlink()]


def committed_entries(repo: Path) -> list[str]:
    """What `git add -A` would take: files and symbolic links (to folders too).

    git itself decides in a git work tree; otherwise the repository's own .gitignore
    is applied (the simple patterns clusterforge writes: `/anchored`, `dir/`, `*.glob`).
    """
    if (repo / ".git").exists():
        out = tools.run(["git", "ls-files", "--others", "--cached", "--exclude-standard", "-z"], cwd=repo).stdout
        return sorted({p for p in out.split("\0") if p})
    ignore = repo / ".gitignore"
    patterns = _ignore_patterns(ignore.read_text(encoding="utf-8", errors="replace")) if ignore.is_file() else []
    found = []
    for root, dirs, files in os.walk(repo):  # does not follow linked folders, lists them in dirs
        rel_root = Path(root).relative_to(repo).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        dirs[:] = sorted(d for d in dirs if d != ".git" and not _ignored(prefix + d, True, patterns))
        found += [prefix + d for d in dirs if os.path.islink(os.path.join(root, d))]
        found += [prefix + f for f in files if not _ignored(prefix + f, False, patterns)]
    return sorted(found)


def _ignore_patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _ignored(rel: str, is_dir: bool, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    for pattern in patterns:
        if pattern.endswith("/") and not is_dir:
            continue
        bare = pattern.strip("/")
        # A slash at the start or in the middle anchors the pattern at the repository root.
        anchored = pattern.startswith("/") or "/" in bare
        if fnmatch.fnmatchcase(rel if anchored else name, bare):
            return True
    return False
