from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from generator.errors import ClusterforgeError
from generator.validate import caches, commands
from generator.validate.checks import _common

from . import CATALOG, CHARTS, example_repo, serve

UPSTREAM = "https://helm.cilium.io"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv(caches.CACHE_ENV, str(path))
    return path


def test_cache_dir_follows_the_environment(cache: Path) -> None:
    assert caches.cache_dir() == cache
    assert caches.user_catalog(cache) == cache / "schemas" / "crds"
    assert caches.user_chart_archive(cache, "cilium", "1.19.6") == cache / "charts" / "cilium-1.19.6.tgz"
    # A chart neither layer holds is looked for where a pull puts it.
    assert caches.chart_archive(cache, "cilium", "1.20.0") == cache / "charts" / "cilium-1.20.0.tgz"


def test_core_schemas_are_self_contained(cache: Path) -> None:
    """Each kind carries the definitions it reaches: no ref leaves the file (kubeconform would
    otherwise parse the shared 1.2 MB _definitions.json once per kind, or fetch it by URL)."""
    folder = caches.kubernetes_schemas(cache, "1.35.4")
    assert folder.name == "v1.35.0-local-strict-self-contained" and folder.is_relative_to(cache)
    deployment = (folder / "deployment-apps-v1.json").read_text()
    assert "_definitions.json" not in deployment
    schema = json.loads(deployment)
    assert "$id" not in schema  # an https $id would send relative refs to kubernetes.io
    assert schema["properties"]["spec"]["$ref"] == "#/$defs/io.k8s.api.apps.v1.DeploymentSpec"
    # Reached only through the DeploymentSpec -> PodTemplateSpec -> PodSpec -> Container chain:
    refs = set(re.findall(r'"\$ref": "([^"]*)"', deployment))
    assert "#/$defs/io.k8s.api.core.v1.Container" in refs
    assert {ref.removeprefix("#/$defs/") for ref in refs} <= set(schema["$defs"])  # every ref resolves
    assert not (folder / "_definitions.json").exists()
    assert caches.kubernetes_schemas(cache, "1.35.0") == folder  # one folder per minor, made once


def test_an_unknown_kubernetes_minor_is_a_user_error(cache: Path) -> None:
    with pytest.raises(ClusterforgeError, match="no schemas for Kubernetes 1.99.0"):
        caches.kubernetes_schemas(cache, "1.99.0")


def test_core_kinds_are_told_from_custom_ones(cache: Path) -> None:
    folder = caches.kubernetes_schemas(cache, "1.35.4")
    assert caches.has_core_schema(folder, "apps/v1", "Deployment")
    assert caches.has_core_schema(folder, "v1", "ConfigMap")
    assert caches.has_core_schema(folder, "networking.k8s.io/v1", "NetworkPolicy")
    assert not caches.has_core_schema(folder, "cilium.io/v2", "CiliumBGPClusterConfig")
    assert not caches.has_core_schema(folder, "gateway.networking.k8s.io/v1", "Gateway")


def test_schemas_pull_from_a_folder_copies_the_catalog(cache: Path) -> None:
    out = io.StringIO()
    assert commands.schemas_pull(str(CATALOG), out) == 0
    copied = caches.user_catalog(cache) / "cilium.io" / "ciliumbgpclusterconfig_v2.json"
    assert copied.read_bytes() == (CATALOG / "cilium.io" / "ciliumbgpclusterconfig_v2.json").read_bytes()
    assert f"to {caches.user_catalog(cache)}" in out.getvalue()


def test_schemas_pull_from_a_folder_without_schemas_fails(cache: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ClusterforgeError, match="holds no"):
        caches.pull_schemas_from_dir(tmp_path / "empty", cache)


def test_schemas_pull_from_a_url_fetches_the_kinds_the_repository_uses(cache: Path, tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    served = tmp_path / "catalog"
    for rel in ("cilium.io/ciliumbgpclusterconfig_v2.json", "helm.toolkit.fluxcd.io/helmrelease_v2.json"):
        (served / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CATALOG / rel, served / rel)
    out = io.StringIO()
    with serve(served) as url:
        code = commands.schemas_pull(url, out, repo=repo, refresh=True)  # the package holds them too
    catalog = caches.user_catalog(cache)
    assert (catalog / "cilium.io" / "ciliumbgpclusterconfig_v2.json").read_bytes() == (served / "cilium.io" / "ciliumbgpclusterconfig_v2.json").read_bytes()
    assert (catalog / "helm.toolkit.fluxcd.io" / "helmrelease_v2.json").is_file()
    # The served copy lacks the other kinds the repository uses: reported, and the exit code says so.
    assert code == 1
    assert "not in the catalog: kustomize.toolkit.fluxcd.io/kustomization_v1.json" in out.getvalue()
    assert not (catalog / "kustomize.toolkit.fluxcd.io").exists()


def test_charts_pull_through_a_mirror_stores_the_verified_archive(cache: Path, tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    out = io.StringIO()
    with serve(CHARTS) as mirror:
        assert commands.charts_pull(repo, mirror, out, refresh=True) == 0  # the package holds it too
    archive = caches.user_chart_archive(cache, "cilium", "1.19.6")
    assert archive.read_bytes() == (CHARTS / "cilium-1.19.6.tgz").read_bytes()
    entry = caches.chart_index(cache)["cilium-1.19.6.tgz"]
    assert entry["repository"] == UPSTREAM
    assert entry["digest"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert entry["url"].startswith(mirror) and entry["url"].endswith("/cilium-1.19.6.tgz")  # relative URL resolved


def test_charts_pull_refuses_an_archive_whose_digest_differs(cache: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    shutil.copytree(CHARTS, served)
    index = (served / "index.yaml").read_text()
    digest = hashlib.sha256((CHARTS / "cilium-1.19.6.tgz").read_bytes()).hexdigest()
    assert digest in index
    (served / "index.yaml").write_text(index.replace(digest, "f" * 64))
    with serve(served) as mirror, pytest.raises(ClusterforgeError, match="does not match the index's digest"):
        caches.pull_chart(caches.ChartRef(UPSTREAM, "cilium", "1.19.6"), cache, mirror)
    assert not caches.user_chart_archive(cache, "cilium", "1.19.6").exists()


def test_charts_pull_names_the_versions_an_index_has(cache: Path) -> None:
    with serve(CHARTS) as mirror, pytest.raises(ClusterforgeError, match=r"no cilium 1\.11\.0 \(versions: .*1\.19\.6"):
        caches.pull_chart(caches.ChartRef(UPSTREAM, "cilium", "1.11.0"), cache, mirror)


def test_an_unreachable_repository_is_a_user_error(cache: Path) -> None:
    with serve(CHARTS) as mirror:
        pass  # shut down: nothing listens there any more
    with pytest.raises(ClusterforgeError, match="GET .*index.yaml"):
        caches.pull_chart(caches.ChartRef(UPSTREAM, "cilium", "1.19.6"), cache, mirror)


def test_a_tool_is_known_by_its_path_and_stamp(tmp_path: Path, need_tool, monkeypatch: pytest.MonkeyPatch) -> None:
    """No version probe at all (nine cost half a warm run): the binary's path, size and mtime
    are its identity in the cache keys, and another binary in the same place is another tool."""
    shellcheck = tmp_path / "bin" / "shellcheck"
    shellcheck.parent.mkdir()
    shutil.copy2(need_tool("shellcheck"), shellcheck)
    monkeypatch.setenv("CLUSTERFORGE_TOOLS_DIR", str(shellcheck.parent))
    first = _common.find("shellcheck")
    assert first.path == shellcheck and first.version == f"{shellcheck} {caches.stamp(shellcheck)}"
    os.utime(shellcheck, ns=(1, 1))
    assert _common.find("shellcheck").version not in ("", first.version)
    monkeypatch.setenv("CLUSTERFORGE_TOOLS_DIR", str(tmp_path / "none"))
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    missing = _common.find("shellcheck")
    assert missing.path is None and missing.install == "apt-get install shellcheck"
