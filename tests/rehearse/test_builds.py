"""The scratch modules tools/gomodule/build.py writes: the upstream module's replace
directives repeated, local folders swapped for published releases."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from generator import toolpins

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location("clusterforge_gomodule_build", ROOT / "tools" / "gomodule" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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
