"""`helm template` of every Helm release, with the values exactly as the engine
passes them (Flux: the kustomize-generated ConfigMap behind valuesFrom, then
spec.values; Argo CD: valueFiles, values, valuesObject, parameters), from the
cached chart archive. Its output then goes through kubeconform, and every key
path of the values must exist in the chart: a key the chart does not know
(e.g. Cilium 1.12's `bgp.announce` on a 1.19 chart) is silently ignored by Helm,
so it is an error here.

Helm runs through tools.helm (the `sh` package, as the design asks), whose
failures arrive as ToolFailed like every other tool's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from ... import tools
from ...errors import ClusterforgeError, ToolFailed
from .. import caches, crd2schema, gitops
from ..base import Context, Job, Result
from . import kubeconform

CHECK = "helm template"
VALUES_CHECK = "helm values"
# Maps whose keys are the user's data by Kubernetes convention, even where the chart's
# default is not empty (Cilium's `nodeSelector: {kubernetes.io/os: linux}`).
USER_DATA_MAPS = re.compile(r"(?i)(annotations|labels|nodeselector)$")

Values = dict[str, Any]


# --- values as the engine builds them ------------------------------------------------------


def merge(base: Values, override: Values) -> Values:
    """Helm's coalescing of two values maps: maps merge key by key, anything else replaces."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def _set_path(values: Values, dotted: str, value: Any) -> Values:
    """`--set a.b.c=value`: a value at a dotted path (without Helm's escapes or list indices)."""
    head, *rest = dotted.split(".")
    if not rest:
        return merge(values, {head: value})
    inner = values.get(head) if isinstance(values.get(head), dict) else {}
    return merge(values, {head: _set_path(inner, ".".join(rest), value)})


def _yaml(text: str, where: str) -> Any:
    return gitops.parse(text, where)  # ManifestError is a ClusterforgeError: the values check fails


def _yaml_map(text: str, where: str) -> Values:
    data = _yaml(text, where)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ClusterforgeError(f"{where} is not a YAML map")
    return data


def _flux_source_value(doc: dict[str, Any], key: str) -> str | None:
    if doc.get("kind") == "Secret":
        if key in gitops.mapping(doc.get("stringData")):
            return str(doc["stringData"][key])
        data = gitops.mapping(doc.get("data")).get(key)
        return base64.b64decode(str(data)).decode() if data is not None else None
    value = gitops.mapping(doc.get("data")).get(key)
    return None if value is None else str(value)


def flux_values(ctx: Context, release: gitops.Release) -> Values:
    built = kubeconform.build(ctx, release.unit)
    docs = [d for text in built.values() for d in gitops.load_docs(text)]
    hr = next((d for d in docs if d.get("kind") == "HelmRelease" and _name(d) == release.name), None)
    if hr is None:
        raise ClusterforgeError(f"HelmRelease {release.name} is not in the build of {release.unit.path}")
    spec = gitops.mapping(hr.get("spec"))
    values: Values = {}
    for ref in map(gitops.mapping, _list(spec.get("valuesFrom"))):
        kind, name, key = ref["kind"], ref["name"], ref.get("valuesKey", "values.yaml")
        source = next((d for d in docs if d.get("kind") == kind and _name(d) == name), None)
        text = None if source is None else _flux_source_value(source, key)
        if text is None:
            if ref.get("optional"):
                continue
            raise ClusterforgeError(f"valuesFrom {kind}/{name} key {key} is not in the build of {release.unit.path}")
        if ref.get("targetPath"):
            values = _set_path(values, str(ref["targetPath"]), _yaml(text, f"{kind}/{name} {key}"))
        else:
            values = merge(values, _yaml_map(text, f"{kind}/{name} {key}"))
    return merge(values, gitops.mapping(spec.get("values")))


def _name(doc: dict[str, Any]) -> str:
    return str(gitops.mapping(doc.get("metadata")).get("name", ""))


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _argo_chart_source(release: gitops.Release) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    sources = gitops.argo_sources(gitops.mapping(release.doc.get("spec")))
    chart = next(s for s in sources if "chart" in s)  # discovery made a release of it for this one
    return chart, {str(s["ref"]): s for s in sources if s.get("ref")}


def _value_files(helm: dict[str, Any]) -> list[str]:
    files = helm.get("valueFiles")
    return [str(f) for f in files] if isinstance(files, list) else []


def argo_value_files(release: gitops.Release) -> list[str]:
    """Repository-relative paths of the `$ref/...` valueFiles (the rest live in the chart)."""
    chart, _ = _argo_chart_source(release)
    return [f.partition("/")[2] for f in _value_files(gitops.mapping(chart.get("helm"))) if f.startswith("$")]


def argo_values(ctx: Context, release: gitops.Release, chart_files: caches.ChartFiles) -> Values:
    source, refs = _argo_chart_source(release)
    helm = gitops.mapping(source.get("helm"))
    values: Values = {}
    for value_file in _value_files(helm):
        if value_file.startswith("$"):
            ref, _, rel = value_file[1:].partition("/")
            if ref not in refs:
                raise ClusterforgeError(f"valueFiles {value_file}: no source has ref {ref}")
            if refs[ref].get("repoURL") != ctx.inventory.gitops.repository:
                raise ClusterforgeError(f"valueFiles {value_file}: source {ref} is not this repository")
            path = ctx.repo / rel
            if not path.is_file():
                raise ClusterforgeError(f"valueFiles {value_file}: {rel} does not exist")
            text = gitops.read_manifest(path, rel)
        elif value_file in chart_files.files:
            text = chart_files.files[value_file]
        else:
            raise ClusterforgeError(f"valueFiles {value_file} is not in the chart")
        values = merge(values, _yaml_map(text, value_file))
    if helm.get("values"):
        values = merge(values, _yaml_map(str(helm["values"]), "helm.values"))
    values = merge(values, gitops.mapping(helm.get("valuesObject")))  # valuesObject wins over values
    for parameter in map(gitops.mapping, _list(helm.get("parameters"))):
        if "name" in parameter:  # kubeconform reports one without
            values = _set_path(values, str(parameter["name"]), parameter.get("value"))
    return values


# --- unknown keys ----------------------------------------------------------------------------


def _open(name: str, default: Any, schema: dict[str, Any]) -> bool:
    """Whether a map takes keys the chart does not list: an empty (or null) default with no
    declared properties, or a user-data map such as labels."""
    if USER_DATA_MAPS.search(name):
        return True
    if default is None or default == {}:
        return not schema.get("properties")
    return not isinstance(default, dict)  # a type mismatch is the schema's business, not ours


def _leaves(values: Values, prefix: str) -> list[str]:
    out = []
    for key, value in values.items():
        path = f"{prefix}.{key}"
        out += _leaves(value, path) if isinstance(value, dict) and value else [path]
    return out


def unknown_keys(values: Values, defaults: Values, schema: dict[str, Any], prefix: str = "", open_keys: frozenset[str] = frozenset()) -> list[str]:
    """Key paths of values the chart knows neither from values.yaml nor values.schema.json,
    down to the leaves (so `bgp.enabled`, `bgp.announce.loadbalancerIP`, not just `bgp`)."""
    unknown = []
    properties = schema.get("properties") or {}
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key in open_keys:
            continue
        if key not in defaults and key not in properties:
            unknown += _leaves(value, path) if isinstance(value, dict) and value else [path]
            continue
        default, sub_schema = defaults.get(key), properties.get(key) or {}
        if isinstance(value, dict) and not _open(str(key), default, sub_schema):
            unknown += unknown_keys(value, default if isinstance(default, dict) else {}, sub_schema, path)
    return unknown


def _subcharts(chart: caches.ChartFiles) -> frozenset[str]:
    """Top-level keys that belong to dependencies (their values are theirs to check)."""
    deps = chart.metadata.get("dependencies") or []
    return frozenset({"global"} | {str(d.get("alias") or d.get("name")) for d in deps})


# --- the check ---------------------------------------------------------------------------------


def api_versions(discovery: gitops.Discovery, schemas: kubeconform.Schemas) -> list[str]:
    """What the repository adds to the API: the CRDs it ships, and every custom kind it uses
    (those CRDs come with its controllers, e.g. Cilium's operator registers cilium.io/v2)."""
    out = crd2schema.api_versions(doc for _, doc in discovery.objects if crd2schema.is_crd(doc))
    for api_version, kind in gitops.custom_kinds(discovery, schemas.core):
        out |= {api_version, f"{api_version}/{kind}"}
    return sorted(out)


def _rendered_crds(output: str) -> list[dict[str, Any]]:
    if "CustomResourceDefinition" not in output:  # parsing the whole output is the slow part
        return []
    return [d for d in gitops.load_docs(output) if crd2schema.is_crd(d)]


def template(ctx: Context, release: gitops.Release, archive: Path, values: Values, api: list[str]) -> str:
    with tempfile.TemporaryDirectory(prefix="clusterforge-helm-") as tmp:
        values_file = Path(tmp) / "values.json"  # JSON is YAML: no YAML 1.1 surprises in what helm reads
        values_file.write_text(json.dumps(values, default=str), encoding="utf-8")
        args = ["template", release.release_name, str(archive), "--namespace", release.namespace]
        args += ["--kube-version", ctx.inventory.kubernetes.version, "--include-crds", "-f", str(values_file)]
        for api_version in api:
            args += ["--api-versions", api_version]
        # No working directory of its own: a relative cache folder is relative to ours, as everywhere.
        return tools.helm(*args)


def check_release(ctx: Context, release: gitops.Release, schemas: kubeconform.Schemas, api: list[str]) -> list[Result]:
    if release.chart is None:
        return [Result(CHECK, release.file, False, release.problem)]
    ref = release.chart
    archive = caches.chart_archive(ctx.cache_dir, ref.chart, ref.version)
    if not archive.is_file():
        hint = f"clusterforge charts pull -C {ctx.repo}"
        return [Result(CHECK, release.file, False, f"chart {ref.chart} {ref.version} from {ref.repository} is not in the cache", hint)]
    chart = caches.read_chart(archive)
    try:
        values = flux_values(ctx, release) if release.engine == "flux" else argo_values(ctx, release, chart)
    except (ClusterforgeError, KeyError, ValueError) as e:  # ValueError: a Secret's data is not base64 of UTF-8
        return [Result(VALUES_CHECK, release.file, False, f"values of {release.name}: {e}")]
    results = []
    unknown = unknown_keys(values, chart.values, chart.schema, open_keys=_subcharts(chart))
    if unknown:
        message = f"{ref.chart} {ref.version} has no values " + ", ".join(unknown) + " (Helm would ignore them silently)"
        results.append(Result(VALUES_CHECK, release.file, False, message, "remove them or use the chart's current keys (its values.yaml)"))
    else:
        results.append(Result(VALUES_CHECK, release.file, True))
    try:
        output = template(ctx, release, archive, values, api)
    except ToolFailed as e:
        return [*results, Result(CHECK, release.file, False, (e.stderr or e.stdout).strip() or str(e))]
    results.append(Result(CHECK, release.file, True))
    crds = _rendered_crds(output)
    with_crds = schemas.with_converted(caches.converted_schemas(ctx.cache_dir, crds)) if crds else schemas
    return results + kubeconform.validate({release.file: output}, with_crds)


def _inputs(release: gitops.Release) -> tuple[str, ...]:
    extra = argo_value_files(release) if release.engine == "argocd" else []
    return tuple(sorted({release.file, *release.unit.files, *extra}))


def jobs(ctx: Context) -> list[Job]:
    discovery = ctx.discovery
    if not discovery.releases:
        return []
    schemas = kubeconform.prepare(ctx, discovery)
    api = api_versions(discovery, schemas)
    versions = f"{kubeconform.tool_version('helm')}; {kubeconform.tool_version('kubeconform')}; {kubeconform.tool_version('kustomize')}"
    out = []
    for release in discovery.releases:
        archive = caches.chart_archive(ctx.cache_dir, release.chart.chart, release.chart.version) if release.chart else None
        chart_key = caches.file_digest(archive) if archive and archive.is_file() else "no chart"
        key = hashlib.sha256(json.dumps([ctx.inventory.kubernetes.version, chart_key, schemas.digest, api, release.name]).encode()).hexdigest()

        def run(release: gitops.Release = release) -> list[Result]:
            return check_release(ctx, release, schemas, api)

        out.append(Job("helm", _inputs(release), run, versions, key))
    return out
