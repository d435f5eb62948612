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
