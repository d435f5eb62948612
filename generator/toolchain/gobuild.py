"""Building a pinned tool from its Go module.

`go install PACKAGE@VERSION` builds most tools. It cannot build a command of
k8s.io/kubernetes (kubeadm): that module requires its staging modules (k8s.io/api,
k8s.io/client-go, ...) at v0.0.0 and points them at ./staging with replace directives,
which only apply when k8s.io/kubernetes is the main module. So a scratch consumer module
requires k8s.io/kubernetes vX.Y.Z, replaces every staging module with its published
release v0.Y.Z, and `go build`s the command from there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from .. import tools

KUBERNETES_MODULE = "k8s.io/kubernetes"
BUILD_TIMEOUT = 3600  # a cold kubeadm build downloads and compiles hundreds of packages


def is_kubernetes_command(package: str) -> bool:
    return package.startswith(KUBERNETES_MODULE + "/cmd/")


def binary_name(package: str) -> str:
    """The file `go install` writes: the last path element, or the one before a major
    version suffix (sigs.k8s.io/kustomize/kustomize/v5 -> kustomize)."""
    parts = package.split("/")
    return parts[-2] if len(parts) > 1 and re.fullmatch(r"v[0-9]+", parts[-1]) else parts[-1]


def go_install(go: Path, package: str, version: str, gobin: Path) -> Path:
    """`go install PACKAGE@VERSION` into `gobin`; the binary's path."""
    tools.run([go, "install", f"{package}@{version}"], env={"GOBIN": str(gobin)}, timeout=BUILD_TIMEOUT)
    return gobin / binary_name(package)


def kubernetes_release(version: str) -> tuple[int, int]:
    """(minor, patch) of a Kubernetes release version such as v1.35.4."""
    m = re.fullmatch(r"v?1\.([0-9]+)\.([0-9]+)", version)
    if not m:
        raise ValueError(f"not a Kubernetes release version: {version!r} (want e.g. 1.35.4)")
    return int(m.group(1)), int(m.group(2))


def upstream_go_mod(go: Path, version: str) -> str:
    """k8s.io/kubernetes's own go.mod at `version`, fetched through the module cache."""
    minor, patch = kubernetes_release(version)
    info = json.loads(tools.run([go, "mod", "download", "-json", f"{KUBERNETES_MODULE}@v1.{minor}.{patch}"], timeout=BUILD_TIMEOUT).stdout)
    return Path(info["GoMod"]).read_text()


def render_go_mod(version: str, upstream: str) -> str:
    """The scratch module's go.mod: upstream's go/godebug lines, a requirement on
    k8s.io/kubernetes and one replace per staging module upstream redirects to ./staging."""
    minor, patch = kubernetes_release(version)
    staging = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", upstream, re.M)
    if not staging:
        raise ValueError("no staging replace directives found in k8s.io/kubernetes go.mod")
    # Same language version and GODEBUG defaults as upstream, so runtime behaviour matches.
    directives = re.findall(r"^(?:go|godebug) .*$", upstream, re.M)
    lines = ["module clusterforge.local/kubernetes-build", "", *directives, ""]
    lines.append(f"require {KUBERNETES_MODULE} v1.{minor}.{patch}")
    lines += ["", "replace ("]
    lines += [f"\t{mod} => {mod} v0.{minor}.{patch}" for mod in staging]
    lines += [")", ""]
    return "\n".join(lines)


def tools_go(package: str) -> str:
    """tools.go: its build tag keeps it out of every build; it only tells `go mod tidy`
    which package (a main package, hence not importable for real) the module needs."""
    return f'//go:build tools\n\npackage tools\n\nimport _ "{package}"\n'


def ldflags(version: str) -> str:
    """Stamp the version the way hack/lib/version.sh does, so `kubeadm version -o short`
    reports it (and kubeadm defaults kubernetesVersion to it) instead of v0.0.0-master.
    -s -w strips symbols as upstream release builds do; the build info stays."""
    minor, patch = kubernetes_release(version)
    pkg = "k8s.io/component-base/version"
    return " ".join(
        [f"-X {pkg}.gitVersion=v1.{minor}.{patch}", f"-X {pkg}.gitMajor=1", f"-X {pkg}.gitMinor={minor}",
         f"-X {pkg}.gitTreeState=clean", "-s -w"]
    )


def build_kubernetes_command(go: Path, package: str, version: str, out: Path, workdir: Path) -> Path:
    """Build a command of k8s.io/kubernetes `version` (kubeadm) into `out`, with `workdir`
    as the scratch module."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text(render_go_mod(version, upstream_go_mod(go, version)))
    (workdir / "tools.go").write_text(tools_go(package))
    tools.run([go, "mod", "tidy"], cwd=workdir, timeout=BUILD_TIMEOUT)
    # CGO off as upstream builds kubeadm: a static binary independent of the host libc.
    args = [go, "build", "-trimpath", "-ldflags", ldflags(version), "-o", out.absolute(), package]
    tools.run(args, cwd=workdir, env={"CGO_ENABLED": "0"}, timeout=BUILD_TIMEOUT)
    return out
