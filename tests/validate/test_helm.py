from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from generator import repo as repository
from generator.errors import ClusterforgeError
from generator.validate import caches, gitops
from generator.validate.base import Context, Result
from generator.validate.checks import helm, kubeconform
from support import edit

from . import CHARTS, example_repo, fill_cache

CILIUM_1_12_BGP = "bgp:\n  enabled: true\n  announce:\n    loadbalancerIP: true\n"
RELEASE_FILE = "infrastructure/controllers/cilium/helmrelease.yaml"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv(caches.CACHE_ENV, str(path))
    return fill_cache(path)


def _run(repo: Path, cache: Path) -> list[Result]:
    ctx = Context(repo, repository.load(repo).inventory, cache)
    return [r for job in helm.jobs(ctx) for r in job.run()]


def _by_check(results: list[Result]) -> dict[str, Result]:
    return {r.check: r for r in results}


# --- unknown keys ----------------------------------------------------------------------


def test_unknown_keys_are_named_down_to_their_leaves() -> None:
    chart = caches.read_chart(CHARTS / "cilium-1.19.6.tgz")
    values = {"bgp": {"enabled": True, "announce": {"loadbalancerIP": True}}, "bgpControlPlane": {"enabled": True, "enabeld": 1}}
    assert helm.unknown_keys(values, chart.values, chart.schema) == ["bgp.enabled", "bgp.announce.loadbalancerIP", "bgpControlPlane.enabeld"]


def test_open_maps_take_any_key() -> None:
    chart = caches.read_chart(CHARTS / "cilium-1.19.6.tgz")
    assert chart.values["podAnnotations"] == {} and chart.values["nodeSelector"] != {}
    values = {
        "podAnnotations": {"example.com/anything": "x"},  # default {}
        "nodeSelector": {"node-role.kubernetes.io/worker": ""},  # labels, though the default is not empty
        "extraEnv": [{"name": "A", "value": "b"}],  # lists are not key paths
        "operator": {"podLabels": {"team": "net"}},
    }
    assert helm.unknown_keys(values, chart.values, chart.schema) == []


def test_the_1_12_chart_still_knew_bgp() -> None:
    chart = caches.read_chart(CHARTS / "cilium-1.12.5.tgz")
    values = {"bgp": {"enabled": True, "announce": {"loadbalancerIP": True}}}
    assert helm.unknown_keys(values, chart.values, chart.schema) == []


def test_values_merge_like_helm() -> None:
    assert helm.merge({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": 3}, "l": [2]}) == {"a": {"b": 3, "c": 2}, "l": [2]}


# --- helm template for real ------------------------------------------------------------


@pytest.mark.tools
def test_reference_values_pass_helm_template_and_kubeconform(need_tool, cache: Path, tmp_path: Path) -> None:
    for tool in ("helm", "kustomize", "kubeconform"):
        need_tool(tool)
    results = _run(example_repo(tmp_path / "repo"), cache)
    assert {(r.check, r.file, r.ok) for r in results} == {
        ("helm values", RELEASE_FILE, True),
        ("helm template", RELEASE_FILE, True),
        ("kubeconform", RELEASE_FILE, True),
    }, results


@pytest.mark.tools
def test_cilium_1_12_bgp_values_fail_against_the_1_19_chart(need_tool, cache: Path, tmp_path: Path) -> None:
    for tool in ("helm", "kustomize", "kubeconform"):
        need_tool(tool)
    repo = example_repo(tmp_path / "repo")
    values = repo / "infrastructure/controllers/cilium/values.yaml"
    values.write_text(values.read_text() + CILIUM_1_12_BGP)
    results = _by_check(_run(repo, cache))
    failed = results["helm values"]
    assert not failed.ok
    assert "bgp.enabled" in failed.message and "bgp.announce.loadbalancerIP" in failed.message
    assert "cilium 1.19.6" in failed.message
    assert results["helm template"].ok  # Helm itself says nothing: that is why this check exists


@pytest.mark.tools
def test_argocd_values_files_resolve_to_the_repository(need_tool, cache: Path, tmp_path: Path) -> None:
    for tool in ("helm", "kustomize", "kubeconform"):
        need_tool(tool)
    repo = example_repo(tmp_path / "repo", engine="argocd")
    assert {(r.check, r.ok) for r in _run(repo, cache)} == {("helm values", True), ("helm template", True), ("kubeconform", True)}
    values = repo / "infrastructure/controllers/cilium/values.yaml"
    values.write_text(values.read_text() + CILIUM_1_12_BGP)
    failed = _by_check(_run(repo, cache))["helm values"]
    assert failed.file == "argocd/apps/cilium.yaml" and "bgp.enabled" in failed.message


@pytest.mark.tools
def test_helm_template_errors_are_reported(need_tool, cache: Path, tmp_path: Path) -> None:
    for tool in ("helm", "kustomize", "kubeconform"):
        need_tool(tool)
    repo = example_repo(tmp_path / "repo")
    values = repo / "infrastructure/controllers/cilium/values.yaml"
    values.write_text(values.read_text().replace("routingMode: tunnel", "routingMode: 42"))
    failed = _by_check(_run(repo, cache))["helm template"]
    assert not failed.ok and "routingMode" in failed.message  # the chart's values.schema.json


def test_a_missing_chart_says_how_to_pull_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "empty-cache"
    monkeypatch.setenv(caches.CACHE_ENV, str(cache))
    repo = example_repo(tmp_path / "repo", replace=("version: 1.19.6", "version: 1.20.0"))  # the package holds only the default's chart
    discovery = gitops.discover(repo, repository.load(repo).inventory)
    ctx = Context(repo, repository.load(repo).inventory, cache)
    [release] = discovery.releases
    [result] = helm.check_release(ctx, release, kubeconform.prepare(ctx, discovery), [])
    assert not result.ok and "not in the cache" in result.message
    assert result.hint == f"clusterforge charts pull -C {repo}"


def test_api_versions_name_the_custom_kinds_the_repository_uses(cache: Path, tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    ctx = Context(repo, repository.load(repo).inventory, cache)
    discovery = gitops.discover(repo, ctx.inventory)
    api = helm.api_versions(discovery, kubeconform.prepare(ctx, discovery))
    assert "cilium.io/v2" in api and "cilium.io/v2/CiliumBGPClusterConfig" in api
    assert "helm.toolkit.fluxcd.io/v2/HelmRelease" in api
    assert not any(v.startswith("v1") for v in api)  # ConfigMap is Kubernetes' own


# --- values as the engine builds them, unknown keys, results whole -----------------------------


def test_set_path_nests_and_replaces_like_helm_set() -> None:
    assert helm._set_path({}, "a.b.c", 1) == {"a": {"b": {"c": 1}}}
    assert helm._set_path({"a": {"b": {"d": 2}, "e": 3}}, "a.b.c", 1) == {"a": {"b": {"d": 2, "c": 1}, "e": 3}}
    assert helm._set_path({"a": "scalar"}, "a.b", 1) == {"a": {"b": 1}}
    assert helm._set_path({"a": {"x": 1}}, "a", {"y": 2}) == {"a": {"x": 1, "y": 2}}
    assert helm._set_path({"a": {"x": 1}}, "a", 5) == {"a": 5}


def test_merge_leaves_its_inputs_alone() -> None:
    base, override = {"a": {"b": 1}}, {"a": {"c": 2}, "d": None}
    assert helm.merge(base, override) == {"a": {"b": 1, "c": 2}, "d": None}
    assert base == {"a": {"b": 1}} and override == {"a": {"c": 2}, "d": None}
    assert helm.merge({"a": 1}, {"a": {"b": 2}}) == {"a": {"b": 2}}


def test_open_maps() -> None:
    assert helm._open("podAnnotations", {"a": 1}, {"properties": {"a": {}}})  # user data by name, whatever the default
    assert helm._open("extraLabels", None, {}) and helm._open("NODESELECTOR", {"x": 1}, {})
    assert helm._open("config", {}, {}) and helm._open("config", None, {})
    assert not helm._open("config", {}, {"properties": {"a": {}}})  # an empty default, but the schema lists its keys
    assert not helm._open("config", {"a": 1}, {})
    assert helm._open("config", "a string", {})  # a map where the chart has no map: the schema's business
    assert not helm._open("labelsSelector", {"a": 1}, {})  # `labels` only at the end of the name


def test_unknown_keys_down_to_the_leaves() -> None:
    defaults = {"a": {"b": 1, "open": {}}, "list": [1], "n": None}
    values = {"a": {"b": 2, "c": {"d": 1, "e": {"f": 1}}, "g": {}, "open": {"anything": {"x": 1}}}, "list": {"k": 1}, "n": {"k": 1}, "z": {}, "sub": {"x": 1}}
    assert helm.unknown_keys(values, defaults, {}, open_keys=frozenset({"sub"})) == ["a.c.d", "a.c.e.f", "a.g", "z"]
    schema = {"properties": {"s": {"properties": {"t": {}}}}}
    assert helm.unknown_keys({"s": {"t": 1, "u": 2}}, {}, schema) == ["s.u"]


def test_subcharts_own_their_values() -> None:
    chart = caches.ChartFiles({"Chart.yaml": "name: app\ndependencies:\n  - {name: redis, alias: cache}\n  - {name: db}\n"})
    assert helm._subcharts(chart) == frozenset({"global", "cache", "db"})
    assert helm._subcharts(caches.ChartFiles({"Chart.yaml": "name: app\ndependencies:\n"})) == frozenset({"global"})


def test_flux_source_values() -> None:
    secret = {"kind": "Secret", "stringData": {"a": "from stringData"}, "data": {"a": "ignored", "b": base64.b64encode("é: 1".encode()).decode()}}
    assert helm._flux_source_value(secret, "a") == "from stringData"
    assert helm._flux_source_value(secret, "b") == "é: 1"
    assert helm._flux_source_value(secret, "c") is None
    config_map = {"kind": "ConfigMap", "data": {"a": 5}}
    assert helm._flux_source_value(config_map, "a") == "5"
    assert helm._flux_source_value(config_map, "b") is None
    assert helm._flux_source_value({"kind": "ConfigMap"}, "a") is None


def test_values_text_must_be_a_map() -> None:
    assert helm._yaml_map("", "f") == {} and helm._yaml_map("a: 1\n", "f") == {"a": 1}
    with pytest.raises(ClusterforgeError) as e:
        helm._yaml_map("- a\n", "ConfigMap/x values.yaml")
    assert str(e.value) == "ConfigMap/x values.yaml is not a YAML map"


def test_rendered_crds_only_when_there_are_any() -> None:
    assert helm._rendered_crds("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n") == []
    crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: ws.example.com}\nspec: {group: example.com}\n"
    assert [d["metadata"]["name"] for d in helm._rendered_crds("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n" + crd)] == ["ws.example.com"]


def test_a_missing_chart_s_result_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "empty-cache"
    monkeypatch.setenv(caches.CACHE_ENV, str(cache))
    repo = example_repo(tmp_path / "repo", replace=("version: 1.19.6", "version: 1.20.0"))
    ctx = Context(repo, repository.load(repo).inventory, cache)
    [job] = helm.jobs(ctx)
    assert (job.check, job.inputs) == ("helm", tuple(sorted({RELEASE_FILE, *ctx.discovery.releases[0].unit.files})))
    assert job.run() == [Result(helm.CHECK, RELEASE_FILE, False, "chart cilium 1.20.0 from https://helm.cilium.io is not in the cache", f"clusterforge charts pull -C {repo}")]


@pytest.mark.tools
def test_values_and_template_results_whole(need_tool, cache: Path, tmp_path: Path) -> None:
    for tool in ("helm", "kustomize", "kubeconform"):
        need_tool(tool)
    repo = example_repo(tmp_path / "repo")
    values = repo / "infrastructure/controllers/cilium/values.yaml"
    values.write_text(values.read_text().replace("routingMode: tunnel", "routingMode: 42") + CILIUM_1_12_BGP)
    results = _run(repo, cache)
    assert [r.check for r in results] == [helm.VALUES_CHECK, helm.CHECK]  # no output: nothing for kubeconform
    assert results[0] == Result(helm.VALUES_CHECK, RELEASE_FILE, False,
                                "cilium 1.19.6 has no values bgp.enabled, bgp.announce.loadbalancerIP (Helm would ignore them silently)",
                                "remove them or use the chart's current keys (its values.yaml)")
    assert (results[1].check, results[1].file, results[1].ok, results[1].hint) == (helm.CHECK, RELEASE_FILE, False, "")
    assert results[1].message.startswith("Error: values don't meet the specifications of the schema(s) in the following chart(s):\ncilium:\n")


def test_values_that_cannot_be_read_fail_the_values_check(tmp_path: Path, cache: Path) -> None:
    repo = example_repo(tmp_path / "repo", engine="argocd")
    app = repo / "argocd/apps/cilium.yaml"
    app.write_text(app.read_text().replace("$values/infrastructure/controllers/cilium/values.yaml", "$values/nowhere.yaml"))
    ctx = Context(repo, repository.load(repo).inventory, cache)
    [release] = ctx.discovery.releases
    [result] = helm.check_release(ctx, release, kubeconform.prepare(ctx, ctx.discovery), [])
    assert result == Result(helm.VALUES_CHECK, "argocd/apps/cilium.yaml", False, "values of cilium: valueFiles $values/nowhere.yaml: nowhere.yaml does not exist")


def test_a_release_job_s_key_follows_what_decides_its_verdict(cache: Path, tmp_path: Path) -> None:
    """Kubernetes' version, the chart archive, the schemas, the API versions and the release:
    a change to any of them is another verdict; the tools are named by their stamps."""
    repo = example_repo(tmp_path / "repo")
    ctx = Context(repo, repository.load(repo).inventory, cache)
    [job] = helm.jobs(ctx)
    assert (job.check, job.tool_version) == ("helm", "; ".join(kubeconform.tool_version(t) for t in ("helm", "kubeconform", "kustomize")))
    older = ctx.inventory.model_copy(update={"kubernetes": ctx.inventory.kubernetes.model_copy(update={"version": "1.34.2"})})
    [other] = helm.jobs(Context(repo, older, cache))
    assert len(job.extra_key) == 64 and other.extra_key != job.extra_key
    archive = caches.user_chart_archive(cache, "cilium", "1.19.6")
    archive.write_bytes(archive.read_bytes() + b"\0")
    [changed_chart] = helm.jobs(Context(repo, ctx.inventory, cache))
    assert changed_chart.extra_key not in (job.extra_key, other.extra_key)


# --- what the first whole mutation run found unprotected --------------------------------------


def test_keys_after_an_open_one_are_still_checked() -> None:
    assert helm.unknown_keys({"global": {"x": 1}, "typo": 1, "a": {"b": 1}}, {"a": {"c": 1}}, {}, open_keys=frozenset({"global"})) == ["typo", "a.b"]


def test_values_text_that_is_not_yaml_names_its_source() -> None:
    with pytest.raises(gitops.ManifestError) as e:
        helm._yaml("a: [\n", "ConfigMap/extra mode")
    assert str(e.value) == "ConfigMap/extra mode:2: not valid YAML: expected the node content, but found '<stream end>'"
    with pytest.raises(gitops.ManifestError) as e:
        helm._yaml_map("a: b: c\n", "helm.values")
    assert str(e.value) == "helm.values:1: not valid YAML: mapping values are not allowed here"


CHART_REF = "  chart:\n    spec:\n      chart: cilium\n      version: 1.19.6\n      sourceRef:\n        kind: HelmRepository\n        name: cilium\n"


def test_a_release_whose_chart_cannot_be_resolved_fails_whole(cache: Path, tmp_path: Path) -> None:
    """Discovery's problem is the release's one result, without a chart archive to read; its
    cache key names no chart."""
    repo = example_repo(tmp_path / "repo")
    edit(repo, RELEASE_FILE, CHART_REF, "  chartRef:\n    kind: OCIRepository\n    name: cilium\n")
    ctx = Context(repo, repository.load(repo).inventory, cache)
    [job] = helm.jobs(ctx)
    schemas = kubeconform.prepare(ctx, ctx.discovery)
    api = helm.api_versions(ctx.discovery, schemas)
    key = json.dumps([ctx.inventory.kubernetes.version, "no chart", schemas.digest, api, "cilium"])
    assert job.extra_key == hashlib.sha256(key.encode()).hexdigest()
    assert job.run() == [Result(helm.CHECK, RELEASE_FILE, False, "only spec.chart.spec (a HelmRepository chart) is supported, not spec.chartRef")]


def test_an_argocd_release_s_job_reads_its_value_files_from_the_repository(cache: Path, tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo", engine="argocd")
    ctx = Context(repo, repository.load(repo).inventory, cache)
    [job] = helm.jobs(ctx)
    [release] = ctx.discovery.releases
    assert job.inputs == tuple(sorted({"argocd/apps/cilium.yaml", *release.unit.files, "infrastructure/controllers/cilium/values.yaml"}))
    assert "infrastructure/controllers/cilium/values.yaml" not in release.unit.files  # only the valueFiles bring it in


WIDGET_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
                since: {type: string}
    - name: v1alpha1
      served: false
      storage: false
      schema:
        openAPIV3Schema: {type: object}
"""


def test_api_versions_name_the_crds_the_repository_ships(cache: Path, tmp_path: Path) -> None:
    """A CRD whose kind nothing in the repository uses still adds its served versions."""
    repo = example_repo(tmp_path / "repo")
    (repo / "infrastructure/controllers/cilium/widgets-crd.yaml").write_text(WIDGET_CRD)
    edit(repo, "infrastructure/controllers/cilium/kustomization.yaml", "  - helmrelease.yaml\n", "  - helmrelease.yaml\n  - widgets-crd.yaml\n")
    ctx = Context(repo, repository.load(repo).inventory, cache)
    api = helm.api_versions(ctx.discovery, kubeconform.prepare(ctx, ctx.discovery))
    assert {"example.com/v1", "example.com/v1/Widget"} <= set(api)
    assert not any(v.startswith("example.com/v1alpha1") for v in api)  # not served


def _chart_archive(path: Path, files: dict[str, str]) -> Path:
    """A chart archive as `helm package` lays it out: one top folder, the chart's name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(f"widgets/{name}")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return path


WIDGETS_CHART = {
    "Chart.yaml": "apiVersion: v2\nname: widgets\nversion: 0.1.0\n",
    "values.yaml": "size: 1\nsince: ''\n",
    "values-big.yaml": "size: 5\n",
    # In templates/, as charts with an `installCRDs` switch ship them: only the rendered output has it.
    "templates/crd.yaml": WIDGET_CRD,
    "templates/widget.yaml": (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {{ .Release.Name }}\n"
        "spec:\n  size: {{ .Values.size }}\n  since: {{ .Values.since | quote }}\n"
    ),
}


@pytest.mark.tools
def test_a_chart_s_own_crds_validate_what_it_renders(need_tool, cache: Path, tmp_path: Path) -> None:
    """An Argo CD release of a chart that renders a CRD and an object of its kind: a valueFile
    from the chart, `global` (the subcharts' values, not the chart's to list) and a date in
    valuesObject (helm reads it as the string YAML wrote) pass helm and kubeconform, whose
    schema of the Widget is converted from the rendered CRD."""
    for tool in ("helm", "kubeconform"):
        need_tool(tool)
    archive = _chart_archive(caches.user_chart_archive(cache, "widgets", "0.1.0"), WIDGETS_CHART)
    repo = example_repo(tmp_path / "repo", engine="argocd")
    app = "argocd/apps/cilium.yaml"
    edit(repo, app, "chart: cilium\n      targetRevision: 1.19.6\n", "chart: widgets\n      targetRevision: 0.1.0\n")
    edit(repo, app, "          - $values/infrastructure/controllers/cilium/values.yaml\n",
         "          - values-big.yaml\n        valuesObject:\n          global: {team: net}\n          since: 2026-11-28\n")
    ctx = Context(repo, repository.load(repo).inventory, cache)
    [release] = ctx.discovery.releases
    schemas = kubeconform.prepare(ctx, ctx.discovery)
    assert kubeconform.chart_crds(cache, ctx.discovery) == []  # nothing in the chart's crds/
    assert helm.check_release(ctx, release, schemas, []) == [
        Result(helm.VALUES_CHECK, app, True), Result(helm.CHECK, app, True), Result(kubeconform.CHECK, app, True),
    ]
    values = helm.argo_values(ctx, release, caches.read_chart(archive))
    widget = gitops.load_docs(helm.template(ctx, release, archive, values, []))[-1]
    assert widget["spec"] == {"size": 5, "since": "2026-11-28"}


@pytest.mark.tools
def test_a_chart_without_crds_converts_none(need_tool, cache: Path, tmp_path: Path) -> None:
    for tool in ("helm", "kustomize", "kubeconform"):
        need_tool(tool)
    assert {r.ok for r in _run(example_repo(tmp_path / "repo"), cache)} == {True}
    assert not (cache / "schemas" / "converted").exists()  # converting CRDs is work: none for Cilium's chart


@pytest.mark.tools
def test_a_cache_folder_relative_to_the_working_directory(need_tool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CLUSTERFORGE_CACHE_DIR=.cache names a folder of the caller's working directory, for helm
    too (it once ran in the repository, where the chart archive's relative path led nowhere)."""
    for tool in ("helm", "kustomize", "kubeconform"):
        need_tool(tool)
    fill_cache(tmp_path / "cache")
    monkeypatch.chdir(tmp_path)
    assert _run(example_repo(tmp_path / "repo"), Path("cache")) == [
        Result(helm.VALUES_CHECK, RELEASE_FILE, True), Result(helm.CHECK, RELEASE_FILE, True), Result(kubeconform.CHECK, RELEASE_FILE, True),
    ]
