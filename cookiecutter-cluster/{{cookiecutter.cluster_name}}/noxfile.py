"""Checks of this cluster repository, run by CI and before a merge:

    nox                      # = nox -s render_check validate
    nox -s tools             # clusterforge tools install: the pinned tools and this cluster's kubeadm
                             # (built with Go if on PATH, else checked release binaries; needs network)

clusterforge is installed at the version that generated this repository
(Renovate bumps the pin, and with it every pinned tool); set CLUSTERFORGE_SPEC
to any pip requirement, such as the path of a clusterforge checkout, to use
another. Environment:

    CLUSTERFORGE_TOOLS_DIR     where `nox -s tools` puts the tools and clusterforge looks first
                               (default: $XDG_CACHE_HOME/clusterforge/tools/bin, then PATH)
    CLUSTERFORGE_CACHE_DIR     chart and schema caches (default: ~/.cache/clusterforge)
    CLUSTERFORGE_CHARTS_MIRROR a Helm repository serving the same charts (default: each release's own)
    CLUSTERFORGE_SCHEMAS_FROM  a CRD schema catalog folder or URL (default: the datreeio catalog)
"""

from __future__ import annotations

import os

import nox

CLUSTERFORGE = os.environ.get("CLUSTERFORGE_SPEC") or "clusterforge=={{ clusterforge_version }}"

nox.options.sessions = ["render_check", "validate"]


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
    """Install the pinned tools and the kubeadm of cluster.yaml's Kubernetes version
    (into $CLUSTERFORGE_TOOLS_DIR, else the per-user tools folder)."""
    session.install(CLUSTERFORGE)
    session.run("clusterforge", "tools", "install")
