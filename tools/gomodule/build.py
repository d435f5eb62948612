"""Build the binaries of a Go module whose go.mod has replace directives.

`go install PACKAGE@VERSION` refuses a module whose go.mod has replace directives
(etcd's server, Flux's controllers, cilium, k8s.io/kubernetes all have some), since
they only apply when that module is the main module. So, as tools/kubeadm/build.py
does for kubeadm, we write a scratch consumer module that requires the module and
repeats its replace directives: a directive to another module is copied; one to a
local folder (etcd's ../api, Flux's ./api, Kubernetes' ./staging/...) becomes the
published release of that module, at the pin's `local_version`. A build may also
carry a Helm chart of the module's source (cilium's install/kubernetes/cilium), packaged
with the pinned helm into a reproducible archive recorded with its source.

Stdlib only; `nox -s tools` runs it for every build, skipping those up to date:
    python tools/gomodule/build.py all --kubernetes 1.35.4 --out-dir .tools/bin
    python tools/gomodule/build.py etcd --out-dir .tools/bin
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pins():
    spec = importlib.util.spec_from_file_location("clusterforge_toolpins", ROOT / "generator" / "toolpins.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("clusterforge_toolpins", module)  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


def _go(go: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    print("+", go, *args, flush=True)
    return subprocess.run([go, *args], cwd=cwd, env=env, check=True, text=True, stdout=subprocess.PIPE).stdout


def upstream_go_mod(module: str, version: str, go: str = "go", env: dict[str, str] | None = None) -> str:
    info = json.loads(_go(go, "mod", "download", "-json", f"{module}@{version}", env=env))
    return Path(info["GoMod"]).read_text()


def upstream_go_sum(module: str, version: str, go: str = "go", env: dict[str, str] | None = None) -> str:
    info = json.loads(_go(go, "mod", "download", "-json", f"{module}@{version}", env=env))
    path = Path(info["Dir"]) / "go.sum"
    return path.read_text() if path.is_file() else ""


# A replace directive, alone on its line or inside a replace ( ... ) block.
_REPLACE = re.compile(r"^(?:replace\s+)?\s*([\w./~-]+)(?:\s+(v\S+))?\s+=>\s+(\S+)(?:\s+(v\S+))?\s*$")


def replaces(upstream: str) -> list[tuple[str, str | None, str, str | None]]:
    """Every replace directive of a go.mod: (old path, old version, new path, new version)."""
    found, block = [], False
    for raw in upstream.splitlines():
        line = raw.split("//", 1)[0].strip()
        if block and line == ")":
            block = False
        elif line.startswith("replace (") or line == "replace (":
            block = True
        elif (block or line.startswith("replace ")) and "=>" in line:
            m = _REPLACE.fullmatch(line)
            if m is None:
                raise ValueError(f"unexpected replace directive in upstream go.mod: {raw!r}")
            found.append((m.group(1), m.group(2), m.group(3), m.group(4)))
    return found


def render_go_mod(build, upstream: str) -> str:
    """The scratch module's go.mod: upstream's go/godebug lines, a requirement on the module and
    its replace directives, local folders swapped for their published releases."""
    directives = re.findall(r"^(?:go|godebug) .*$", upstream, re.M)
    lines = [f"module clusterforge.local/{build.name}-build", "", *directives, "", f"require {build.module} {build.version}", ""]
    local = build.local_version or build.version
    for old, old_version, new, new_version in replaces(upstream):
        if "FORBIDDEN" in new:
            continue  # etcd's guard against importing its root module: nothing to build
        left = f"{old} {old_version}" if old_version else old
        if new.startswith(("./", "../")):
            lines.append(f"replace {left} => {old} {local}")
        else:
            lines.append(f"replace {left} => {new} {new_version}" if new_version else f"replace {left} => {new}")
    lines.append("")
    return "\n".join(lines)


def tools_go(build) -> str:
    # The build tag keeps it out of every build; it only tells `go mod tidy` which
    # packages (main packages, hence not importable for real) the module needs.
    imports = "\n".join(f'import _ "{package}"' for _, package in build.binaries)
    return f"//go:build tools\n\npackage tools\n\n{imports}\n"


def build(build, out_dir: Path, workdir: Path, go: str = "go", helm: str = "helm") -> list[Path]:
    env = {**os.environ, "CGO_ENABLED": "0"}  # static binaries, as upstream releases are
    if build.toolchain:
        env["GOTOOLCHAIN"] = build.toolchain
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text(render_go_mod(build, upstream_go_mod(build.module, build.version, go, env)))
    # Upstream's own checksums first: a replacement such as cilium's fork of gobgp is not in
    # the checksum database (sum.golang.org answers 404), so only upstream's go.sum vouches for it.
    (workdir / "go.sum").write_text(upstream_go_sum(build.module, build.version, go, env))
    (workdir / "tools.go").write_text(tools_go(build))
    # -e: a test-only dependency of a dependency that the proxy does not serve must not stop
    # the build; a missing build dependency still fails `go build` below.
    _go(go, "mod", "tidy", "-e", cwd=workdir, env=env)
    built = []
    for binary, package in build.binaries:
        out = (out_dir / binary).absolute()
        args = ["build", "-trimpath", "-ldflags", " ".join([*build.ldflags, "-s -w"]), "-o", str(out)]
        if build.tags:
            args += ["-tags", ",".join(build.tags)]
        _go(go, *args, package, cwd=workdir, env=env)
        built.append(out)
    if build.data:
        built.append(copy_data(build, out_dir, go, env))
    if build.chart:
        built.append(package_chart(build, out_dir, go, env, helm))
    return built


def copy_data(build, out_dir: Path, go: str, env: dict[str, str]) -> Path:
    """The module's data files (CRDs, kwok's stages) in one file beside its binary: the
    rehearsal uses those of the very release it runs, without Go or the module cache."""
    info = json.loads(_go(go, "mod", "download", "-json", f"{build.module}@{build.version}", env=env))
    root = Path(info["Dir"])
    files = []
    for rel in build.data[1]:
        found = sorted((root / rel).glob("*.yaml")) if (root / rel).is_dir() else [root / rel]
        if not found or not all(f.is_file() for f in found):
            raise SystemExit(f"{build.module}@{build.version} has no {rel}")
        files += found
    out = out_dir / _pins().data_file(build)
    out.write_text("".join(f"---\n# {build.module}@{build.version}/{f.relative_to(root)}\n{f.read_text()}" for f in files))
    return out


def package_chart(build, out_dir: Path, go: str, env: dict[str, str], helm: str) -> Path:
    """`helm package` of the module's chart folder, made reproducible (helm stamps each file
    with the time of packaging): the same members in helm's order, each dated the module
    version's time, gzip without a timestamp. Its source and sha256 go in a file beside it."""
    info = json.loads(_go(go, "mod", "download", "-json", f"{build.module}@{build.version}", env=env))
    name, folder = build.chart
    chart_dir = Path(info["Dir"]) / folder
    if not (chart_dir / "Chart.yaml").is_file():
        raise SystemExit(f"{build.module}@{build.version} has no chart in {folder}")
    tagged = json.loads(Path(info["Info"]).read_text())["Time"]  # the version's commit time, as the proxy serves it
    when = int(datetime.fromisoformat(tagged.replace("Z", "+00:00")).timestamp())
    out = out_dir / _pins().chart_file(build)
    with tempfile.TemporaryDirectory() as tmp:
        print("+", helm, "package", chart_dir, flush=True)
        subprocess.run([helm, "package", str(chart_dir), "--destination", tmp], check=True, stdout=subprocess.DEVNULL,
                       env={**env, "HELM_CACHE_HOME": tmp, "HELM_CONFIG_HOME": tmp, "HELM_DATA_HOME": tmp})
        packaged = Path(tmp) / out.name
        if not packaged.is_file():
            raise SystemExit(f"helm package did not write {out.name}: is {folder} the chart {name} {build.version}?")
        out.write_bytes(reproducible_archive(packaged.read_bytes(), when))
    stamped = subprocess.run([go, "version", "-m", helm], capture_output=True, text=True).stdout
    helm_version = _pins().buildinfo_version(stamped, "helm.sh/helm/v3/cmd/helm") or "of unknown version"
    source = {"chart": name, "version": build.version.removeprefix("v"), "module": f"{build.module}@{build.version}",
              "folder": folder, "packaged_by": f"helm {helm_version}", "sha256": hashlib.sha256(out.read_bytes()).hexdigest()}
    (out_dir / _pins().chart_source_file(build)).write_text(json.dumps(source, indent=1, sort_keys=True) + "\n")
    return out


def reproducible_archive(tgz: bytes, mtime: int) -> bytes:
    """The archive's members, in order, dated `mtime`; gzip'd with no name and no time."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as source, tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as target:
        for member in source.getmembers():
            member.mtime, member.pax_headers = mtime, {}
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def chart_up_to_date(build, out_dir: Path) -> bool:
    """The archive is there and is the one its source file records."""
    pins = _pins()
    archive, source = out_dir / pins.chart_file(build), out_dir / pins.chart_source_file(build)
    if not archive.is_file() or not source.is_file():
        return False
    recorded = json.loads(source.read_text())
    return recorded.get("module") == f"{build.module}@{build.version}" and recorded.get("sha256") == hashlib.sha256(archive.read_bytes()).hexdigest()


def up_to_date(build, out_dir: Path, go: str) -> bool:
    """Every binary of the build carries the pinned module version (as `go version -m` reads
    it) and its data file is there: nothing to rebuild."""
    pins = _pins()
    for binary, package in build.binaries:
        path = out_dir / binary
        if not path.is_file():
            return False
        done = subprocess.run([go, "version", "-m", str(path)], capture_output=True, text=True)
        if done.returncode or pins.buildinfo_version(done.stdout, package) != build.version:
            return False
    return (not build.data or (out_dir / pins.data_file(build)).is_file()) and (not build.chart or chart_up_to_date(build, out_dir))


def main(argv: list[str] | None = None) -> int:
    pins = _pins()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", help="a build of generator/toolpins.py, or `all` (each skipped when up to date): "
                    + ", ".join(pins.module_builds()))
    ap.add_argument("--kubernetes", default=pins.KUBERNETES_VERSION)
    ap.add_argument("--cilium", default=pins.CILIUM_VERSION)
    ap.add_argument("--out-dir", type=Path, required=True)
    ap.add_argument("--workdir", type=Path, help="scratch module dir (default: .tools/build/NAME-VERSION)")
    ap.add_argument("--go", default="go")
    ap.add_argument("--helm", help="the pinned helm that packages a build's chart (default: OUT_DIR/helm)")
    a = ap.parse_args(argv)
    helm = a.helm or str(a.out_dir / "helm")
    builds = pins.module_builds(a.kubernetes, a.cilium)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    if a.name == "all":
        for b in builds.values():
            if up_to_date(b, a.out_dir, a.go):
                print(f"{b.name} {b.version} already built", flush=True)
            else:
                build(b, a.out_dir, Path(".tools/build") / f"{b.name}-{b.version}", a.go, helm)
        return 0
    b = builds[a.name]
    build(b, a.out_dir, a.workdir or Path(".tools/build") / f"{b.name}-{b.version}", a.go, helm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
