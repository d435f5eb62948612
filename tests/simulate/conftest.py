"""Fixtures of the simulation tests: rendered repositories (once per module) and the
check that network namespaces can be made here (a failure in CI, a skip elsewhere)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator import repo, tools
from generator.errors import ToolMissing
from generator.simulate import run
from generator.simulate.namespaces import NamespacesUnavailable, Topology

DATA = Path(__file__).parents[1] / "data"
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")


@pytest.fixture(scope="module")
def ebgp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """eBGP to an FRR on the node subnet and a BIRD one hop away (multihop, TCP-MD5)."""
    path = tmp_path_factory.mktemp("ebgp") / "rack"
    repo.new(path, (DATA / "ebgp.yaml").read_text())
    return path


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(f"CI must provide what the simulation needs: {message}")
    pytest.skip(message)


@pytest.fixture(scope="session")
def namespaces() -> None:
    """Root, network and PID namespaces, and every daemon the simulation runs."""
    for tool in ("ip", "keepalived", "haproxy", "vtysh", "bird", "birdc", "gobgpd", "gobgp", "openssl", "curl", "ss"):
        try:
            tools.require(tool)
        except ToolMissing as e:
            _unavailable(str(e))
    if not Path("/usr/lib/frr/bgpd").is_file():
        _unavailable("FRR's bgpd is missing (apt-get install frr)")
    try:
        run.require_root_linux()
        topology = Topology.create()
        try:
            topology.machine("probe")
        finally:
            topology.close()
    except NamespacesUnavailable as e:
        _unavailable(str(e))
