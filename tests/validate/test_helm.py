from __future__ import annotations

from pathlib import Path

import pytest

from generator import repo as repository
from generator.validate import caches, gitops
from generator.validate.base import Context, Result
from generator.validate.checks import helm, kubeconform

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
