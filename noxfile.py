"""Developer and CI entry points.

    nox -s tools                    # clusterforge tools install (pinned tools + kubeadm) and the rehearsal's binaries, into .tools/bin
    nox -s tools -- 1.34.4 1.35.4   # ... + kubeadm for each given version
    nox -s mutants                  # mutation testing of every module, table in docs/mutation.md
    nox -s mutants -- rules writer  # ... of some modules (rules, writer, render, checks)
    nox -s mutants_gate             # rules and writer, as CI runs it on every submission (the README's test command)
    nox -s docs                     # the documentation site, built strictly into build/site
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
TOOLS_BIN = ROOT / ".tools" / "bin"


@nox.session(reuse_venv=True)  # installing the package takes a minute (kubernetes-validate's 17,000 files)
def tools(session: nox.Session) -> None:
    """`clusterforge tools install` into .tools/bin: the pinned tools, and kubeadm for each
    Kubernetes version given as an argument (default: toolpins.KUBERNETES_VERSION); then the
    rehearsal's binaries for each of those versions (etcd, the control plane, kubectl, kwok,
    Flux's controllers, the Cilium operator, and the operator and chart of the Cilium patch
    release the rehearsal's update bumps to: tools/gomodule/build.py skips a build whose
    binaries already carry the pinned module version)."""
    session.install("-e", ".")
    versions = [arg for version in session.posargs for arg in ("--kubernetes", version)]
    session.run("clusterforge", "tools", "install", "--dir", str(TOOLS_BIN), *versions)
    go = shutil.which("go")
    if go is None:
        session.error("go not found: the rehearsal's binaries are built from their Go modules (Go >= 1.25)")
    build = ["python", str(ROOT / "tools" / "gomodule" / "build.py"), "all", "--out-dir", str(TOOLS_BIN), "--go", go]
    for version in session.posargs or [None]:  # None: the build's default, toolpins.KUBERNETES_VERSION
        session.run(*build, *(["--kubernetes", version] if version else []))


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
    """The mutation score of rules.py and writer.py, which CI requires on every submission (90 %):
    the last session of the README's test command, which .ci/run runs."""
    run_mutation(session, "rules", "writer")


def demo_commands(target: Path, strict: bool = False) -> list[list[str]]:
    """The demo's clusterforge commands (tests/validate/test_offline_runs.py runs them with no network);
    `strict` (CI) fails on a check skipped for want of its daemon."""
    return [["new", str(target), "--example", "--no-input"], ["validate", "-C", str(target), *(["--strict"] if strict else [])]]


@nox.session
def docs(session: nox.Session) -> None:
    """The project's documentation (English and Japanese): reference pages generated from the
    schema, the parser and the checks, then `mkdocs build --strict` into build/site."""
    session.install("-e", ".[docs]")
    session.run("python", "tools/docs/generate.py")
    session.run("mkdocs", "build", "--strict", env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def demo(session: nox.Session) -> None:
    """The main job on the embedded example: render the reference home lab and validate it,
    offline: the package carries the schemas and the chart archive its default needs."""
    session.install("-e", ".")
    target = ROOT / "build" / "koedo-lab"
    shutil.rmtree(target, ignore_errors=True)
    env = {"CLUSTERFORGE_CACHE_DIR": str(ROOT / "build" / "cache"), "CLUSTERFORGE_TOOLS_DIR": str(TOOLS_BIN)}
    for command in demo_commands(target, strict=bool(os.environ.get("CI"))):
        session.run("clusterforge", *command, env=env)


@nox.session
def bench(session: nox.Session) -> None:
    """Issue 10's speed targets on monorepos of 1, 10 and 50 distinct clusters, the raw-tool pipeline
    and flate measured in the same run; writes docs/benchmarks.md (`nox -s bench -- --clusters 1 10`)."""
    session.install("-e", ".")
    session.run("python", "tests/benchmarks/bench.py", *session.posargs, env={"CLUSTERFORGE_TOOLS_DIR": str(TOOLS_BIN)})
