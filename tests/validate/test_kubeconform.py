from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from generator import loader
from generator import repo as repository
from generator import tools
from generator.errors import ToolFailed
from generator.validate import caches, crd2schema, gitops
from generator.validate.base import Context, Result
from generator.validate.checks import kubeconform
from support import program

from . import EXAMPLE, example_repo, fill_cache

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx
          ports:
            - containerPort: "eighty"
"""

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "names": {"kind": "Widget", "plural": "widgets"},
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "size": {"x-kubernetes-int-or-string": True},
                                    "color": {"type": "string", "nullable": True},
                                    "settings": {"type": "object", "properties": {"a": {"type": "string"}}, "x-kubernetes-preserve-unknown-fields": True},
                                    "parts": {
                                        "type": "array",
                                        "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                                        "default": [{"properties": "data, not a schema"}],
                                    },
                                },
                            }
                        },
                    }
                },
            },
            {"name": "v1beta1", "served": False, "storage": False, "schema": {"openAPIV3Schema": {"type": "object"}}},
        ],
    },
}


def schemas_for(cache: Path, *converted: Path) -> kubeconform.Schemas:
    core = caches.kubernetes_schemas(cache, "1.35.4")
    return kubeconform.Schemas("1.35.4", core, caches.crd_catalog(cache), converted, "test")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv(caches.CACHE_ENV, str(path))
    return fill_cache(path)


# --- CRD conversion -------------------------------------------------------------------


def test_crd_conversion_is_strict_where_properties_are_declared() -> None:
    schemas = crd2schema.convert(CRD)
    assert list(schemas) == ["example.com/widget_v1.json"]  # v1beta1 is not served
    root = schemas["example.com/widget_v1.json"]
    assert root["properties"]["apiVersion"]["enum"] == ["example.com/v1"]
    assert root["properties"]["kind"]["enum"] == ["Widget"]
    assert root["additionalProperties"] is False
    spec = root["properties"]["spec"]
    assert spec["additionalProperties"] is False
    assert spec["properties"]["parts"]["items"]["additionalProperties"] is False
    assert "additionalProperties" not in spec["properties"]["settings"]  # preserve-unknown-fields
    assert spec["properties"]["size"]["anyOf"] == [{"type": "string"}, {"type": "integer"}]
    assert spec["properties"]["color"]["type"] == ["string", "null"]
    assert spec["properties"]["parts"]["default"] == [{"properties": "data, not a schema"}]  # data untouched


def test_crd_api_versions_name_group_version_and_kind() -> None:
    assert crd2schema.api_versions([CRD]) == {"example.com/v1", "example.com/v1/Widget"}


# --- kubeconform --------------------------------------------------------------------


@pytest.mark.tools
def test_core_schema_refs_resolve_offline(need_tool, cache: Path) -> None:
    """The nested error can only be found if the $ref into _definitions.json resolved."""
    need_tool("kubeconform")
    [result] = kubeconform.validate({"apps/web.yaml": DEPLOYMENT}, schemas_for(cache))
    assert not result.ok
    assert result.file == "apps/web.yaml"
    assert "apps/v1/Deployment web" in result.message
    assert "/spec/template/spec/containers/0/ports/0/containerPort" in result.message
    assert "want integer" in result.message


@pytest.mark.tools
def test_a_valid_deployment_passes(need_tool, cache: Path) -> None:
    need_tool("kubeconform")
    good = DEPLOYMENT.replace('"eighty"', "80")
    assert kubeconform.validate({"web.yaml": good}, schemas_for(cache)) == [kubeconform.Result("kubeconform", "web.yaml", True)]


@pytest.mark.tools
def test_a_kind_without_schema_fails(need_tool, cache: Path) -> None:
    need_tool("kubeconform")
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {}\n"
    [result] = kubeconform.validate({"w.yaml": widget}, schemas_for(cache))
    assert not result.ok
    assert "could not find schema for Widget" in result.message
    assert "schemas pull" in result.hint


@pytest.mark.tools
def test_kinds_validate_against_schemas_converted_from_their_crd(need_tool, cache: Path, tmp_path: Path) -> None:
    need_tool("kubeconform")
    converted = caches.converted_schemas(cache, [CRD])
    schemas = schemas_for(cache, converted)
    good = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {size: 3, settings: {free: form}, parts: [{name: a}]}\n"
    bad = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {sise: 3}\n"
    results = kubeconform.validate({"good.yaml": good, "bad.yaml": bad}, schemas)
    assert [(r.file, r.ok) for r in results] == [("bad.yaml", False), ("good.yaml", True)]
    assert "sise" in results[0].message


@pytest.mark.tools
def test_crd_catalog_schemas_are_used(need_tool, cache: Path) -> None:
    need_tool("kubeconform")
    pool = "apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: p}\nspec: {cidrs: [{cidr: 10.0.0.0/24}]}\n"
    [result] = kubeconform.validate({"pool.yaml": pool}, schemas_for(cache))
    assert not result.ok and "cidrs" in result.message  # gone since Cilium 1.16: blocks[] now


# --- the check on rendered repositories -------------------------------------------------


def _run(repo: Path, cache: Path) -> list[kubeconform.Result]:
    ctx = Context(repo, repository.load(repo).inventory, cache)
    return [r for job in kubeconform.jobs(ctx) for r in job.run()]


@pytest.mark.tools
def test_flux_repository_validates_every_unit(need_tool, cache: Path, tmp_path: Path) -> None:
    need_tool("kubeconform")
    need_tool("kustomize")
    results = _run(example_repo(tmp_path / "repo"), cache)
    assert [(r.file, r.ok) for r in results] == [
        ("clusters/koedo-lab/infrastructure.yaml", True),
        ("infrastructure/controllers", True),
        ("infrastructure/configs", True),
    ], results


@pytest.mark.tools
def test_argocd_repository_validates_every_unit(need_tool, cache: Path, tmp_path: Path) -> None:
    need_tool("kubeconform")
    need_tool("kustomize")
    results = _run(example_repo(tmp_path / "repo", engine="argocd"), cache)
    assert {r.file for r in results} == {"argocd/root.yaml", "argocd/apps/cilium.yaml", "argocd/apps/cilium-config.yaml", "argocd/apps/project.yaml", "infrastructure/configs"}
    assert all(r.ok for r in results), results


@pytest.mark.tools
def test_a_broken_object_in_a_unit_fails_with_its_path(need_tool, cache: Path, tmp_path: Path) -> None:
    need_tool("kubeconform")
    need_tool("kustomize")
    repo = example_repo(tmp_path / "repo")
    pools = repo / "infrastructure/configs/lb-ippools.yaml"
    pools.write_text(pools.read_text().replace("blocks:", "blokcs:"))
    failed = [r for r in _run(repo, cache) if not r.ok]
    assert [r.file for r in failed] == ["infrastructure/configs"]
    assert "cilium.io/v2/CiliumLoadBalancerIPPool default" in failed[0].message and "blokcs" in failed[0].message


def test_a_kustomization_path_that_does_not_exist_is_reported(cache: Path, tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    entry = repo / "clusters/koedo-lab/infrastructure.yaml"
    entry.write_text(entry.read_text().replace("./infrastructure/configs", "./infrastructure/config"))
    discovery = gitops.discover(repo, repository.load(repo).inventory)
    assert discovery.problems == (("clusters/koedo-lab/infrastructure.yaml", "infrastructure/config does not exist in the repository"),)


def test_schema_locations_put_core_schemas_first(cache: Path) -> None:
    locations = schemas_for(cache, cache / "conv").locations()
    assert locations[0].endswith("v1.35.0-local-strict-self-contained/{{.ResourceKind}}{{.KindSuffix}}.json")
    assert locations[1] == f"{caches.crd_catalog(cache)}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json"
    assert locations[2].startswith(str(cache / "conv"))


@pytest.mark.tools
def test_a_kustomization_that_does_not_build_is_reported(need_tool, cache: Path, tmp_path: Path) -> None:
    need_tool("kubeconform")
    need_tool("kustomize")
    repo = example_repo(tmp_path / "repo")
    kustomization = repo / "infrastructure/configs/kustomization.yaml"
    kustomization.write_text(kustomization.read_text() + "  - missing.yaml\n")
    missing = repo / "infrastructure/configs/missing.yaml"
    assert [r for r in _run(repo, cache) if not r.ok] == [Result("kustomize build", "infrastructure/configs", False, (
        f"Error: accumulating resources: accumulation err='accumulating resources from 'missing.yaml': evalsymlink failure on '{missing}' : "
        f"lstat {missing}: no such file or directory': must build at directory: not a valid directory: evalsymlink failure on '{missing}' : "
        f"lstat {missing}: no such file or directory"))]


def test_a_kustomize_that_fails_without_a_word_is_reported_by_its_exit_code(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kustomize that dies silently (here a stand-in: the real one always explains) still fails
    the unit, with the command and its exit code."""
    bin_dir = program(tmp_path / "bin" / "kustomize", "#!/bin/sh\nexit 3\n").parent
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, str(bin_dir))
    unit = gitops.Unit("apps", True, ("apps/kustomization.yaml",))
    job = kubeconform._unit_job(Context(tmp_path, None, cache), unit, schemas_for(cache), "")  # type: ignore[arg-type]  # build never reads the inventory
    assert job.run() == [Result("kustomize build", "apps", False, f"`{bin_dir / 'kustomize'} build apps` exited 3")]


def test_a_plain_unit_leaves_out_only_its_files_that_are_not_utf8(tmp_path: Path) -> None:
    """Discovery reports such a file (a problem job); the unit's other files are still validated."""
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps/a.yaml").write_bytes(b"kind: \xff\n")
    (tmp_path / "apps/b.yaml").write_text("kind: ConfigMap\n")
    (tmp_path / "apps/c.yaml").write_text("kind: Secret\n")
    unit = gitops.Unit("apps", False, ("apps/a.yaml", "apps/b.yaml", "apps/c.yaml"))
    ctx = Context(tmp_path, None, tmp_path / "cache")  # type: ignore[arg-type]  # build never reads the inventory
    assert kubeconform.build(ctx, unit) == {"apps/b.yaml": "kind: ConfigMap\n", "apps/c.yaml": "kind: Secret\n"}


@pytest.mark.tools
def test_a_version_kubeconform_refuses_is_a_tool_failure(need_tool, cache: Path) -> None:
    """Without its JSON report kubeconform judged nothing: ToolFailed in its own words, which
    the runner reports (uncached) as a failure, never a crash on the missing report."""
    need_tool("kubeconform")
    core = caches.kubernetes_schemas(cache, "1.35.4")
    schemas = kubeconform.Schemas("1.3\u0665.4", core, caches.crd_catalog(cache), (), "test")
    with pytest.raises(ToolFailed) as failed:
        kubeconform.validate({"x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"}, schemas)
    assert (failed.value.returncode, failed.value.stdout) == (1, "")  # no report
    assert 'invalid value "1.3\u0665.4" for flag -kubernetes-version' in failed.value.stderr


# --- each result whole, in kubeconform's words ------------------------------------------------


@pytest.mark.tools
def test_results_whole_one_per_file_sorted(need_tool, cache: Path) -> None:
    """In kubeconform's words under the object they are about; an empty stream passes."""
    need_tool("kubeconform")
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {}\n"
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1}\n"
    results = kubeconform.validate({"b.yaml": DEPLOYMENT, "a.yaml": "---\n", "w.yaml": widget, "c.yaml": config_map}, schemas_for(cache), check="k")
    assert results == [
        Result("k", "a.yaml", True),
        Result("k", "b.yaml", False, "apps/v1/Deployment web: at '/spec/template/spec/containers/0/ports/0/containerPort': got string, want integer"),
        Result("k", "c.yaml", False, "v1/ConfigMap x: at '/data/a': got number, want null or string"),
        Result("k", "w.yaml", False, "example.com/v1/Widget w: could not find schema for Widget",
               "a kind without a schema: run `clusterforge schemas pull` (CRD catalog) or add its CRD to the repository"),
    ]
    assert kubeconform.validate({}, schemas_for(cache)) == []


@pytest.mark.tools
def test_two_failing_objects_in_one_file(need_tool, cache: Path) -> None:
    """One line per object; one object's failing locations each on their own (indented) line; both sorted."""
    need_tool("kubeconform")
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1}\n"
    [result] = kubeconform.validate({"c.yaml": config_map.replace("name: x", "name: z") + "---\n" + config_map}, schemas_for(cache))
    assert result == Result(kubeconform.CHECK, "c.yaml", False, "v1/ConfigMap x: at '/data/a': got number, want null or string\n"
                                                                  "v1/ConfigMap z: at '/data/a': got number, want null or string")
    [result] = kubeconform.validate({"d.yaml": DEPLOYMENT.replace("image: nginx", "image: 5")}, schemas_for(cache))
    assert result.message == (  # sorted, object by object and line by line: kubeconform's own order varies
        "apps/v1/Deployment web: at '/spec/template/spec/containers/0/image': got number, want null or string\n"
        "  at '/spec/template/spec/containers/0/ports/0/containerPort': got string, want integer"
    )


def test_error_lines_of_a_jsonschema_message() -> None:
    """kubeconform's message, as it prints it: the containers' `validation failed` wrappers go,
    unless nothing else is left."""
    msg = ("problem validating schema. Check JSON formatting: jsonschema validation failed with 'file:///s/deployment-apps-v1.json#' "
           "- at '/spec': validation failed - at '/spec/replicas': got string, want integer - at '/spec/paused': got number, want boolean")
    assert kubeconform._error_lines(msg) == ["at '/spec/paused': got number, want boolean", "at '/spec/replicas': got string, want integer"]
    only = "jsonschema validation failed with 'file:///s.json#' - at '': validation failed"
    assert kubeconform._error_lines(only) == ["at '': validation failed"]
    assert kubeconform._error_lines("could not find schema for Widget") == ["could not find schema for Widget"]


def test_describe_a_resource() -> None:
    assert kubeconform._describe({"version": "v1", "kind": "ConfigMap", "name": "x"}) == "v1/ConfigMap x"
    assert kubeconform._describe({}) == "/?"


def test_a_problem_job(tmp_path: Path) -> None:
    job = kubeconform._problem_job("clusters/x.yaml", "infrastructure/config does not exist in the repository")
    assert (job.check, job.inputs, job.tool_version, job.extra_key) == (kubeconform.CHECK, ("clusters/x.yaml",), "", "infrastructure/config does not exist in the repository")
    assert job.run() == [Result(kubeconform.CHECK, "clusters/x.yaml", False, "infrastructure/config does not exist in the repository", "fix the file, or the path that points at it")]


def test_unit_jobs_are_keyed_by_version_schemas_and_path(cache: Path, tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    ctx = Context(repo, repository.load(repo).inventory, cache)
    schemas = kubeconform.prepare(ctx, ctx.discovery)
    jobs = kubeconform.jobs(ctx)
    assert [(j.check, j.extra_key) for j in jobs] == [
        (kubeconform.CHECK, f"k8s 1.35.4; schemas {schemas.digest}; {unit.path}") for unit in ctx.discovery.units
    ]
    assert [j.inputs for j in jobs] == [unit.files for unit in ctx.discovery.units]
    assert {j.tool_version for j in jobs} == {f"{kubeconform.tool_version('kubeconform')}; {kubeconform.tool_version('kustomize')}"}


def test_a_missing_tool_s_version(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv(tools.TOOLS_DIR_ENV, "")  # PATH only: not the checkout's .tools/bin either
    assert kubeconform.tool_version("kustomize") == "kustomize missing"
    program(tmp_path / "kustomize", "#!/bin/sh\n")
    assert kubeconform.tool_version("kustomize") == f"kustomize {tmp_path / 'kustomize'} {caches.stamp(tmp_path / 'kustomize')}"


# --- the schemas: CRDs of the repository and of its charts --------------------------------------

GADGET_CRD = {
    **CRD,
    "metadata": {"name": "gadgets.example.org"},
    "spec": {**CRD["spec"], "group": "example.org", "names": {"kind": "Gadget", "plural": "gadgets"}},
}


def chart_with_crds(cache: Path, name: str, version: str, crds: list[dict]) -> None:
    """A chart archive in the cache, as helm packages one: <name>/Chart.yaml, <name>/crds/*."""
    files = {f"{name}/Chart.yaml": f"apiVersion: v2\nname: {name}\nversion: {version}\n"}
    files |= {f"{name}/crds/{i}.yaml": json.dumps(crd) for i, crd in enumerate(crds)}  # JSON is YAML
    caches.charts_dir(cache).mkdir(parents=True, exist_ok=True)
    with tarfile.open(caches.user_chart_archive(cache, name, version), "w:gz") as tar:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def release(chart: caches.ChartRef | None) -> gitops.Release:
    unit = gitops.Unit("apps", True, ("apps/kustomization.yaml",))
    return gitops.Release("flux", "apps/release.yaml", "r", "r", "default", chart, unit, {}, "" if chart else "no source")


def test_schemas_are_converted_from_the_crds_of_the_repository_and_of_its_charts(cache: Path, tmp_path: Path) -> None:
    """Once, into one folder named by their content; the digest (a cache key part) is the catalog's
    stamp and that folder's name. A release without a chart, or whose chart has no crds/, adds none."""
    chart_with_crds(cache, "gadgets", "1.2.3", [GADGET_CRD])
    releases = (
        release(caches.ChartRef("https://charts.example.org", "gadgets", "1.2.3")),
        release(None),
        release(caches.ChartRef("https://helm.cilium.io", "cilium", "1.19.6")),  # in the cache, no crds/
    )
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    discovery = gitops.Discovery((), releases, (("apps/cm.yaml", config_map), ("apps/widgets.yaml", CRD)))
    assert kubeconform.chart_crds(cache, discovery) == [GADGET_CRD]
    inventory = loader.check_file(EXAMPLE).inventory
    ctx = Context(tmp_path, inventory, cache)
    version = inventory.kubernetes.version
    core, catalog = caches.kubernetes_schemas(cache, version), caches.crd_catalog(cache)
    converted = caches.converted_schemas(cache, [CRD, GADGET_CRD])
    assert sorted(p.relative_to(converted).as_posix() for p in converted.rglob("*.json")) == ["example.com/widget_v1.json", "example.org/gadget_v1.json"]
    digest = hashlib.sha256(f"{caches.tree_stamp(catalog)}\n{converted.name}".encode()).hexdigest()
    assert kubeconform.prepare(ctx, discovery) == kubeconform.Schemas(version, core, catalog, (converted,), digest)
    # Without CRDs: no converted folder, and the digest is the catalog's alone.
    plain = gitops.Discovery((), releases[1:], (("apps/cm.yaml", config_map),))
    digest = hashlib.sha256(caches.tree_stamp(catalog).encode()).hexdigest()
    assert kubeconform.prepare(ctx, plain) == kubeconform.Schemas(version, core, catalog, (), digest)


# --- kinds listed as having no schema ---------------------------------------------------------------


@pytest.mark.tools
def test_a_listed_kind_without_a_schema_passes_unvalidated(need_tool, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind in UNVALIDATED (empty today: every kind we render has a schema) passes with a note
    saying why, in every file it is in; the file's other objects are still judged."""
    need_tool("kubeconform")
    monkeypatch.setitem(kubeconform.UNVALIDATED, "example.com/v1/Widget", "its CRD is published nowhere")
    widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {}\n"
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1}\n"
    gadget = "apiVersion: example.org/v1\nkind: Gadget\nmetadata: {name: g}\n"  # not listed: fails
    manifests = {"a.yaml": widget, "b.yaml": widget + "---\n" + config_map, "c.yaml": gadget}
    note = "unvalidated: no schema for Widget (its CRD is published nowhere)"
    expected = [
        Result("k", "a.yaml", True),
        Result("k", "a.yaml", True, note),
        Result("k", "b.yaml", False, "v1/ConfigMap x: at '/data/a': got number, want null or string"),
        Result("k", "b.yaml", True, note),
        Result("k", "c.yaml", False, "example.org/v1/Gadget g: could not find schema for Gadget",
               "a kind without a schema: run `clusterforge schemas pull` (CRD catalog) or add its CRD to the repository"),
    ]
    assert kubeconform.validate(manifests, schemas_for(cache), check="k") == expected
    # kubeconform reports the objects in any order: the same results in each (here the listed ones first, then last).
    failed, names = kubeconform._report(manifests, schemas_for(cache))
    listed_first = sorted(failed, key=lambda resource: (resource["kind"] != "Widget", resource["filename"]))
    assert [r["kind"] for r in listed_first] == ["Widget", "Widget", "ConfigMap", "Gadget"]
    assert kubeconform._results(listed_first, names, "k") == expected
    assert kubeconform._results(listed_first[::-1], names, "k") == expected
