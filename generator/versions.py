"""Version facts the rules and renderers share: which Kubernetes and Cilium
versions clusterforge knows how to build, and which combinations are tested."""

from __future__ import annotations

MIN_KUBERNETES = (1, 31)  # kubeadm.k8s.io/v1beta4
MIN_CILIUM = (1, 18)  # BGP control plane v2 resources as cilium.io/v2

# Kubernetes minors each Cilium minor is e2e-tested against (Cilium's
# Documentation/network/kubernetes/compatibility.rst of each release branch).
CILIUM_TESTED_KUBERNETES: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {
    (1, 18): ((1, 30), (1, 31), (1, 32), (1, 33)),
    (1, 19): ((1, 32), (1, 33), (1, 34), (1, 35)),
    (1, 20): ((1, 33), (1, 34), (1, 35), (1, 36)),
}


def parse(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def minor(version: str) -> tuple[int, int]:
    return parse(version)[:2]


def show(v: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in v)


def kubeadm_api_version(kubernetes_version: str) -> str:
    del kubernetes_version  # every supported minor (>= 1.31) uses v1beta4
    return "kubeadm.k8s.io/v1beta4"


def pkgs_k8s_repo(kubernetes_version: str) -> str:
    """The per-minor apt repository on pkgs.k8s.io."""
    return f"https://pkgs.k8s.io/core:/stable:/v{show(minor(kubernetes_version))}/deb/"
