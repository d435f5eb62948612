"""Checks of this cluster repository, run by CI and before a merge:

    nox                      # = nox -s render_check validate
    nox -s tools             # build the pinned tools into .tools/bin (needs Go and network)

clusterforge is installed at the version that generated this repository
(Renovate bumps the pin, and with it every pinned tool); set CLUSTERFORGE_SPEC
to any pip requirement, such as the path of a clusterforge checkout, to use
another. Environment:

    CLUSTERFORGE_TOOLS_DIR     where the tools are (default: .tools/bin, then PATH)
    CLUSTERFORGE_CACHE_DIR     chart and schema caches (default: ~/.cache/clusterforge)
    CLUSTERFORGE_CHARTS_MIRROR a Helm repository serving the same charts (default: each release's own)
    CLUSTERFORGE_SCHEMAS_FROM  a CRD schema catalog folder or URL (default: the datreeio catalog)
"""

from __future__ import annotations

import hashlib
import os
import platform
import urllib.request
from pathlib import Path

import nox

CLUSTERFORGE = os.environ.get("CLUSTERFORGE_SPEC") or "clusterforge=={{ clusterforge_version }}"
TOOLS_BIN = Path(os.environ.get("CLUSTERFORGE_TOOLS_DIR") or Path(__file__).resolve().parent / ".tools" / "bin")

nox.options.sessions = ["render_check", "validate"]

# Run in the session's Python, where clusterforge knows its pins: one line per tool
# that is missing or at another version ("go PACKAGE@VERSION" or "kubeadm VERSION").
MISSING_TOOLS = """
from pathlib import Path
from generator import loader, tools, toolpins
version = loader.check_file(Path("cluster.yaml")).inventory.kubernetes.version
for name, tool in toolpins.GO_TOOLS.items():
    if not tools.probe(name).ok:
        print("go", f"{tool.package}@{tool.version}")
if not tools.probe("kubeadm", kubernetes_version=version).ok:
    print("kubeadm", version)
"""


@nox.session
def render_check(session: nox.Session) -> None:
    """Every rendered file is exactly what cluster.yaml renders to."""
    session.install(CLUSTERFORGE)
    session.run("clusterforge", "render", "--check")


@nox.session
def validate(session: nox.Session) -> None:
    """Fill the chart and schema caches, then run every validator with the real tools."""
    session.install(CLUSTERFORGE)
    mirror = os.environ.get("CLUSTERFORGE_CHARTS_MIRROR")
    catalog = os.environ.get("CLUSTERFORGE_SCHEMAS_FROM")
    session.run("clusterforge", "charts", "pull", *(["--mirror", mirror] if mirror else []))
    session.run("clusterforge", "schemas", "pull", *(["--from", catalog] if catalog else []))
    # In CI (which sets CI=true) a checker skipped for want of its daemon fails the run.
    session.run("clusterforge", "validate", *(["--strict"] if os.environ.get("CI") else []))


@nox.session
def tools(session: nox.Session) -> None:
    """Build the pinned Go tools and fetch this cluster's kubeadm into the tools folder."""
    session.install(CLUSTERFORGE)
    missing = session.run("python", "-c", MISSING_TOOLS, silent=True) or ""
    TOOLS_BIN.mkdir(parents=True, exist_ok=True)
    for line in missing.splitlines():
        kind, ref = line.split()
        if kind == "go":
            session.run("go", "install", ref, env={"GOBIN": str(TOOLS_BIN)}, external=True)
        else:
            fetch_kubeadm(session, ref)


def fetch_kubeadm(session: nox.Session, version: str) -> None:
    """The release binary from dl.k8s.io, checked against its published SHA-256."""
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    url = f"https://dl.k8s.io/release/v{version}/bin/linux/{arch}/kubeadm"
    session.log(f"downloading {url}")
    with urllib.request.urlopen(url + ".sha256") as response:
        expected = response.read().decode().split()[0]
    with urllib.request.urlopen(url) as response:
        binary = response.read()
    if hashlib.sha256(binary).hexdigest() != expected:
        session.error(f"{url} does not match its published SHA-256")
    target = TOOLS_BIN / f"kubeadm-v{version}"
    target.write_bytes(binary)
    target.chmod(0o755)
