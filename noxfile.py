"""Developer and CI entry points.

    nox -s tools                    # pinned Go tools + kubeadm + the rehearsal's binaries, default versions
    nox -s tools -- 1.34.4 1.35.4   # ... + kubeadm for each given version
    nox -s mutants                  # mutation testing of every module, table in docs/mutation.md
    nox -s mutants -- rules writer  # ... of some modules (rules, writer, render, checks)
    nox -s mutants_gate             # rules and writer (to join CI once measured on the hardened writer)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import nox

ROOT = Path(__file__).resolve().parent
TOOLS_BIN = ROOT / ".tools" / "bin"
TOOLS_BUILD = ROOT / ".tools" / "build"


def _load(name: str, path: Path) -> ModuleType:
    """Import a stdlib-only module by path: the package need not be installed for `nox -s tools`."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


pins = _load("clusterforge_toolpins", ROOT / "generator" / "toolpins.py")


def _go(session: nox.Session) -> str:
    go = shutil.which("go")
    if go is None:
        session.error("go not found: the pinned tools are built from source (Go >= 1.25)")
    return go


def _built_version(go: str, binary: Path, package: str) -> str | None:
    """Module version stamped into an existing binary, so up-to-date tools are not rebuilt."""
    if not binary.is_file():
        return None
    out = subprocess.run([go, "version", "-m", str(binary)], capture_output=True, text=True)
    return pins.buildinfo_version(out.stdout, package) if out.returncode == 0 else None


def install_go_tools(session: nox.Session) -> None:
    go = _go(session)
    for tool in pins.GO_TOOLS.values():
        if _built_version(go, TOOLS_BIN / tool.name, tool.package) == tool.version:
            session.log(f"{tool.name} {tool.version} already built")
            continue
        session.run(go, "install", f"{tool.package}@{tool.version}", env={"GOBIN": str(TOOLS_BIN)}, external=True)


def build_kubeadm(session: nox.Session, kubernetes_version: str) -> None:
    go = _go(session)
    version = kubernetes_version.removeprefix("v")
    out = TOOLS_BIN / pins.kubeadm_binary(version)
    if _built_version(go, out, pins.KUBEADM_PACKAGE) == f"v{version}":
        session.log(f"{out.name} already built")
        return
    session.run(
        sys.executable, str(ROOT / "tools" / "kubeadm" / "build.py"), version,
        "--out", str(out), "--workdir", str(TOOLS_BUILD / out.name), "--go", go,
        external=True,
    )


# --- the rehearsal's builds (clusterforge rehearse) -------------------------------------
# A separate step of `nox -s tools`, to merge with `clusterforge tools install`: etcd, the
# control plane and kubectl per Kubernetes version, Flux's controllers (with their CRDs), the
# Cilium operator of the default Cilium version. tools/gomodule/build.py skips a build whose
# binaries already carry the pinned module version.


def build_modules(session: nox.Session, kubernetes_version: str) -> None:
    session.run(
        sys.executable, str(ROOT / "tools" / "gomodule" / "build.py"), "all", "--kubernetes", kubernetes_version,
        "--out-dir", str(TOOLS_BIN), "--go", _go(session), external=True,
    )


@nox.session(python=False)
def tools(session: nox.Session) -> None:
    """Build the pinned Go tools and kubeadm (Kubernetes versions as arguments) into .tools/bin,
    and the rehearsal's binaries for each of those versions."""
    TOOLS_BIN.mkdir(parents=True, exist_ok=True)
    install_go_tools(session)
    for version in session.posargs or [pins.KUBERNETES_VERSION]:
        build_kubeadm(session, version)
    for version in session.posargs or [pins.KUBERNETES_VERSION]:
        build_modules(session, version)  # the rehearsal's step


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite, with every external tool required (CI=true fails on a missing one)."""
    session.install("-e", ".[test]")
    env = {"CLUSTERFORGE_TOOLS_DIR": str(TOOLS_BIN)}
    if session.env.get("CI") or os.environ.get("CI"):
        env["CLUSTERFORGE_FUZZ_EXAMPLES"] = "2000"
        env["CLUSTERFORGE_PROPERTY_EXAMPLES"] = "10"  # each validates a repository with the real tools
    session.run("pytest", *session.posargs, env=env)


def run_mutation(session: nox.Session, *args: str) -> None:
    session.install("-e", ".[test]")
    env = {"CLUSTERFORGE_TOOLS_DIR": str(TOOLS_BIN)}
    session.run("python", "tests/mutants/mutation.py", *args, env=env)


@nox.session
def mutants(session: nox.Session) -> None:
    """Mutation testing with mutmut of rules.py, writer.py, render/ and validate/checks/ (or the modules
    given: `nox -s mutants -- render`): the score of each, every surviving mutant, the table in
    docs/mutation.md updated; fails when a module kills less than 90 % of its non-equivalent mutants."""
    run_mutation(session, "--docs", "docs/mutation.md", *session.posargs)


@nox.session
def mutants_gate(session: nox.Session) -> None:
    """The mutation score of rules.py and writer.py, which CI requires on every submission (90 %)."""
    run_mutation(session, "rules", "writer")


def demo_commands(target: Path) -> list[list[str]]:
    """The demo's clusterforge commands (tests/validate/test_offline_runs.py runs them with no network)."""
    return [["new", str(target), "--example", "--no-input"], ["validate", "-C", str(target)]]


@nox.session
def demo(session: nox.Session) -> None:
    """The main job on the embedded example: render the reference home lab and validate it,
    offline: the package carries the schemas and the chart archive its default needs."""
    session.install("-e", ".")
    target = ROOT / "build" / "koedo-lab"
    shutil.rmtree(target, ignore_errors=True)
    env = {"CLUSTERFORGE_CACHE_DIR": str(ROOT / "build" / "cache"), "CLUSTERFORGE_TOOLS_DIR": str(TOOLS_BIN)}
    for command in demo_commands(target):
        session.run("clusterforge", *command, env=env)


@nox.session
def bench(session: nox.Session) -> None:
    """Render and validate N reference clusters, cold and warm caches (`nox -s bench -- --clusters 1 10 50`)."""
    session.install("-e", ".")
    session.run("python", "tests/benchmarks/bench.py", *session.posargs, env={"CLUSTERFORGE_TOOLS_DIR": str(TOOLS_BIN)})
