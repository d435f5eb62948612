"""The pinned external toolchain, in one place.

Data only: `clusterforge tools install` (generator/toolchain/) installs every tool
GO_TOOLS names, and kubeadm for each Kubernetes version a repository uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class GoTool:
    """A tool built from source with `go install PACKAGE@VERSION`."""

    name: str
    package: str
    version: str  # Go module version, with the leading "v"


@dataclass(frozen=True)
class DebianTool:
    """A tool taken from Debian's packages (daemons and utilities the nodes run too)."""

    name: str
    apt: str
    optional: bool = False  # needed only by some commands (NoCloud ISOs)


GO_TOOLS: dict[str, GoTool] = {
    t.name: t
    for t in (
        GoTool("kubeconform", "github.com/yannh/kubeconform/cmd/kubeconform", "v0.7.0"),
        GoTool("helm", "helm.sh/helm/v3/cmd/helm", "v3.22.0"),
        GoTool("kustomize", "sigs.k8s.io/kustomize/kustomize/v5", "v5.8.1"),
        GoTool("gobgp", "github.com/osrg/gobgp/v3/cmd/gobgp", "v3.37.0"),
        GoTool("gobgpd", "github.com/osrg/gobgp/v3/cmd/gobgpd", "v3.37.0"),
        # SOPS encrypts the secrets file to the inventory's age recipients.
        GoTool("sops", "github.com/getsops/sops/v3/cmd/sops", "v3.13.3"),
        GoTool("age-keygen", "filippo.io/age/cmd/age-keygen", "v1.3.2"),
    )
}

# kubeadm is built per Kubernetes version (generator/toolchain/gobuild.py), not pinned once:
# kubeadm N deploys N and N-1, so a cluster needs the kubeadm of its own minor.
KUBEADM_PACKAGE = "k8s.io/kubernetes/cmd/kubeadm"
KUBERNETES_VERSION = "1.35.4"  # the reference inventory's version; the default build

# --- The rehearsal's control plane, GitOps engine and CNI operator ---------------------
# (clusterforge rehearse). Built with tools/gomodule/build.py: each of these modules has
# replace directives, which `go install MODULE@VERSION` refuses.


@dataclass(frozen=True)
class ModuleBuild:
    """Binaries built with `go build` in a scratch module that requires `module` at `version`
    and repeats its replace directives (local folders become releases at `local_version`)."""

    name: str
    module: str
    version: str
    binaries: tuple[tuple[str, str], ...]  # (file name in the tools dir, package)
    local_version: str | None = None  # default: `version`
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    toolchain: str | None = None  # GOTOOLCHAIN, for a module that needs a newer Go
    # YAML files of the module (a folder: its *.yaml) that the rehearsal applies or loads,
    # copied in one file beside the first binary: (what they are, their paths in the module).
    data: tuple[str, tuple[str, ...]] | None = None
    # A Helm chart of the module's source, packaged with the pinned helm beside the first
    # binary: (the chart's name, its folder in the module).
    chart: tuple[str, str] | None = None


def data_file(build: ModuleBuild) -> str:
    """Where tools/gomodule/build.py puts a build's data files, in the tools folder."""
    assert build.data is not None
    return f"{build.binaries[0][0]}.{build.data[0]}.yaml"


# etcd: the server release k8s.io/kubernetes 1.35 requires its etcd client modules at.
ETCD = ModuleBuild("etcd", "go.etcd.io/etcd/server/v3", "v3.6.5", (("etcd", "go.etcd.io/etcd/server/v3"),))
# The rendered repository names no Flux version (`flux bootstrap` installs its CLI's own):
# the rehearsal runs the controllers of this Flux release (flux2 v2.9.5's manifests/bases
# pin source- and kustomize-controller v1.9.5, helm-controller v1.6.4), save one: the
# module proxy refuses github.com/fluxcd/pkg/artifact v0.18.1 to v0.18.3, which
# source-controller v1.9.1 to v1.9.6 need, so source-controller is v1.9.0 (same API,
# source.toolkit.fluxcd.io/v1). Flux's API versions (source v1, kustomize v1, helm v2)
# are the ones the renderers write.
FLUX_VERSION = "v2.9.5"
FLUX_CONTROLLERS = tuple(
    ModuleBuild(name, f"github.com/fluxcd/{name}", version, ((name, f"github.com/fluxcd/{name}"),),
                data=("crds", ("config/crd/bases",)))
    for name, version in (("source-controller", "v1.9.0"), ("kustomize-controller", "v1.9.5"), ("helm-controller", "v1.6.4"))
)
# Argo CD, for repositories whose engine is Argo CD. The rendered repository installs Argo CD's
# `stable` manifests and writes only argoproj.io/v1alpha1 Applications and an AppProject, which
# every 3.x release serves. The newest release that builds from its module here is v3.2.11:
# - v3.3 to v3.5 replace their gitops-engine with the folder ./gitops-engine, a nested module
#   github.com/argoproj/argo-cd/gitops-engine the module zip leaves out; the proxy refuses the
#   version they require (v0.7.1-0.20250908182407-97ad5b59a627: "403 Forbidden: This module
#   version is not available") and every release branch, serving only a later commit of master;
# - v3.6 needs github.com/argoproj/argo-cd/gitops-engine/v3, which builds at no version here;
# - v3.2.12 does not compile: controller/cache/info.go calls settings.ValidateExternalURL,
#   which that release's util/settings lacks.
# v3.2.11 requires github.com/argoproj/gitops-engine at a pseudo-version the proxy serves.
# One binary serves every component: it picks one by ARGOCD_BINARY_NAME (cmd/main.go).
ARGOCD = ModuleBuild(
    "argocd", "github.com/argoproj/argo-cd/v3", "v3.2.11", (("argocd", "github.com/argoproj/argo-cd/v3/cmd"),),
    # As argo-cd's Makefile stamps a release (so `argocd version` and the logs report it).
    ldflags=("-X github.com/argoproj/argo-cd/v3/common.version=3.2.11", "-X github.com/argoproj/argo-cd/v3/common.gitTreeState=clean"),
    # The install manifests the README applies: the rehearsal takes its CRDs and settings
    # (ConfigMaps, Secret) and runs the components themselves as local processes.
    data=("install", ("manifests/install.yaml",)),
)
# A controller manager and scheduler too: without them no DaemonSet or Deployment gets a pod.
KUBERNETES_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
# The nodes' stand-in kubelets. Built like the others although its go.mod replaces nothing,
# so that every binary of the rehearsal comes from one list.
# Its Stages (how a node and a pod go through their lives) are the ones kwokctl gives it by
# default (pkg/kwokctl/runtime/cluster.go: getDefaultNodeStages, getDefaultPodStages).
KWOK = ModuleBuild(
    "kwok", "sigs.k8s.io/kwok", "v0.8.0", (("kwok", "sigs.k8s.io/kwok/cmd/kwok"),),
    data=("stages", tuple(f"kustomize/stage/{s}.yaml" for s in (
        "node/fast/node-initialize", "node/heartbeat-with-lease/node-heartbeat-with-lease",
        "pod/fast/pod-ready", "pod/fast/pod-complete", "pod/fast/pod-delete"))),
)
CILIUM_VERSION = "1.19.6"  # the reference inventory's version; the default build
CILIUM_OPERATOR_PACKAGE = "github.com/cilium/cilium/operator"
# The patch release the rehearsal's git-driven update bumps a cluster's Cilium to, by the
# cluster's version. No offline chart cache holds it: its chart is packaged from the
# module's source (what the Go module proxy serves), with its operator built beside it.
CILIUM_PATCH_BUMPS = {"1.19.6": "1.19.7"}
CILIUM_CHART = ("cilium", "install/kubernetes/cilium")


def kubernetes_binary(name: str, kubernetes_version: str) -> str:
    """File name of a per-Kubernetes-version build (kube-apiserver, kubectl)."""
    return f"{name}-v{kubernetes_version.removeprefix('v')}"


def cilium_operator_binary(cilium_version: str) -> str:
    return f"cilium-operator-generic-v{cilium_version.removeprefix('v')}"


def kubernetes_build(kubernetes_version: str = KUBERNETES_VERSION) -> ModuleBuild:
    """The control plane's binaries and kubectl of one Kubernetes version; the staging modules
    at v0.Y.Z, the version stamped as hack/lib/version.sh does (so /version reports it)."""
    v = kubernetes_version.removeprefix("v")
    _, minor, _ = v.split(".")
    pkg = "k8s.io/component-base/version"
    return ModuleBuild(
        f"kubernetes-v{v}", "k8s.io/kubernetes", f"v{v}",
        tuple((kubernetes_binary(n, v), f"k8s.io/kubernetes/cmd/{n}") for n in KUBERNETES_BINARIES),
        local_version=f"v0.{v.split('.', 1)[1]}",
        ldflags=(f"-X {pkg}.gitVersion=v{v}", f"-X {pkg}.gitMajor=1", f"-X {pkg}.gitMinor={minor}", f"-X {pkg}.gitTreeState=clean"),
    )


def cilium_operator_build(cilium_version: str = CILIUM_VERSION, chart: bool = False) -> ModuleBuild:
    """cilium-operator-generic, as cilium's operator/Makefile builds it (IPAM provider "operator"),
    and with `chart` the Helm chart of the same source."""
    v = cilium_version.removeprefix("v")
    return ModuleBuild(
        f"cilium-v{v}", "github.com/cilium/cilium", f"v{v}", ((cilium_operator_binary(v), CILIUM_OPERATOR_PACKAGE),),
        tags=("ipam_provider_operator",), chart=CILIUM_CHART if chart else None,
    )


def cilium_bump(cilium_version: str) -> str | None:
    """The patch release the rehearsal's update bumps this Cilium version to, if one is pinned."""
    return CILIUM_PATCH_BUMPS.get(cilium_version.removeprefix("v"))


def chart_file(build: ModuleBuild) -> str:
    """Where tools/gomodule/build.py puts a build's chart archive, in the tools folder."""
    assert build.chart is not None
    return f"{build.chart[0]}-{build.version.removeprefix('v')}.tgz"


def chart_source_file(build: ModuleBuild) -> str:
    """Beside the archive: where it came from (module@version, folder, helm) and its sha256."""
    return f"{chart_file(build)}.source.json"


def module_builds(kubernetes_version: str = KUBERNETES_VERSION, cilium_version: str = CILIUM_VERSION) -> dict[str, ModuleBuild]:
    """Every build the rehearsal needs, by name, for a cluster's versions (with the Cilium patch
    release its update bumps to, when one is pinned)."""
    builds = [ETCD, kubernetes_build(kubernetes_version), KWOK, *FLUX_CONTROLLERS, ARGOCD, cilium_operator_build(cilium_version)]
    bump = cilium_bump(cilium_version)
    if bump:
        builds.append(cilium_operator_build(bump, chart=True))
    return {b.name: b for b in builds}


DEBIAN_TOOLS: dict[str, DebianTool] = {
    t.name: t
    for t in (
        DebianTool("haproxy", "haproxy"),
        DebianTool("keepalived", "keepalived"),
        DebianTool("cloud-init", "cloud-init"),
        DebianTool("vtysh", "frr"),
        DebianTool("bird", "bird2"),
        DebianTool("shellcheck", "shellcheck"),
        DebianTool("ip", "iproute2"),
        DebianTool("netplan", "netplan.io"),
        DebianTool("cloud-localds", "cloud-image-utils", optional=True),
        DebianTool("genisoimage", "genisoimage", optional=True),
        # Argo CD's cache, for rehearsals of repositories whose engine is Argo CD.
        DebianTool("redis-server", "redis-server", optional=True),
    )
}


def kubeadm_binary(kubernetes_version: str) -> str:
    """File name of the kubeadm build for a version: several minors coexist in one dir."""
    return f"kubeadm-v{kubernetes_version.removeprefix('v')}"


def buildinfo_version(go_version_m: str, package: str) -> str | None:
    """Version of the module that provides `package`, from `go version -m BINARY` output.

    The module is the longest `mod`/`dep` path that prefixes the package, so this
    works both for `go install` builds (package in the main module) and for kubeadm
    (package in a dependency of our scratch module). A replaced module reports its
    replacement's version. None for "(devel)" builds or an unrelated binary.
    """
    best: tuple[str, str] | None = None
    lines = go_version_m.splitlines()
    for i, line in enumerate(lines):
        f = line.split()
        if len(f) >= 3 and f[0] in ("mod", "dep") and (package == f[1] or package.startswith(f[1] + "/")):
            version = f[2]
            repl = lines[i + 1].split() if i + 1 < len(lines) else []
            if repl[:1] == ["=>"]:
                version = repl[2] if len(repl) >= 3 else "(devel)"  # a local-path replace has no version
            if best is None or len(f[1]) > len(best[0]):
                best = (f[1], version)
    if best is None or not re.fullmatch(r"v\d+\.\d+\.\d+\S*", best[1]):
        return None
    return best[1]
