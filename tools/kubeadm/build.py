"""Build kubeadm for one Kubernetes version from the k8s.io/kubernetes module.

`go install k8s.io/kubernetes/cmd/kubeadm@vX.Y.Z` does not work: k8s.io/kubernetes
requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0 and
points them at ./staging with replace directives, which only apply when
k8s.io/kubernetes is the main module. So we generate a scratch consumer module
that requires k8s.io/kubernetes vX.Y.Z and replaces every staging module with its
published release v0.Y.Z, then `go build` kubeadm from it.

Stdlib only: noxfile.py loads this file by path, and it also runs on its own:
    python tools/kubeadm/build.py 1.35.4 --out .tools/bin/kubeadm-v1.35.4
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = "k8s.io/kubernetes/cmd/kubeadm"

# tools.go: the build tag keeps it out of every build; it only tells `go mod tidy`
# which package (a main package, hence not importable for real) the module needs.
TOOLS_GO = f"""//go:build tools

package tools

import _ "{PACKAGE}"
"""


def _split(version: str) -> tuple[int, int, int]:
    m = re.fullmatch(r"v?1\.(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"not a Kubernetes release version: {version!r} (want e.g. 1.35.4)")
    return 1, int(m.group(1)), int(m.group(2))


def _go(go: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    print("+", go, *args, flush=True)
    return subprocess.run([go, *args], cwd=cwd, env=env, check=True, text=True, stdout=subprocess.PIPE).stdout


def upstream_go_mod(version: str, go: str = "go") -> str:
    """k8s.io/kubernetes's own go.mod at `version`, fetched through the module cache."""
    info = json.loads(_go(go, "mod", "download", "-json", f"k8s.io/kubernetes@v{version.lstrip('v')}"))
    return Path(info["GoMod"]).read_text()


def render_go_mod(version: str, upstream: str) -> str:
    """The scratch module's go.mod: upstream's go/godebug lines, a requirement on
    k8s.io/kubernetes and one replace per staging module upstream redirects to ./staging."""
    _, minor, patch = _split(version)
    staging = re.findall(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", upstream, re.M)
    if not staging:
        raise ValueError("no staging replace directives found in k8s.io/kubernetes go.mod")
    # Same language version and GODEBUG defaults as upstream, so runtime behaviour matches.
    directives = re.findall(r"^(?:go|godebug) .*$", upstream, re.M)
    lines = ["module clusterforge.local/kubeadm-build", "", *directives, ""]
    lines.append(f"require k8s.io/kubernetes v1.{minor}.{patch}")
    lines += ["", "replace ("]
    lines += [f"\t{mod} => {mod} v0.{minor}.{patch}" for mod in staging]
    lines += [")", ""]
    return "\n".join(lines)


def ldflags(version: str) -> str:
    """Stamp the version the way hack/lib/version.sh does, so `kubeadm version -o short`
    reports it (and kubeadm defaults kubernetesVersion to it) instead of v0.0.0-master.
    -s -w strips symbols as upstream release builds do; the build info stays."""
    _, minor, patch = _split(version)
    pkg = "k8s.io/component-base/version"
    return " ".join(
        [f"-X {pkg}.gitVersion=v1.{minor}.{patch}", f"-X {pkg}.gitMajor=1", f"-X {pkg}.gitMinor={minor}",
         f"-X {pkg}.gitTreeState=clean", "-s -w"]
    )


def build(version: str, out: Path, workdir: Path, go: str = "go") -> Path:
    """Build kubeadm `version` into `out`, using `workdir` as the scratch module."""
    version = version.lstrip("v")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text(render_go_mod(version, upstream_go_mod(version, go)))
    (workdir / "go.sum").unlink(missing_ok=True)
    (workdir / "tools.go").write_text(TOOLS_GO)
    _go(go, "mod", "tidy", cwd=workdir)
    # CGO off as upstream builds kubeadm: a static binary independent of the host libc.
    env = {**os.environ, "CGO_ENABLED": "0"}
    out = out.absolute()
    _go(go, "build", "-trimpath", "-ldflags", ldflags(version), "-o", str(out), PACKAGE, cwd=workdir, env=env)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("version", help="Kubernetes version, e.g. 1.35.4")
    ap.add_argument("--out", type=Path, required=True, help="path of the kubeadm binary to write")
    ap.add_argument("--workdir", type=Path, help="scratch module dir (default: .tools/build/kubeadm-vX.Y.Z)")
    ap.add_argument("--go", default="go")
    a = ap.parse_args(argv)
    v = a.version.lstrip("v")
    build(v, a.out, a.workdir or Path(".tools/build") / f"kubeadm-v{v}", a.go)
    return 0


if __name__ == "__main__":
    sys.exit(main())
