"""kubeconform over everything the GitOps engine applies: each Flux Kustomization's
or Argo CD Application's directory (built with kustomize when it is a kustomization),
the entry point itself, and (through the helm check) every chart's rendered output.

Schemas, first match wins: the cluster minor's core schemas (kubernetes-validate),
the CRD catalog cache, then schemas converted from CRDs the repository or its
charts ship. A kind without a schema fails: nothing goes unvalidated silently.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import tools
from ...errors import ToolFailed
from .. import caches, crd2schema, gitops
from ..base import Context, Job, Result

CHECK = "kubeconform"
# apiVersion/Kind -> why no schema can exist for it. Listed kinds pass as
# "unvalidated" instead of failing; empty because every kind we render has a schema.
UNVALIDATED: dict[str, str] = {}
MISSING_SCHEMA = "could not find schema for"


@dataclass(frozen=True)
class Schemas:
    kubernetes_version: str
    core: Path  # kubernetes-validate's strict schemas of the cluster's minor
    catalog: Path  # the CRD catalog cache
    converted: tuple[Path, ...]  # schemas converted from CRDs, in catalog layout
    digest: str  # what the schemas beyond the pinned core ones hash to (a cache key part)

    def locations(self) -> list[str]:
        layout = "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json"
        # The core folder is already the minor's strict one; kubeconform adds KindSuffix
        # (-<group>-<version>, or -<version> for the core group) as the package names files.
        return [
            f"{self.core}/{{{{.ResourceKind}}}}{{{{.KindSuffix}}}}.json",
            f"{self.catalog}/{layout}",
            *(f"{d}/{layout}" for d in self.converted),
        ]

    def with_converted(self, directory: Path) -> Schemas:
        return Schemas(self.kubernetes_version, self.core, self.catalog, (*self.converted, directory), self.digest)


def prepare(ctx: Context, discovery: gitops.Discovery) -> Schemas:
    """The schema folders for this repository: CRDs found in it or in its cached charts'
    crds/ are converted once into a folder named by their content hash."""
    version = ctx.inventory.kubernetes.version
    core = caches.kubernetes_schemas(ctx.cache_dir, version)
    catalog = caches.crd_catalog(ctx.cache_dir)
    crds = [doc for _, doc in discovery.objects if crd2schema.is_crd(doc)] + chart_crds(ctx.cache_dir, discovery)
    converted = (caches.converted_schemas(ctx.cache_dir, crds),) if crds else ()
    digest = hashlib.sha256("\n".join([caches.tree_stamp(catalog), *(d.name for d in converted)]).encode()).hexdigest()
    return Schemas(version, core, catalog, converted, digest)


def chart_crds(cache: Path, discovery: gitops.Discovery) -> list[dict[str, Any]]:
    out = []
    for release in discovery.releases:
        if release.chart is not None:
            archive = caches.chart_archive(cache, release.chart.chart, release.chart.version)
            if archive.is_file():
                out += caches.read_chart(archive).crds
    return out


def tool_version(name: str) -> str:
    """A tool's identity as a cache key part: its path and stamp. Stronger than its version
    string (the pinned Go builds print "development" or "v3.22" themselves) and a stat
    instead of two subprocesses on every run."""
    path = tools.find_tool(name)
    # A missing tool fails its jobs when they run (never cached), not the whole plan.
    return f"{name} {path} {caches.stamp(path)}" if path else f"{name} missing"


def _error_lines(msg: str) -> list[str]:
    """kubeconform's one-line jsonschema message as one line per failing location."""
    if "jsonschema validation failed" not in msg:
        return [msg]
    parts = [p.strip() for p in msg.split(" - at ")[1:]]
    leaves = [p for p in parts if not p.endswith(": validation failed")]
    return [f"at {p}" for p in sorted(leaves or parts)]  # kubeconform's order varies from run to run


def _describe(resource: dict[str, Any]) -> str:
    return f"{resource.get('version', '')}/{resource.get('kind', '?')} {resource.get('name', '')}".strip()


def validate(manifests: dict[str, str], schemas: Schemas, *, check: str = CHECK) -> list[Result]:
    """Run kubeconform once over {repository-relative path: YAML stream}; one Result per path."""
    if not manifests:
        return []
    failed, names = _report(manifests, schemas)
    return _results(failed, names, check)


def _report(manifests: dict[str, str], schemas: Schemas) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """kubeconform's report on the manifests: the objects it failed, and the repository path
    that each file it names stands for."""
    kubeconform = tools.require("kubeconform")
    with tempfile.TemporaryDirectory(prefix="clusterforge-kubeconform-") as tmp:
        names: dict[str, str] = {}
        for i, (label, text) in enumerate(sorted(manifests.items())):
            path = Path(tmp) / f"{i}.yaml"
            path.write_text(text, encoding="utf-8")
            names[str(path)] = label
        argv = [kubeconform, "-strict", "-summary", "-output", "json", "-kubernetes-version", schemas.kubernetes_version]
        for location in schemas.locations():
            argv += ["-schema-location", location]
        done = tools.run([*argv, *names], ok_codes=(0, 1))
    return _json_report(done).get("resources") or [], names


def _results(failed: list[dict[str, Any]], names: dict[str, str], check: str) -> list[Result]:
    """One Result per path of `names`, from the objects kubeconform failed: without -verbose its
    report lists only those (statusInvalid, statusError), never a valid, skipped or empty one."""
    problems: dict[str, list[str]] = {label: [] for label in names.values()}
    unvalidated: dict[str, list[str]] = {label: [] for label in names.values()}
    for resource in failed:
        label = names[resource["filename"]]  # one of the files it was given: it names no other
        msg = str(resource.get("msg", ""))
        gvk = f"{resource.get('version', '')}/{resource.get('kind', '')}"
        if msg.startswith(MISSING_SCHEMA) and gvk in UNVALIDATED:
            unvalidated[label].append(f"unvalidated: no schema for {resource.get('kind')} ({UNVALIDATED[gvk]})")
            continue
        lines = _error_lines(msg)
        problems[label].append(f"{_describe(resource)}: " + "\n  ".join(lines))
    results = []
    for label in sorted(problems):
        if problems[label]:
            hint = _hint(problems[label])
            # Sorted: kubeconform validates a file's objects in parallel and reports them in any order.
            results.append(Result(check, label, False, "\n".join(sorted(problems[label])), hint))
        else:
            results.append(Result(check, label, True))
        results += [Result(check, label, True, note) for note in unvalidated[label]]
    return results


def _json_report(done: tools.Completed) -> dict[str, Any]:
    """kubeconform's JSON report; exit 1 without one (a flag it refuses, such as a version
    it cannot read) means it judged nothing: ToolFailed, in its own words."""
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    if not isinstance(report, dict):
        raise ToolFailed(done.argv, done.returncode, done.stdout, done.stderr)
    return report


def _hint(problems: Iterable[str]) -> str:
    if any(MISSING_SCHEMA in p for p in problems):
        return "a kind without a schema: run `clusterforge schemas pull` (CRD catalog) or add its CRD to the repository"
    return ""


def build(ctx: Context, unit: gitops.Unit) -> dict[str, str]:
    """What the engine applies from a unit: `kustomize build`, or the plain files one by one
    (a file that is not UTF-8 is left out: discovery reports it, as a problem job)."""
    if unit.kustomize:
        kustomize = tools.require("kustomize")
        return {unit.path: tools.run([kustomize, "build", unit.path], cwd=ctx.repo).stdout}
    out = {}
    for file in unit.files:
        try:
            out[file] = gitops.read_manifest(ctx.repo / file, file)
        except gitops.ManifestError:
            continue
    return out


def _unit_job(ctx: Context, unit: gitops.Unit, schemas: Schemas, versions: str) -> Job:
    def run() -> list[Result]:
        try:
            manifests = build(ctx, unit)
        except ToolFailed as e:
            return [Result("kustomize build", unit.path, False, (e.stderr or e.stdout).strip() or str(e))]
        return validate(manifests, schemas)

    return Job(CHECK, unit.files, run, versions, f"k8s {schemas.kubernetes_version}; schemas {schemas.digest}; {unit.path}")


def _problem_job(file: str, message: str) -> Job:
    def run() -> list[Result]:
        return [Result(CHECK, file, False, message, "fix the file, or the path that points at it")]

    return Job(CHECK, (file,), run, "", message)


def jobs(ctx: Context) -> list[Job]:
    discovery = ctx.discovery
    schemas = prepare(ctx, discovery)
    versions = f"{tool_version('kubeconform')}; {tool_version('kustomize')}"
    return [
        *(_unit_job(ctx, unit, schemas, versions) for unit in discovery.units),
        *(_problem_job(file, message) for file, message in discovery.problems),
    ]
