"""What a GitOps engine would apply from the repository, found by reading its
YAML (no tool runs here): the directories (units) Flux Kustomizations and Argo CD
Applications point at, and the Helm releases with their charts.

Flux starts at clusters/<name>/, Argo CD at the root Application; from there every
Kustomization / Application that points back into this repository is followed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .. import yamlio
from ..model import Inventory
from ..render import layout
from . import caches

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
FLUX_KUSTOMIZATION = "kustomize.toolkit.fluxcd.io"
FLUX_HELM = "helm.toolkit.fluxcd.io"
FLUX_SOURCE = "source.toolkit.fluxcd.io"
ARGO = "argoproj.io"


@dataclass(frozen=True)
class Unit:
    """Something the engine applies: a kustomize directory, or plain manifest files."""

    path: str  # repository-relative directory (or file)
    kustomize: bool
    files: tuple[str, ...]  # the manifest files (plain units) or every file kustomize may read


@dataclass(frozen=True)
class Release:
    """A Helm release as the engine will install it."""

    engine: str  # "flux" | "argocd"
    file: str  # the HelmRelease / Application that declares it
    name: str  # that object's name
    release_name: str
    namespace: str
    chart: caches.ChartRef | None  # None: the source could not be resolved (see problem)
    unit: Unit  # where it was found (Flux values come from this unit's kustomize build)
    doc: dict[str, Any]
    problem: str = ""


@dataclass(frozen=True)
class Discovery:
    units: tuple[Unit, ...]
    releases: tuple[Release, ...]
    objects: tuple[tuple[str, dict[str, Any]], ...]  # (file, document) of every manifest read
    problems: tuple[tuple[str, str], ...] = field(default=())  # (file, message)


def load_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yamlio.loader().load_all(text) if isinstance(d, dict)]


def _group(doc: dict[str, Any]) -> str:
    return str(doc.get("apiVersion", "")).rpartition("/")[0]


def _rel(repo: Path, path: Path) -> str:
    return path.relative_to(repo).as_posix()


def _norm(path: str) -> str:
    """A repository-relative path from a spec.path such as ./infrastructure/controllers."""
    return PurePosixPath(path.strip("/").removeprefix("./") or ".").as_posix()


def kustomization_file(directory: Path) -> Path | None:
    return next((directory / n for n in KUSTOMIZATION_FILES if (directory / n).is_file()), None)


def _manifests(directory: Path, recurse: bool) -> list[Path]:
    found = directory.rglob("*") if recurse else directory.glob("*")
    return sorted(p for p in found if p.is_file() and p.suffix in MANIFEST_SUFFIXES and p.name not in KUSTOMIZATION_FILES)


def _kustomize_resources(directory: Path, namespace: str) -> list[tuple[Path, str]]:
    """(manifest file, effective namespace) of a kustomization's resources, recursively;
    an outer kustomization's namespace wins, as kustomize applies it last."""
    kfile = kustomization_file(directory)
    if kfile is None:
        return []
    spec = yamlio.loader().load(kfile.read_text(encoding="utf-8")) or {}
    ns = namespace or str(spec.get("namespace") or "")
    out: list[tuple[Path, str]] = []
    for entry in spec.get("resources") or []:
        target = (directory / str(entry)).resolve()
        if target.is_dir():
            out += _kustomize_resources(target, ns)
        elif target.is_file():
            out.append((target, ns))
    return out


def _unit(repo: Path, rel: str, *, recurse: bool) -> Unit | None:
    path = repo / rel
    if path.is_file():
        return Unit(rel, False, (rel,))
    if not path.is_dir():
        return None
    if kustomization_file(path):
        # Every file below may feed the build (resources, generators, patches).
        files = tuple(_rel(repo, p) for p in sorted(path.rglob("*")) if p.is_file())
        return Unit(rel, True, files)
    return Unit(rel, False, tuple(_rel(repo, p) for p in _manifests(path, recurse)))


def _unit_docs(repo: Path, unit: Unit) -> list[tuple[str, dict[str, Any], str]]:
    """(file, document, namespace the engine gives it when it names none) of a unit."""
    if unit.kustomize:
        pairs = _kustomize_resources(repo / unit.path, "")
    else:
        pairs = [(repo / f, "") for f in unit.files]
    out = []
    for path, ns in pairs:
        if path.resolve().is_relative_to(repo):  # kustomize itself reports resources outside the repository
            rel = _rel(repo, path.resolve())
            out += [(rel, doc, ns) for doc in load_docs(path.read_text(encoding="utf-8"))]
    return out


def _namespace(doc: dict[str, Any], override: str) -> str:
    return override or str((doc.get("metadata") or {}).get("namespace") or "default")


def discover(repo: Path, inv: Inventory) -> Discovery:
    repo = repo.resolve()
    flux = inv.gitops.engine == "flux"
    start = layout.flux_cluster_dir(inv) if flux else layout.ARGOCD_ROOT
    queue: list[tuple[str, bool, str]] = [(start, True, start)]  # (path, recurse, referenced from)
    seen: dict[str, Unit] = {}
    objects: list[tuple[str, dict[str, Any]]] = []
    problems: list[tuple[str, str]] = []
    pending: list[tuple[str, dict[str, Any], str, Unit]] = []  # releases, resolved once all sources are known
    helm_repos: dict[tuple[str, str], str] = {}
    while queue:
        rel, recurse, origin = queue.pop(0)
        if rel in seen:
            continue
        unit = _unit(repo, rel, recurse=recurse)
        if unit is None:
            problems.append((origin, f"{rel} does not exist in the repository"))
            continue
        seen[rel] = unit
        for file, doc, ns in _unit_docs(repo, unit):
            objects.append((file, doc))
            group, kind, spec = _group(doc), doc.get("kind"), doc.get("spec") or {}
            if group == FLUX_KUSTOMIZATION and kind == "Kustomization":
                if (spec.get("sourceRef") or {}).get("kind") == "GitRepository":
                    queue.append((_norm(str(spec.get("path", "."))), True, file))
            elif group == FLUX_SOURCE and kind == "HelmRepository":
                helm_repos[(_namespace(doc, ns), doc["metadata"]["name"])] = str(spec.get("url", ""))
            elif group == FLUX_HELM and kind == "HelmRelease":
                pending.append((file, doc, ns, unit))
            elif group == ARGO and kind == "Application":
                for source in _argo_sources(spec):
                    if "chart" in source:
                        pending.append((file, doc, ns, unit))
                    elif "path" in source and source.get("repoURL") == inv.gitops.repository:
                        recurse_dir = bool(((source.get("directory") or {}).get("recurse")))
                        queue.append((_norm(str(source["path"])), recurse_dir, file))
    releases = tuple(
        _flux_release(file, doc, ns, unit, helm_repos) if flux else _argo_release(file, doc, unit)
        for file, doc, ns, unit in pending
    )
    return Discovery(tuple(seen.values()), releases, tuple(objects), tuple(problems))


def _argo_sources(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("sources") or ([spec["source"]] if spec.get("source") else []))


def _flux_release(file: str, doc: dict[str, Any], ns: str, unit: Unit, helm_repos: dict[tuple[str, str], str]) -> Release:
    spec, name = doc.get("spec") or {}, doc["metadata"]["name"]
    namespace = _namespace(doc, ns)
    target = str(spec.get("targetNamespace") or "")
    release_name = str(spec.get("releaseName") or (f"{target}-{name}" if target else name))
    base = Release("flux", file, name, release_name, target or namespace, None, unit, doc)
    chart = (spec.get("chart") or {}).get("spec")
    if not chart:
        return _with_problem(base, "only spec.chart.spec (a HelmRepository chart) is supported, not spec.chartRef")
    source = chart.get("sourceRef") or {}
    if source.get("kind") != "HelmRepository":
        return _with_problem(base, f"chart source kind {source.get('kind')} is not supported (HelmRepository is)")
    url = helm_repos.get((str(source.get("namespace") or namespace), str(source.get("name"))))
    if url is None:
        return _with_problem(base, f"HelmRepository {source.get('name')} is not in the repository")
    if url.startswith("oci://"):
        return _with_problem(base, f"OCI Helm repository {url} is not supported (an HTTP(S) repository is)")
    return _with_chart(base, caches.ChartRef(url, str(chart["chart"]), str(chart.get("version", ""))))


def _argo_release(file: str, doc: dict[str, Any], unit: Unit) -> Release:
    spec, name = doc.get("spec") or {}, doc["metadata"]["name"]
    source = next(s for s in _argo_sources(spec) if "chart" in s)
    helm = source.get("helm") or {}
    namespace = str((spec.get("destination") or {}).get("namespace") or "default")
    base = Release("argocd", file, name, str(helm.get("releaseName") or name), namespace, None, unit, doc)
    return _with_chart(base, caches.ChartRef(str(source["repoURL"]), str(source["chart"]), str(source.get("targetRevision", ""))))


def _with_problem(release: Release, problem: str) -> Release:
    return Release(**{**release.__dict__, "problem": problem})


def _with_chart(release: Release, chart: caches.ChartRef) -> Release:
    return Release(**{**release.__dict__, "chart": chart})


def custom_kinds(discovery: Discovery, core_schemas: Path) -> set[tuple[str, str]]:
    """(apiVersion, kind) of every object in the repository that Kubernetes itself does not define."""
    return {
        (str(doc["apiVersion"]), str(doc["kind"]))
        for _, doc in discovery.objects
        if doc.get("apiVersion") and doc.get("kind") and not caches.has_core_schema(core_schemas, str(doc["apiVersion"]), str(doc["kind"]))
    }
