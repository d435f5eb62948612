"""What `clusterforge tools install` puts in the tools folder and how: every tool
toolpins.GO_TOOLS pins plus one kubeadm per Kubernetes version, each skipped when the
binary there already is that version, otherwise made in a staging folder inside the tools
folder, checked, and renamed into place (a reader never sees a half-written binary)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .. import formats, loader, tools
from ..errors import ClusterforgeError, InstallFailed, ToolFailed, ToolMissing
from ..render import layout
from ..toolpins import GO_TOOLS, KUBEADM_PACKAGE, KUBERNETES_VERSION, buildinfo_version, kubeadm_binary
from . import fetch, gobuild, releases


@dataclass(frozen=True)
class Pinned:
    """One binary of the tools folder."""

    name: str  # its file name there (kubeadm-v1.35.4)
    tool: str  # the tool it is, for version probes and release downloads (kubeadm)
    package: str  # the Go package it is built from
    version: str  # the Go module version, with the leading "v"

    def __str__(self) -> str:
        return self.name if self.name.endswith(self.version) else f"{self.name} {self.version}"


def pinned(kubernetes_versions: Sequence[str]) -> list[Pinned]:
    """Every pinned tool, then kubeadm for each Kubernetes version."""
    return [
        *(Pinned(t.name, t.name, t.package, t.version) for t in GO_TOOLS.values()),
        *(Pinned(kubeadm_binary(v), "kubeadm", KUBEADM_PACKAGE, f"v{v}") for v in kubernetes_versions),
    ]


def tools_dir() -> Path:
    """$CLUSTERFORGE_TOOLS_DIR if set, else the per-user tools folder."""
    env = os.environ.get(tools.TOOLS_DIR_ENV)
    return Path(env) if env else tools.user_tools_dir()


def kubernetes_versions(given: Sequence[str], repo: Path) -> list[str]:
    """The versions asked for, else the one of the repository's cluster.yaml, else the default."""
    if given:
        versions = [_version(v) for v in given]
    elif (repo / layout.INVENTORY).exists():
        versions = [loader.check_file(repo / layout.INVENTORY).inventory.kubernetes.version]
    else:
        versions = [KUBERNETES_VERSION]
    return list(dict.fromkeys(versions))


def _version(text: str) -> str:
    version = text.removeprefix("v")
    try:
        return formats.semver(version)
    except ValueError as e:
        raise ClusterforgeError(f"--kubernetes: {e}") from None


def installed_version(path: Path, item: Pinned) -> str | None:
    """The version of the binary at `path`: the module version in its Go build info (read
    without Go, as `go version -m` prints it), else what it reports about itself."""
    if not (path.is_file() and os.access(path, os.X_OK)):
        return None
    stamped = buildinfo_version(tools.go_build_info(path) or "", item.package)
    if stamped == item.version:
        return stamped
    try:
        return tools.reported_version(path, item.tool) or stamped
    except OSError:  # not an executable for this machine
        return stamped


def up_to_date(path: Path, item: Pinned) -> bool:
    found = installed_version(path, item)
    return found is not None and found.removeprefix("v") == item.version.removeprefix("v")


def install(directory: Path, items: Sequence[Pinned], out: TextIO, go: Path | None) -> None:
    """Put every item in `directory`: built with `go` if given, else downloaded and checked.
    One line per item; every item is tried, and any failure raises InstallFailed at the end."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InstallFailed(f"cannot create the tools folder {directory}: {e.strerror}") from None
    how = f"building with {go}" if go else "no Go on PATH: release binaries checked against their published SHA-256"
    _say(out, f"tools folder {directory} ({how})")
    failed: list[str] = []
    for item in items:
        target = directory / item.name
        if up_to_date(target, item):
            _say(out, f"{item}: up to date")
            continue
        try:
            with tempfile.TemporaryDirectory(dir=directory, prefix=".install-") as staging:
                made = _build(go, item, Path(staging), out) if go else _download(item, Path(staging), out)
                made.chmod(0o755)
                if not up_to_date(made, item):
                    raise InstallFailed(f"the new binary reports version {installed_version(made, item) or 'none'}; not installed")
                os.replace(made, target)
        except (InstallFailed, ToolFailed, ToolMissing, OSError) as e:
            # OSError: the folder itself (full, read-only, a folder where the binary goes)
            why = f"{e.strerror}: {e.filename2 or e.filename}" if isinstance(e, OSError) else str(e)
            _say(out, f"{item}: FAILED: {why}")
            failed.append(item.name)
            continue
        _say(out, f"{item}: installed")
    if failed:
        raise InstallFailed(f"{len(failed)} of {len(items)} tools not installed in {directory}: {', '.join(failed)}")
    _say(out, f"{len(items)} tools ready in {directory}")


def _say(out: TextIO, line: str) -> None:
    print(line, file=out, flush=True)


def _build(go: Path, item: Pinned, staging: Path, out: TextIO) -> Path:
    if gobuild.is_kubernetes_command(item.package):
        _say(out, f"{item}: building {item.package} from k8s.io/kubernetes {item.version} (minutes on a cold Go cache)")
        return gobuild.build_kubernetes_command(go, item.package, item.version, staging / item.name, staging / "module")
    _say(out, f"{item}: go install {item.package}@{item.version}")
    return gobuild.go_install(go, item.package, item.version, staging)


def _download(item: Pinned, staging: Path, out: TextIO) -> Path:
    system, arch = fetch.platform_key()
    artifact = releases.ARTIFACTS.get((item.tool, item.version, system, arch))
    if artifact is None:
        why = releases.UNAVAILABLE.get(item.tool) or f"no published SHA-256 of {item.tool} {item.version} for {system}/{arch} is recorded"
        raise InstallFailed(
            f"no verified release binary ({why}); install Go (>= 1.25) and run `clusterforge tools install` again "
            f"to build it from {item.package}@{item.version}"
        )
    _say(out, f"{item}: downloading {fetch.source_url(artifact.url)}")
    return fetch.fetch_binary(artifact, staging)
