"""The rehearsal's binaries, found like every pinned tool (tools.find_tool); a missing
one names the build that makes it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from .. import toolpins
from ..errors import ClusterforgeError, ToolMissing
from ..tools import find_tool, require

BUILD_HINT = "nox -s tools, or: python tools/gomodule/build.py {build} --out-dir .tools/bin"


def _built(binary: str, build: str) -> Path:
    path = find_tool(binary)
    if path is None:
        raise ToolMissing(binary, BUILD_HINT.format(build=build))
    return path


def etcd() -> Path:
    return _built("etcd", toolpins.ETCD.name)


def kubernetes(name: str, kubernetes_version: str) -> Path:
    """kube-apiserver, kube-controller-manager, kube-scheduler or kubectl of exactly this version."""
    return _built(toolpins.kubernetes_binary(name, kubernetes_version), toolpins.kubernetes_build(kubernetes_version).name)


def flux(controller: str) -> Path:
    return _built(controller, controller)


def argocd() -> Path:
    """Argo CD's one binary (each component picked by ARGOCD_BINARY_NAME)."""
    return _built("argocd", toolpins.ARGOCD.name)


def cilium_operator(cilium_version: str) -> Path:
    return _built(toolpins.cilium_operator_binary(cilium_version), toolpins.cilium_operator_build(cilium_version).name)


@dataclass(frozen=True)
class BuiltChart:
    archive: Path
    module: str  # module@version it was packaged from
    packaged_by: str


def cilium_chart(cilium_version: str) -> BuiltChart:
    """The Cilium chart that tools/gomodule/build.py packaged from the cilium module at this
    version, beside its operator; the archive must be the one its source file records."""
    build = toolpins.cilium_operator_build(cilium_version, chart=True)
    folder = cilium_operator(cilium_version).parent
    archive, source = folder / toolpins.chart_file(build), folder / toolpins.chart_source_file(build)
    if not archive.is_file() or not source.is_file():
        raise ToolMissing(archive.name, BUILD_HINT.format(build=build.name))
    recorded = json.loads(source.read_text())
    if recorded.get("sha256") != hashlib.sha256(archive.read_bytes()).hexdigest():
        raise ClusterforgeError(f"{archive} is not the archive {source.name} records: rebuild it ({BUILD_HINT.format(build=build.name)})")
    return BuiltChart(archive, str(recorded.get("module")), str(recorded.get("packaged_by")))


def kwok() -> tuple[Path, Path]:
    """kwok and its Stages file."""
    path = _built("kwok", toolpins.KWOK.name)
    return path, data(path, toolpins.KWOK)


def data(binary: Path, build: toolpins.ModuleBuild) -> Path:
    """The data file a build leaves beside its binary (CRDs, kwok's stages)."""
    path = binary.parent / toolpins.data_file(build)
    if not path.is_file():
        raise ToolMissing(path.name, BUILD_HINT.format(build=build.name))
    return path


def helm() -> Path:
    return require("helm")


def require_all(kubernetes_version: str, cilium_version: str, engine: str = "flux") -> None:
    """Every binary and data file a rehearsal runs, before anything starts: a missing one is
    ToolMissing (exit 2 with the command that builds it), not a half-made rehearsal."""
    etcd()
    for name in toolpins.KUBERNETES_BINARIES:
        kubernetes(name, kubernetes_version)
    kwok()
    if engine == "argocd":
        data(argocd(), toolpins.ARGOCD)
        require("redis-server")
        require("kustomize")
    else:
        for build in toolpins.FLUX_CONTROLLERS:
            data(flux(build.name), build)
    cilium_operator(cilium_version)
    bump = toolpins.cilium_bump(cilium_version)
    if bump:
        cilium_chart(bump)  # and its operator
    helm()
