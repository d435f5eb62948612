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


# --- containerd on the nodes ------------------------------------------------------
# Kubernetes 1.35 is the last release that supports containerd 1.x, and 1.34/1.35
# want containerd >= 1.7.28 (containerd RELEASES.md "Kubernetes Support",
# https://github.com/containerd/containerd/blob/main/RELEASES.md; Kubernetes 1.35
# release notes). Ubuntu 22.04's own containerd package is 1.7.x of no fixed patch,
# so the nodes install `containerd.io` from Docker's apt repository for jammy
# (https://download.docker.com/linux/ubuntu, suite jammy, component stable), pinned:
# versions seen there as `containerd.io 1.7.29-1~ubuntu.22.04~jammy` and
# `2.3.6-1~ubuntu.22.04~jammy`. containerd 2.3 is an LTS line (to April 2028).
LAST_KUBERNETES_WITH_CONTAINERD_1 = (1, 35)
CONTAINERD_1 = "1.7.29"
CONTAINERD_2 = "2.3.6"
# The oldest containerd 1.7 patch each Kubernetes minor asks for (same sources).
MIN_CONTAINERD_1 = {(1, 31): "1.7.20", (1, 32): "1.7.24", (1, 33): "1.7.24", (1, 34): "1.7.28", (1, 35): "1.7.28"}
DOCKER_APT_DISTRIBUTION = "ubuntu.22.04~jammy"


def containerd(kubernetes_version: str) -> str:
    """The containerd release the nodes of this Kubernetes version run."""
    return CONTAINERD_1 if minor(kubernetes_version) <= LAST_KUBERNETES_WITH_CONTAINERD_1 else CONTAINERD_2


def containerd_package_version(kubernetes_version: str) -> str:
    """The Debian version of Docker's `containerd.io` package for that release on jammy."""
    return f"{containerd(kubernetes_version)}-1~{DOCKER_APT_DISTRIBUTION}"


# --- the pause (sandbox) image ------------------------------------------------------
# What kubeadm expects for each minor: PauseVersion in kubeadm's
# cmd/kubeadm/app/constants/constants.go, read in k8s.io/kubernetes v1.31.14,
# v1.32.13, v1.33.9, v1.34.4, v1.35.4, v1.36.4 and v1.37.1. containerd's sandbox
# image is pinned to it: otherwise kubeadm's preflight warns and the node pulls two.
PAUSE_IMAGE = "registry.k8s.io/pause"
PAUSE_VERSIONS: dict[tuple[int, int], str] = {
    (1, 31): "3.10",
    (1, 32): "3.10",
    (1, 33): "3.10",
    (1, 34): "3.10.1",
    (1, 35): "3.10.1",
    (1, 36): "3.10.2",
    (1, 37): "3.10.2",
}


def pause_image(kubernetes_version: str) -> str:
    return f"{PAUSE_IMAGE}:{PAUSE_VERSIONS[minor(kubernetes_version)]}"
