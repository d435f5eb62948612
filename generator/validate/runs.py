"""A whole `validate` run remembered per repository, so that a repository none of whose
inputs changed is answered from one file: no plan, no tool probe, no subprocess.

The key covers everything a verdict depends on: every file of the repository (path and
content; .git aside), the identity (path, size, mtime) of every tool validation may run,
the cache folders (schemas, charts: a pull or a new conversion changes a folder's
mtime), clusterforge's and kubernetes-validate's versions and whether this process may
make network namespaces (root), and clusterforge's own files. A run with a result that was not a verdict (a tool
missing or broken) is never remembered.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import stat
from dataclasses import asdict
from importlib import metadata
from pathlib import Path

from .. import __version__, tools
from ..toolpins import DEBIAN_TOOLS, GO_TOOLS
from .base import Result
from .limits import MAX_FILE_BYTES

CACHE_ENV = "CLUSTERFORGE_CACHE_DIR"
CACHED_FOLDERS = ("schemas", "charts")
# Files outside the tools' search folders that decide verdicts (see checks/cloudinit.py).
SYSTEM_FILES = (
    "/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json",
    "/usr/libexec/netplan/generate",
    "/usr/lib/netplan/generate",
    "/lib/netplan/generate",
)


def cache_dir() -> Path:
    """$CLUSTERFORGE_CACHE_DIR or ~/.cache/clusterforge: every cache (see caches.py)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "clusterforge"


PACKAGE = Path(__file__).resolve().parents[1]


@functools.cache
def kubernetes_validate_version() -> str:
    """Read once per process: importlib.metadata scans every installed distribution."""
    return metadata.version("kubernetes-validate")


def runs_dir(cache: Path) -> Path:
    return cache / "runs"


def record_path(cache: Path, repo: Path) -> Path:
    """One record per repository (by absolute path), replaced by each complete run."""
    return runs_dir(cache) / f"{hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:32]}.json"


def _stamp(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def repository_digest(repo: Path) -> str | None:
    """Every file's path and content hash; None when the repository holds something only a
    full run may judge (a file over the size limit, a symlink whose target could change
    unseen, anything but a regular file): that run says what is wrong with it."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(repo):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        if any(os.path.islink(os.path.join(root, d)) for d in dirs):
            return None
        for name in sorted(files):
            path = Path(root) / name
            st = path.lstat()
            if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE_BYTES:
                return None
            h.update(f"{path.relative_to(repo).as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def environment_digest(cache: Path) -> str:
    """The tools, the cache folders and the versions a verdict depends on (see the module's doc)."""
    parts = [__version__, kubernetes_validate_version(), str(os.geteuid() == 0 if hasattr(os, "geteuid") else "")]
    dirs = tools.search_dirs()
    for name in sorted([*GO_TOOLS, *DEBIAN_TOOLS]):
        found = tools.find_tool(name)
        parts.append(f"{name} {found} {_stamp(found) if found else ''}")
    for d in dirs:  # every kubeadm build: the inventory names the version it needs
        if d.is_dir():
            parts += sorted(f"{p} {_stamp(p)}" for p in d.glob("kubeadm*"))
    parts += [f"{p} {_stamp(Path(p))}" for p in SYSTEM_FILES]
    # clusterforge's own code and data (an edited checkout is another clusterforge)
    parts += sorted(f"{p} {_stamp(p)}" for pattern in ("**/*.py", "data/offline/manifest.json") for p in PACKAGE.glob(pattern))
    for folder in CACHED_FOLDERS:
        for root, subdirs, _ in os.walk(cache / folder):
            subdirs.sort()
            parts.append(f"{root} {_stamp(Path(root))}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def key(cache: Path, repo: Path) -> str | None:
    digest = repository_digest(repo)
    return None if digest is None else hashlib.sha256(f"{digest}\n{environment_digest(cache)}".encode()).hexdigest()


def lookup(cache: Path, repo: Path, run_key: str) -> list[Result] | None:
    try:
        record = json.loads(record_path(cache, repo).read_text(encoding="utf-8"))
        if record["key"] != run_key:
            return None
        return [Result(**r) for r in record["results"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None  # none, another run's, or damaged: run


def store(cache: Path, repo: Path, run_key: str, results: list[Result]) -> None:
    path = record_path(cache, repo)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": run_key, "results": [asdict(r) for r in results]}) + "\n", encoding="utf-8")
    os.replace(tmp, path)
