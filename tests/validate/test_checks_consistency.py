"""Cross-file agreement on rendered repositories: clean ones pass, and each check names
the file a person broke."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import cli, repo
from generator.render import layout
from generator.validate.checks import consistency
from support import copy, edit

from . import failures, run

RTX = "routers/rtx1220/rtx.txt"
TOR_A = "routers/tor-a/frr.conf"
RS1 = "routers/rs1/bird.conf"
KEEPALIVED = "loadbalancers/haproxy1/keepalived.conf"
HAPROXY = "loadbalancers/haproxy2/haproxy.cfg"


@pytest.fixture(scope="module")
def argocd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("argocd") / "lab"
    repo.new(path, cli.example_text().replace("engine: flux", "engine: argocd"))
    return path


def drop_line(root: Path, path: str, containing: str) -> None:
    lines = (root / path).read_text().splitlines(keepends=True)
    kept = [line for line in lines if containing not in line]
    assert len(kept) == len(lines) - 1
    (root / path).write_text("".join(kept))


def test_clean_repositories_pass(reference: Path, variant: Path, argocd: Path) -> None:
    for root in (reference, variant, argocd):
        results = run(root, consistency.jobs)
        checks = {r.check for r in results}
        assert checks == {consistency.BGP, consistency.SEEDS, consistency.BACKENDS, consistency.VIP, consistency.GITOPS}
        assert failures(results) == {}, root


@pytest.mark.parametrize(
    ("fixture", "path", "old", "new", "says"),
    [
        ("reference", RTX, "bgp autonomous-system 64513", "bgp autonomous-system 64514", "own AS is 64514"),
        ("reference", RTX, "64512 192.168.100.34", "64999 192.168.100.34", "has AS 64999"),
        ("reference", RTX, "include 192.168.101.0/24", "include 192.168.102.0/24", "does not accept 192.168.101.0/24"),
        ("variant", TOR_A, "\nrouter bgp 65001\n", "\nrouter bgp 65002\n", "own AS is 65002"),
        ("variant", RS1, "neighbor 198.51.100.31 as 65010;", "neighbor 198.51.100.31 as 65011;", "has AS 65011"),
        ("variant", RS1, "local 198.51.100.4 as 65010;", "local 198.51.100.4 as 65011;", "own AS is 65011"),
    ],
)
def test_router_side_changed_alone(request: pytest.FixtureRequest, tmp_path: Path, fixture: str, path: str, old: str, new: str, says: str) -> None:
    root = copy(request.getfixturevalue(fixture), tmp_path)
    edit(root, path, old, new)
    failed = failures(run(root, consistency.bgp_jobs))
    assert list(failed) == [path]
    assert says in failed[path]


@pytest.mark.parametrize(
    ("fixture", "path", "address"),
    [("reference", RTX, "192.168.100.34"), ("variant", TOR_A, "198.51.100.32"), ("variant", RS1, "198.51.100.33")],
)
def test_a_node_removed_from_a_router(request: pytest.FixtureRequest, tmp_path: Path, fixture: str, path: str, address: str) -> None:
    root = copy(request.getfixturevalue(fixture), tmp_path)
    drop_line(root, path, f"neighbor {address}" if fixture == "variant" else f" {address} ")
    failed = failures(run(root, consistency.bgp_jobs))
    assert list(failed) == [path]
    assert f"no neighbor {address}" in failed[path]


def test_a_missing_router_file(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / RTX).unlink()
    assert "missing" in failures(run(root, consistency.bgp_jobs))[RTX]


def test_a_node_without_a_seed(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / "nodes/worker2/meta-data").unlink()
    failed = failures(run(root, consistency.jobs))
    assert failed == {"nodes/worker2": "node worker2 has no seed file meta-data"}


def test_a_control_plane_missing_from_haproxy(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    drop_line(root, HAPROXY, "server cp3 ")
    failed = failures(run(root, consistency.backend_jobs))
    assert list(failed) == [HAPROXY]
    assert "control plane cp3 (192.168.100.13:6443) is not a backend server" in failed[HAPROXY]


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        (KEEPALIVED, "192.168.100.4/24", "192.168.100.40/24"),
        (HAPROXY, "bind 192.168.100.4:6443", "bind 192.168.100.5:6443"),
        ("kubeadm/cp1-init.yaml", "controlPlaneEndpoint: 192.168.100.4:6443", "controlPlaneEndpoint: 192.168.100.44:6443"),
        ("kubeadm/worker3-join.yaml", "apiServerEndpoint: 192.168.100.4:6443", "apiServerEndpoint: 192.168.100.4:6444"),
        (layout.CILIUM_VALUES, "k8sServiceHost: 192.168.100.4", "k8sServiceHost: 192.168.100.14"),
    ],
)
def test_a_vip_typo(reference: Path, tmp_path: Path, path: str, old: str, new: str) -> None:
    root = copy(reference, tmp_path)
    edit(root, path, old, new)
    assert list(failures(run(root, consistency.jobs))) == [path]


@pytest.mark.parametrize(
    ("fixture", "path", "old", "new", "says"),
    [
        ("reference", layout.CILIUM_BOOTSTRAP, "--version 1.19.6", "--version 1.19.5", "bootstrap install 1.19.5"),
        ("reference", "infrastructure/controllers/cilium/kustomization.yaml", "- values.yaml", "- other-values.yaml", "other-values.yaml"),
        ("argocd", "argocd/apps/cilium.yaml", "$values/infrastructure/controllers/cilium/values.yaml", "$values/values.yaml", "values.yaml"),
        ("argocd", "argocd/apps/cilium.yaml", "targetRevision: 1.19.6", "targetRevision: 1.19.5", "chart version ['1.19.5']"),
    ],
)
def test_gitops_release_differs_from_the_bootstrap(
    request: pytest.FixtureRequest, tmp_path: Path, fixture: str, path: str, old: str, new: str, says: str
) -> None:
    root = copy(request.getfixturevalue(fixture), tmp_path)
    edit(root, path, old, new)
    failed = failures(run(root, lambda ctx: [consistency.gitops_job(ctx)]))
    assert len(failed) == 1
    assert says in next(iter(failed.values()))
