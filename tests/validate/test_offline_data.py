"""The package's own offline data (generator/data/offline) as the read-only layer under
the user cache, and the pull commands that do nothing when the layers hold what a
repository needs."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from generator import loader, versions
from generator.errors import ClusterforgeError
from generator.render import layout
from generator.validate import caches, commands, gitops

from . import CATALOG, CHARTS, EXAMPLE, example_repo, serve

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM = "https://helm.cilium.io"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "cache"
    monkeypatch.setenv(caches.CACHE_ENV, str(path))
    return path


@pytest.fixture
def dead_url() -> str:
    """A loopback URL nothing listens on: any pull that goes online fails on it."""
    with serve(CHARTS) as url:
        pass
    return url


def test_the_packaged_data_is_what_the_build_script_makes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("build_data", ROOT / "tools" / "offline" / "build_data.py")
    assert spec and spec.loader
    build_data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_data)
    build_data.build(CATALOG, build_data.CATALOG_COMMIT, CHARTS, tmp_path / "offline")
    made = sorted(p.relative_to(tmp_path / "offline") for p in (tmp_path / "offline").rglob("*") if p.is_file())
    packaged = sorted(p.relative_to(caches.PACKAGED) for p in caches.PACKAGED.rglob("*") if p.is_file())
    assert made == packaged
    for rel in made:
        assert (tmp_path / "offline" / rel).read_bytes() == (caches.PACKAGED / rel).read_bytes(), rel


@pytest.mark.parametrize("engine", ["flux", "argocd"])
@pytest.mark.parametrize("cilium_minor", sorted(versions.CILIUM_TESTED_KUBERNETES))
def test_the_package_holds_a_schema_for_every_custom_kind_rendered(cache: Path, tmp_path: Path, engine: str, cilium_minor: tuple[int, int]) -> None:
    default = loader.check_file(EXAMPLE).inventory.cilium.version
    version = default if versions.minor(default) == cilium_minor else f"{versions.show(cilium_minor)}.0"
    repo = example_repo(tmp_path / "repo", engine=engine, replace=(f"version: {default}", f"version: {version}"))
    inv = loader.check_file(repo / layout.INVENTORY).inventory
    kinds = gitops.custom_kinds(gitops.discover(repo, inv), caches.kubernetes_schemas(cache, inv.kubernetes.version))
    assert kinds
    for api_version, kind in kinds:
        rel = caches.catalog_file(api_version, kind)
        assert caches.cached_schema(cache, rel) == caches.PACKAGED / "schemas" / rel
        assert (caches.crd_catalog(cache) / rel).read_bytes() == (caches.PACKAGED / "schemas" / rel).read_bytes()


def test_the_package_holds_the_default_chart_with_its_license(cache: Path) -> None:
    version = loader.check_file(EXAMPLE).inventory.cilium.version
    archive = caches.chart_archive(cache, "cilium", version)
    assert archive == caches.PACKAGED / "charts" / f"cilium-{version}.tgz"
    with tarfile.open(archive) as tar:
        assert "Apache License" in tar.extractfile("cilium/LICENSE").read().decode()  # type: ignore[union-attr]
    manifest = json.loads((caches.PACKAGED / "manifest.json").read_text())
    assert set(manifest["charts"]) == {archive.name}  # only what the default needs
    assert all(e["source"].startswith("https://") and len(e["sha256"]) == 64 for e in manifest["schemas"].values())


def test_a_schema_in_the_user_cache_wins_over_the_packaged_one(cache: Path, tmp_path: Path) -> None:
    rel = "cilium.io/ciliumbgpclusterconfig_v2.json"
    own = tmp_path / "own-catalog"
    (own / rel).parent.mkdir(parents=True)
    (own / rel).write_text('{"type": "object"}\n')
    caches.pull_schemas_from_dir(own, cache)
    catalog = caches.crd_catalog(cache)
    assert (catalog / rel).read_text() == '{"type": "object"}\n'
    # Kinds the user cache lacks still come from the package.
    assert (catalog / "argoproj.io" / "application_v1alpha1.json").read_bytes() == (caches.PACKAGED / "schemas" / "argoproj.io" / "application_v1alpha1.json").read_bytes()
    assert caches.cached_schema(cache, rel) == caches.user_catalog(cache) / rel


def test_a_packaged_file_that_does_not_match_its_digest_is_not_used(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    damaged = tmp_path / "offline"
    shutil.copytree(caches.PACKAGED, damaged)
    rel = "cilium.io/ciliumbgpclusterconfig_v2.json"
    (damaged / "schemas" / rel).write_text('{"type": "object"}\n')
    with (damaged / "charts" / "cilium-1.19.6.tgz").open("ab") as f:
        f.write(b"\0")
    monkeypatch.setattr(caches, "PACKAGED", damaged)
    assert caches.cached_schema(cache, rel) is None
    assert not (caches.crd_catalog(cache) / rel).exists()
    assert (caches.crd_catalog(cache) / "argoproj.io" / "application_v1alpha1.json").is_file()
    assert caches.chart_archive(cache, "cilium", "1.19.6") == caches.user_chart_archive(cache, "cilium", "1.19.6")
    assert caches.cached_chart(caches.ChartRef(UPSTREAM, "cilium", "1.19.6"), cache) is None


def test_pulls_touch_no_network_when_the_package_holds_everything(cache: Path, tmp_path: Path, dead_url: str) -> None:
    repo = example_repo(tmp_path / "repo")
    out = io.StringIO()
    assert commands.charts_pull(repo, dead_url, out) == 0
    assert commands.schemas_pull(dead_url, out, repo=repo) == 0
    assert f"cached cilium 1.19.6: {caches.PACKAGED / 'charts' / 'cilium-1.19.6.tgz'}" in out.getvalue()
    assert "every schema the repository uses is cached" in out.getvalue()
    assert not cache.joinpath("charts").exists() and not caches.user_catalog(cache).exists()


def test_refresh_pulls_even_when_cached(cache: Path, tmp_path: Path, dead_url: str) -> None:
    repo = example_repo(tmp_path / "repo")
    with pytest.raises(ClusterforgeError, match=f"GET {dead_url}/index.yaml"):
        commands.charts_pull(repo, dead_url, io.StringIO(), refresh=True)
    with pytest.raises(ClusterforgeError, match=f"GET {dead_url}/"):
        commands.schemas_pull(dead_url, io.StringIO(), repo=repo, refresh=True)


def test_pulls_are_no_ops_when_the_user_cache_holds_everything_it_pulled(cache: Path, tmp_path: Path, dead_url: str) -> None:
    repo = example_repo(tmp_path / "repo", replace=("version: 1.19.6", "version: 1.20.0"))  # a chart the package lacks
    with serve(CHARTS) as mirror:
        assert commands.charts_pull(repo, mirror, io.StringIO()) == 0
    assert commands.schemas_pull(str(CATALOG), io.StringIO()) == 0
    out = io.StringIO()
    assert commands.charts_pull(repo, dead_url, out) == 0
    assert commands.schemas_pull(dead_url, out, repo=repo) == 0
    assert f"cached cilium 1.20.0: {caches.user_chart_archive(cache, 'cilium', '1.20.0')}" in out.getvalue()


def test_a_user_cache_file_that_changed_since_its_pull_is_pulled_again(cache: Path, tmp_path: Path, dead_url: str) -> None:
    repo = example_repo(tmp_path / "repo")
    with serve(CHARTS) as mirror:
        commands.charts_pull(repo, mirror, io.StringIO(), refresh=True)
    caches.pull_schemas_from_dir(CATALOG, cache)
    with caches.user_chart_archive(cache, "cilium", "1.19.6").open("ab") as f:
        f.write(b"\0")
    rel = "cilium.io/ciliumbgpclusterconfig_v2.json"
    (caches.user_catalog(cache) / rel).write_text('{"type": "object"}\n')
    # The user's copy shadows the package's, and it no longer matches its pull: pull again.
    with pytest.raises(ClusterforgeError, match=f"GET {dead_url}/index.yaml"):
        commands.charts_pull(repo, dead_url, io.StringIO())
    with pytest.raises(ClusterforgeError, match=f"GET {dead_url}/{rel}"):
        commands.schemas_pull(dead_url, io.StringIO(), repo=repo)
