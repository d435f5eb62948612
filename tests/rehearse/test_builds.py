"""The scratch modules tools/gomodule/build.py writes: the upstream module's replace
directives repeated, local folders swapped for published releases; and the chart it packages
from the cilium module's source for the rehearsal's patch bump: reproducible, the one its
record names, rendering what the published chart does but for the image digests."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from generator import cli, repo, toolpins
from generator.errors import ToolMissing
from generator.rehearse import toolset, update
from generator.render import cilium as cilium_render
from generator.render import layout
from generator.tools import find_tool
from generator.validate import caches
from support import load_script

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def builder():
    return load_script(ROOT / "tools" / "gomodule" / "build.py", "clusterforge_gomodule_build")


# Trimmed from the real go.mod files of etcd's server v3.6.5 and k8s.io/kubernetes v1.35.4.
ETCD_GO_MOD = """module go.etcd.io/etcd/server/v3

go 1.24

toolchain go1.24.7

require go.etcd.io/etcd/api/v3 v3.6.5

replace (
	go.etcd.io/etcd/api/v3 => ../api
	go.etcd.io/etcd/client/pkg/v3 => ../client/pkg // the client
)

// Bad imports are sometimes causing attempts to pull that code.
// This makes the error more explicit.
replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
"""

KUBERNETES_GO_MOD = """module k8s.io/kubernetes

go 1.25.0

godebug default=go1.25

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
)
replace github.com/example/fork v1.0.0 => github.com/example/other v1.2.3
"""


def test_etcd_local_replaces_become_the_same_release(builder) -> None:
    go_mod = builder.render_go_mod(toolpins.ETCD, ETCD_GO_MOD)
    assert "require go.etcd.io/etcd/server/v3 v3.6.5" in go_mod
    assert "replace go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 v3.6.5" in go_mod
    assert "replace go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 v3.6.5" in go_mod
    assert "FORBIDDEN" not in go_mod and "toolchain" not in go_mod
    assert go_mod.splitlines()[2] == "go 1.24"


def test_kubernetes_staging_becomes_v0_releases_and_other_replaces_are_copied(builder) -> None:
    go_mod = builder.render_go_mod(toolpins.kubernetes_build("1.35.4"), KUBERNETES_GO_MOD)
    assert "replace k8s.io/api => k8s.io/api v0.35.4" in go_mod
    assert "replace k8s.io/client-go => k8s.io/client-go v0.35.4" in go_mod
    assert "replace github.com/example/fork v1.0.0 => github.com/example/other v1.2.3" in go_mod
    assert "godebug default=go1.25" in go_mod


def test_an_unreadable_replace_directive_is_refused(builder) -> None:
    with pytest.raises(ValueError, match="unexpected replace directive"):
        builder.replaces("replace (\n\tk8s.io/api => \n)\n")


def test_tools_go_names_every_binary_package(builder) -> None:
    text = builder.tools_go(toolpins.kubernetes_build("1.35.4"))
    assert text.startswith("//go:build tools\n")
    for name in toolpins.KUBERNETES_BINARIES:
        assert f'import _ "k8s.io/kubernetes/cmd/{name}"' in text


def test_builds_are_named_by_the_cluster_versions() -> None:
    builds = toolpins.module_builds("1.34.4", "1.18.12")
    assert builds["kubernetes-v1.34.4"].binaries[0] == ("kube-apiserver-v1.34.4", "k8s.io/kubernetes/cmd/kube-apiserver")
    assert builds["kubernetes-v1.34.4"].local_version == "v0.34.4"
    assert builds["cilium-v1.18.12"].binaries == (("cilium-operator-generic-v1.18.12", toolpins.CILIUM_OPERATOR_PACKAGE),)
    assert builds["cilium-v1.18.12"].tags == ("ipam_provider_operator",)
    assert toolpins.data_file(builds["kwok"]) == "kwok.stages.yaml"
    assert toolpins.data_file(builds["helm-controller"]) == "helm-controller.crds.yaml"


def test_a_missing_or_foreign_binary_is_not_up_to_date(builder, tmp_path: Path) -> None:
    assert not builder.up_to_date(toolpins.ETCD, tmp_path, "go")
    (tmp_path / "etcd").write_text("#!/bin/sh\n")  # no Go build info: rebuilt
    assert not builder.up_to_date(toolpins.ETCD, tmp_path, "go")


def test_argocd_is_stamped_with_its_pinned_release() -> None:
    build = toolpins.module_builds()["argocd"]
    assert build.binaries == (("argocd", "github.com/argoproj/argo-cd/v3/cmd"),)
    assert f"-X github.com/argoproj/argo-cd/v3/common.version={build.version.removeprefix('v')}" in build.ldflags
    assert toolpins.data_file(build) == "argocd.install.yaml" and build.data == ("install", ("manifests/install.yaml",))


# --- the chart of the Cilium patch bump, packaged from the module's source ------------------

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}")


@pytest.fixture(scope="module")
def go_and_helm() -> tuple[str, str]:
    """Go (its module cache holds cilium's modules once `nox -s tools` has built the operators) and the pinned helm."""
    go, helm = shutil.which("go"), find_tool("helm")
    if go is None or helm is None:
        if IN_CI:
            pytest.fail("CI must provide go and helm")
        pytest.skip("go or helm not found")
    return go, str(helm)


def test_a_repacked_archive_is_reproducible_and_dated_by_the_module(builder, tmp_path: Path) -> None:
    def helm_like(mtime: int) -> bytes:
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w:gz") as tar:
            for name, data in (("cilium/Chart.yaml", b"name: cilium\n"), ("cilium/values.yaml", b"a: 1\n")):
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), mtime
                tar.addfile(info, io.BytesIO(data))
        return raw.getvalue()

    first, second = builder.reproducible_archive(helm_like(1000), 42), builder.reproducible_archive(helm_like(2000), 42)
    assert first == second and helm_like(1000) != helm_like(2000)
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        assert [(m.name, m.mtime) for m in tar.getmembers()] == [("cilium/Chart.yaml", 42), ("cilium/values.yaml", 42)]


def test_a_chart_that_is_not_the_recorded_one_is_not_up_to_date(builder, tmp_path: Path) -> None:
    build = toolpins.module_builds()["cilium-v1.19.7"]
    assert not builder.chart_up_to_date(build, tmp_path)
    (tmp_path / toolpins.chart_file(build)).write_bytes(b"archive")
    source = {"module": "github.com/cilium/cilium@v1.19.7", "sha256": hashlib.sha256(b"archive").hexdigest()}
    (tmp_path / toolpins.chart_source_file(build)).write_text(json.dumps(source))
    assert builder.chart_up_to_date(build, tmp_path)
    (tmp_path / toolpins.chart_file(build)).write_bytes(b"another archive")
    assert not builder.chart_up_to_date(build, tmp_path)


@pytest.mark.tools
def test_the_bump_chart_in_the_tools_folder_is_what_its_module_gives(builder, go_and_helm, tmp_path: Path) -> None:
    go, helm = go_and_helm
    bump = toolpins.cilium_bump(toolpins.CILIUM_VERSION)
    assert bump is not None
    try:
        built = toolset.cilium_chart(bump)
    except ToolMissing as e:
        if IN_CI:
            pytest.fail(f"CI must provide every tool: {e}")
        pytest.skip(str(e))
    again = builder.package_chart(toolpins.module_builds()[f"cilium-v{bump}"], tmp_path, go, dict(os.environ), helm)
    assert again.read_bytes() == built.archive.read_bytes()
    assert built.module == f"github.com/cilium/cilium@v{bump}"


@pytest.mark.tools
def test_the_module_chart_renders_as_the_published_one_but_for_image_digests(builder, go_and_helm, tmp_path: Path) -> None:
    """The approach, proved on the cluster's version, whose published chart the offline data holds:
    the chart packaged from the module's source renders the reference lab's values to the same
    objects, save that the published chart pins Cilium's own images by digest as well as tag."""
    go, helm = go_and_helm
    lab = tmp_path / "lab"
    repo.new(lab, cli.example_text())
    published = caches.cached_chart(caches.ChartRef(cilium_render.CHART_REPOSITORY, cilium_render.CHART, toolpins.CILIUM_VERSION), tmp_path / "cache")
    assert published is not None
    module = builder.package_chart(toolpins.cilium_operator_build(toolpins.CILIUM_VERSION, chart=True), tmp_path, go, dict(os.environ), helm)

    def render(chart: Path) -> dict[str, dict]:
        done = subprocess.run([helm, "template", "cilium", str(chart), "--namespace", "kube-system", "--kube-version", toolpins.KUBERNETES_VERSION,
                               "--values", str(lab / layout.CILIUM_VALUES)], check=True, capture_output=True, text=True)
        return {f"{o['kind']} {o['metadata']['name']}": o for o in update.manifest_objects(done.stdout)}

    first, again, ours = render(published), render(published), render(module)
    assert first.keys() == ours.keys()
    regenerated = {k for k in first if first[k] != again[k]}  # the certificates helm generates at each render
    assert regenerated and all(k.startswith("Secret ") for k in regenerated)
    differ = sorted(k for k in first if k not in regenerated and first[k] != ours[k])
    assert differ == ["DaemonSet cilium", "Deployment cilium-operator", "Deployment hubble-relay"]
    unpinned = {k: json.loads(DIGEST.sub("", json.dumps(first[k]))) for k in differ}
    assert all(unpinned[k] == ours[k] for k in differ)
