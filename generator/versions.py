"""Version facts the rules and renderers share: which Kubernetes and Cilium
versions clusterforge knows how to build, which combinations are tested, which
minors are out of support, and what each minor needs on the nodes. Every table
names its sources; they were checked on 2026-11-28."""

from __future__ import annotations

from datetime import date

MIN_KUBERNETES = (1, 31)  # kubeadm.k8s.io/v1beta4
MIN_CILIUM = (1, 18)  # BGP control plane v2 resources as cilium.io/v2

# Kubernetes minors each Cilium minor is e2e-tested against: the table in
# Documentation/network/kubernetes/compatibility.rst of each release, e.g.
# https://raw.githubusercontent.com/cilium/cilium/v1.18.14/Documentation/network/kubernetes/compatibility.rst
# (1.30-1.33, read); the same page of 1.19.3 lists 1.32-1.35 (read on 2026-11-28 from a
# copy of the file at https://contextqmd.com/libraries/cilium/versions/1.19.3/pages/Documentation/network/kubernetes/compatibility);
# 1.20 lists 1.33-1.36 as the project's facts of 2026-11-28 record from a third-party
# PR: no copy of the v1.20.x page was found to re-read.
# Cilium says of a newer Kubernetes that is not listed that it "will depend on the
# backward compatibility offered by Kubernetes": a warning; an older one is refused.
CILIUM_TESTED_KUBERNETES: dict[tuple[int, int], tuple[tuple[int, int], ...]] = {
    (1, 18): ((1, 30), (1, 31), (1, 32), (1, 33)),
    (1, 19): ((1, 32), (1, 33), (1, 34), (1, 35)),
    (1, 20): ((1, 33), (1, 34), (1, 35), (1, 36)),
}

# End of life of each Kubernetes minor (https://kubernetes.io/releases/ and
# https://kubernetes.io/releases/patch-releases/). Minors still maintained with no
# published date are absent.
KUBERNETES_END_OF_LIFE: dict[tuple[int, int], date] = {
    (1, 31): date(2025, 10, 28),
    (1, 32): date(2026, 2, 28),
    (1, 33): date(2026, 6, 28),
    (1, 34): date(2026, 10, 27),
    (1, 35): date(2027, 2, 28),
}


def today() -> date:
    """The date end-of-life warnings are judged against (tests set it)."""
    return date.today()


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
