"""The upstream release binaries `tools install` downloads when Go is absent, as data:
(tool, version, OS, arch) -> URL, published SHA-256 and the binary's path in the archive.

Every SHA-256 is the one the project publishes next to the file (read 2026-11-28; this
machine cannot reach the release hosts, so each was read from copies of the published
file or page, see CHECKSUM_SOURCES). A tool or architecture whose published checksum could
not be read has no entry, and UNAVAILABLE says why: it is never downloaded unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    url: str
    sha256: str
    member: str | None = None  # the binary's path inside the .tar.gz; None: the file is the binary


_KUBECONFORM = "https://github.com/yannh/kubeconform/releases/download/v0.7.0"
_HELM = "https://get.helm.sh"
_KUSTOMIZE = "https://github.com/kubernetes-sigs/kustomize/releases/download/kustomize%2Fv5.8.1"
_SOPS = "https://github.com/getsops/sops/releases/download/v3.13.3"


def _kubeadm(version: str, arch: str, sha256: str) -> tuple[tuple[str, str, str, str], Artifact]:
    return ("kubeadm", f"v{version}", "linux", arch), Artifact(f"https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubeadm", sha256)


ARTIFACTS: dict[tuple[str, str, str, str], Artifact] = {
    ("kubeconform", "v0.7.0", "linux", "amd64"): Artifact(
        f"{_KUBECONFORM}/kubeconform-linux-amd64.tar.gz", "c31518ddd122663b3f3aa874cfe8178cb0988de944f29c74a0b9260920d115d3", "kubeconform"
    ),
    ("kubeconform", "v0.7.0", "linux", "arm64"): Artifact(
        f"{_KUBECONFORM}/kubeconform-linux-arm64.tar.gz", "cc907ccf9e3c34523f0f32b69745265e0a6908ca85b92f41931d4537860eb83c", "kubeconform"
    ),
    ("helm", "v3.22.0", "linux", "amd64"): Artifact(
        f"{_HELM}/helm-v3.22.0-linux-amd64.tar.gz", "1e4ab49e429626cf6c6958d914248b78c9730803c2751b87627e171dc800e7bb", "linux-amd64/helm"
    ),
    ("helm", "v3.22.0", "linux", "arm64"): Artifact(
        f"{_HELM}/helm-v3.22.0-linux-arm64.tar.gz", "f14e804dfee240f55525b667488fe9adca349e63e00c9af634c0beb1421ac310", "linux-arm64/helm"
    ),
    ("kustomize", "v5.8.1", "linux", "amd64"): Artifact(
        f"{_KUSTOMIZE}/kustomize_v5.8.1_linux_amd64.tar.gz", "029a7f0f4e1932c52a0476cf02a0fd855c0bb85694b82c338fc648dcb53a819d", "kustomize"
    ),
    ("kustomize", "v5.8.1", "linux", "arm64"): Artifact(
        f"{_KUSTOMIZE}/kustomize_v5.8.1_linux_arm64.tar.gz", "0953ea3e476f66d6ddfcd911d750f5167b9365aa9491b2326398e289fef2c142", "kustomize"
    ),
    ("sops", "v3.13.3", "linux", "amd64"): Artifact(
        f"{_SOPS}/sops-v3.13.3.linux.amd64", "e5bec3346a873ae91d871550f3e698c1aad962aff462a080e40f25fde17fef6b"
    ),
    ("sops", "v3.13.3", "linux", "arm64"): Artifact(
        f"{_SOPS}/sops-v3.13.3.linux.arm64", "53b0abacd38ef1b12a66d6c100956691b9cefce018d91f81e73ddf7438b94d77"
    ),
    **dict(
        (
            _kubeadm("1.34.4", "amd64", "b967f1fa0e36621c402d38bb560eb4a943954d5cf5a00e5150842f6f5da73455"),
            _kubeadm("1.34.4", "arm64", "d8028b7e8c8d6c9b3fc3da6bc88d4d0cfb33df1b4b026a7d6e8c35d1471c9f6e"),
            _kubeadm("1.35.4", "amd64", "0c0497da793f8897c14e45340da919534b615294a1aab69dc1998896c0f11145"),
            _kubeadm("1.35.4", "arm64", "e8f6b5bee3e2c8b5965f4ae65c2ae04e3f9f426d2458a1e2f159e824d419d92c"),
            _kubeadm("1.36.4", "amd64", "10d054585907f2c8bb823c84f6a66b3bd2a474c3d795475f04e9a44f78650fe6"),
            _kubeadm("1.36.4", "arm64", "6a849c07d3e1c708f5c40f1ac8be03a56124204dfc7e1931e4113634019c0dad"),
        )
    ),
}

# Where each recorded SHA-256 is published, and where it was read.
CHECKSUM_SOURCES: dict[str, str] = {
    "kubeconform": f"{_KUBECONFORM}/CHECKSUMS; read in several public repositories that pin it from there, which agree",
    "helm": "get.helm.sh/helm-v3.22.0-linux-*.tar.gz.sha256sum, as quoted by the v3.22.0 release notes (github.com/helm/helm/releases/tag/v3.22.0)",
    "kustomize": f"{_KUSTOMIZE}/checksums.txt; read in several public repositories that pin it from there, which agree",
    "sops": f"{_SOPS}/sops-v3.13.3.checksums.txt; read in several public repositories that pin it from there, which agree",
    "kubeadm": "dl.k8s.io/release/vX.Y.Z/bin/linux/ARCH/kubeadm.sha256, as recorded by kubernetes-sigs/kubespray "
    "roles/kubespray_defaults/vars/main/checksums.yml (commit 46dbdd3, 2026-08-21), which reads them from dl.k8s.io",
}

# Why a pinned tool has no download path: without Go it cannot be installed.
UNAVAILABLE: dict[str, str] = {
    "gobgp": "GoBGP's release SHA-256 file could not be read when the data was recorded",
    "gobgpd": "GoBGP's release SHA-256 file could not be read when the data was recorded",
    "age-keygen": "age releases publish a Sigsum proof, no SHA-256 file",
}
