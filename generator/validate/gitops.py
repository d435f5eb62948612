"""What a GitOps engine would apply from the repository, found by reading its
YAML (no tool runs here): the directories (units) Flux Kustomizations and Argo CD
Applications point at, and the Helm releases with their charts.

Flux starts at clusters/<name>/, Argo CD at the root Application; from there every
Kustomization / Application that points back into this repository is followed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from .. import yamlio
from ..errors import ClusterforgeError
from ..model import Inventory
from ..render import layout
from . import caches

T = TypeVar("T")
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


class ManifestError(ClusterforgeError):
    """A manifest that is not UTF-8 YAML: a finding about that file, never a crash."""

    def __init__(self, file: str, message: str, line: int = 0):
        self.file = file
        super().__init__(f"{file}:{line}: {message}" if line else f"{file}: {message}")


def _parsed(label: str, parse: Callable[[], T]) -> T:
    try:
        return parse()
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ManifestError(label, f"not valid YAML: {e.problem or e.context}", mark.line + 1 if mark else 0) from None
    except YAMLError as e:
        raise ManifestError(label, f"not valid YAML: {e}") from None
    except RecursionError:
        raise ManifestError(label, "not valid YAML: nested deeper than the parser can follow") from None


def parse(text: str, label: str) -> Any:
    """The one document of a YAML file, line-keeping; ManifestError naming `label` (and the
    line) when it is not YAML. Every YAML file of the repository is read through here or
    parse_all: it is hostile input, and a finding about it is never a crash."""
    return _parsed(label, lambda: yamlio.loader().load(text))


def parse_all(text: str, label: str, yaml: YAML | None = None) -> list[Any]:
    """Every document of a YAML stream, as parse() does for one (with `yaml`'s settings when given)."""
    return _parsed(label, lambda: list((yaml or yamlio.loader()).load_all(text)))


def load_docs(text: str, label: str = "the manifests") -> list[dict[str, Any]]:
    """The mapping documents of a YAML stream."""
    return [d for d in parse_all(text, label) if isinstance(d, dict)]


def read_manifest(path: Path, label: str) -> str:
    """A file's text; ManifestError naming `label` if it cannot be read or is not UTF-8."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ManifestError(label, f"not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise ManifestError(label, f"cannot be read: {e.strerror}") from None


def mapping(value: Any) -> dict[str, Any]:
    """A field that must be a mapping, or {} in a hand-broken file (kubeconform reports that)."""
    return value if isinstance(value, dict) else {}


def _name(doc: dict[str, Any]) -> str:
    return str(mapping(doc.get("metadata")).get("name", ""))


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


def _kustomize_resources(repo: Path, directory: Path, namespace: str, outer: frozenset[Path] = frozenset()) -> list[tuple[Path, str]]:
    """(manifest file, effective namespace) of a kustomization's resources, recursively;
    an outer kustomization's namespace wins, as kustomize applies it last."""
    kfile = kustomization_file(directory)
    if kfile is None or directory in outer:  # a cycle: kustomize reports it
        return []
    label = _rel(repo, kfile)
    spec = mapping(next(iter(load_docs(read_manifest(kfile, label), label)), {}))
    ns = namespace or str(spec.get("namespace") or "")
    out: list[tuple[Path, str]] = []
    resources = spec.get("resources")
    for entry in resources if isinstance(resources, list) else []:
        target = (directory / str(entry)).resolve()
        if not target.is_relative_to(repo):
            continue  # kustomize itself refuses what lies outside the repository
        if target.is_dir():
            out += _kustomize_resources(repo, target, ns, outer | {directory})
        elif target.is_file():
            out.append((target, ns))
    return out


def _unit(repo: Path, rel: str, *, recurse: bool) -> Unit | None:
    path = repo / rel
    if path.is_file():
        return Unit(rel, False, (rel,))
    if not path.is_dir() or not any(p.is_file() for p in path.rglob("*")):
        return None  # git keeps no folder without files: the engine's checkout has none
    if kustomization_file(path):
        # Every file below may feed the build (resources, generators, patches).
        files = tuple(_rel(repo, p) for p in sorted(path.rglob("*")) if p.is_file())
        return Unit(rel, True, files)
    return Unit(rel, False, tuple(_rel(repo, p) for p in _manifests(path, recurse)))


def _unit_docs(repo: Path, unit: Unit, problems: list[tuple[str, str]]) -> list[tuple[str, dict[str, Any], str]]:
    """(file, document, namespace the engine gives it when it names none) of a unit;
    a file that cannot be read is a problem, and the rest of the unit is still read."""
    try:
        pairs = _kustomize_resources(repo, repo / unit.path, "") if unit.kustomize else [(repo / f, "") for f in unit.files]
    except ManifestError as e:
        problems.append((e.file, str(e)))
        return []
    out = []
    for path, ns in pairs:
        if path.resolve().is_relative_to(repo):  # kustomize itself reports resources outside the repository
            rel = _rel(repo, path.resolve())
            try:
                out += [(rel, doc, ns) for doc in load_docs(read_manifest(path, rel), rel)]
            except ManifestError as e:
                problems.append((e.file, str(e)))
    return out


def _namespace(doc: dict[str, Any], override: str) -> str:
    return override or str(mapping(doc.get("metadata")).get("namespace") or "default")


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
        if not (repo / rel).resolve().is_relative_to(repo):
            problems.append((origin, f"{rel} is outside the repository"))
            continue
        unit = _unit(repo, rel, recurse=recurse)
        if unit is None:
            problems.append((origin, f"{rel} does not exist in the repository"))
            continue
        seen[rel] = unit
        for file, doc, ns in _unit_docs(repo, unit, problems):
            objects.append((file, doc))
            group, kind, spec = _group(doc), doc.get("kind"), mapping(doc.get("spec"))
            if group == FLUX_KUSTOMIZATION and kind == "Kustomization":
                if mapping(spec.get("sourceRef")).get("kind") == "GitRepository":
                    queue.append((_norm(str(spec.get("path", "."))), True, file))
            elif group == FLUX_SOURCE and kind == "HelmRepository":
                helm_repos[(_namespace(doc, ns), _name(doc))] = str(spec.get("url", ""))
            elif group == FLUX_HELM and kind == "HelmRelease" and flux:
                pending.append((file, doc, ns, unit))
            elif group == ARGO and kind == "Application":
                sources = argo_sources(spec)
                if any("chart" in source for source in sources) and not flux:
                    pending.append((file, doc, ns, unit))
                for source in sources:
                    if "chart" not in source and "path" in source and source.get("repoURL") == inv.gitops.repository:
                        recurse_dir = bool(mapping(source.get("directory")).get("recurse"))
                        queue.append((_norm(str(source["path"])), recurse_dir, file))
    releases = tuple(
        _flux_release(file, doc, ns, unit, helm_repos) if flux else _argo_release(file, doc, unit)
        for file, doc, ns, unit in pending
    )
    return Discovery(tuple(seen.values()), releases, tuple(objects), tuple(problems))


def argo_sources(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """An Application's sources (`sources`, else `source`) that are mappings."""
    sources = spec.get("sources")
    return [s for s in (sources if isinstance(sources, list) and sources else [spec.get("source")]) if isinstance(s, dict)]


def _flux_release(file: str, doc: dict[str, Any], ns: str, unit: Unit, helm_repos: dict[tuple[str, str], str]) -> Release:
    spec, name = mapping(doc.get("spec")), _name(doc)
    namespace = _namespace(doc, ns)
    target = str(spec.get("targetNamespace") or "")
    release_name = str(spec.get("releaseName") or (f"{target}-{name}" if target else name))
    base = Release("flux", file, name, release_name, target or namespace, None, unit, doc)
    chart = mapping(mapping(spec.get("chart")).get("spec"))
    if not chart.get("chart"):
        return _with_problem(base, "only spec.chart.spec (a HelmRepository chart) is supported, not spec.chartRef")
    source = mapping(chart.get("sourceRef"))
    if source.get("kind") != "HelmRepository":
        return _with_problem(base, f"chart source kind {source.get('kind')} is not supported (HelmRepository is)")
    url = helm_repos.get((str(source.get("namespace") or namespace), str(source.get("name"))))
    if url is None:
        return _with_problem(base, f"HelmRepository {source.get('name')} is not in the repository")
    if url.startswith("oci://"):
        return _with_problem(base, f"OCI Helm repository {url} is not supported (an HTTP(S) repository is)")
    return _with_chart(base, caches.ChartRef(url, str(chart["chart"]), str(chart.get("version", ""))))


def _argo_release(file: str, doc: dict[str, Any], unit: Unit) -> Release:
    spec, name = mapping(doc.get("spec")), _name(doc)
    source = next(s for s in argo_sources(spec) if "chart" in s)
    helm = mapping(source.get("helm"))
    namespace = str(mapping(spec.get("destination")).get("namespace") or "default")
    base = Release("argocd", file, name, str(helm.get("releaseName") or name), namespace, None, unit, doc)
    return _with_chart(base, caches.ChartRef(str(source.get("repoURL", "")), str(source["chart"]), str(source.get("targetRevision", ""))))


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
