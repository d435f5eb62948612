"""Cross-file agreement on rendered repositories: clean ones pass, and each check names
the file a person broke."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from generator import cli, loader, repo
from generator.render import layout
from generator.validate.base import Context, Result
from generator.validate.checks import consistency
from support import copy, edit

from . import ctx_of, failures, run

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


# --- comments, odd sources, results whole -------------------------------------------------------


def test_commented_out_lines_say_nothing() -> None:
    """Each file's own comment marker: `#` in haproxy.cfg, `!` in keepalived.conf."""
    assert consistency.haproxy_servers("backend b\n    server cp1 10.0.0.1:6443 check\n    # server cp9 10.0.0.9:6443 check\n") == {(IPv4Address("10.0.0.1"), 6443)}
    assert consistency.haproxy_binds("frontend f\n    bind 10.0.0.4:6443\n    # bind 10.0.0.5:6443\n") == ["10.0.0.4:6443"]
    conf = "vrrp_instance VI_1 {\n    virtual_ipaddress {\n        10.0.0.4/24 dev ens160\n        ! 10.0.0.5/24 dev ens160\n    }\n}\n"
    assert consistency.keepalived_vips(conf) == ["10.0.0.4"]


def test_argocd_release_reads_source_and_sources(tmp_path: Path) -> None:
    app = tmp_path / layout.ARGOCD_DIR / "apps" / "a.yaml"
    app.parent.mkdir(parents=True)
    app.write_text(
        "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: a}\n"
        "spec:\n  source: {chart: one, targetRevision: 1.0.0, helm: {valueFiles: [$values/a.yaml]}}\n"
        "---\napiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: b}\n"
        "spec:\n  sources:\n    - {chart: two, targetRevision: 2.0.0, helm: {valueFiles: [$values/b.yaml, c.yaml]}}\n    - {ref: values}\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\nspec: {source: {chart: three, targetRevision: 3.0.0}}\n"
    )
    ctx = Context(tmp_path, None, tmp_path / "cache")  # type: ignore[arg-type]  # argocd_release reads the files only
    assert consistency.argocd_release(ctx) == ({"a.yaml", "b.yaml", "c.yaml"}, {"1.0.0", "2.0.0"}, [f"{layout.ARGOCD_DIR}/apps/a.yaml"])


def test_the_vip_job_whole(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / layout.CILIUM_VALUES).unlink()
    job = consistency.vip_job(ctx_of(root))
    assert (job.check, job.extra_key) == (consistency.VIP, f"missing={layout.CILIUM_VALUES}")
    assert job.inputs[0] == layout.INVENTORY and layout.CILIUM_VALUES not in job.inputs
    results = {r.file: r for r in job.run()}
    hint = f"every client of the API must use the one VIP; {consistency.FIX}"
    assert results[layout.CILIUM_VALUES] == Result(consistency.VIP, layout.CILIUM_VALUES, False, "missing", hint)
    assert results[KEEPALIVED] == Result(consistency.VIP, KEEPALIVED, True)
    (root / layout.CILIUM_VALUES).write_text("# no values\n")
    [values] = [r for r in consistency.vip_job(ctx_of(root)).run() if r.file == layout.CILIUM_VALUES]
    assert values == Result(consistency.VIP, layout.CILIUM_VALUES, False, "k8sServiceHost:k8sServicePort is None:None, the API endpoint is 192.168.100.4:6443", hint)


def test_the_other_jobs_whole(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    drop_line(root, HAPROXY, "server cp3 ")
    drop_line(root, HAPROXY, "server cp2 ")
    ctx = ctx_of(root)
    backends = consistency.backend_jobs(ctx)
    assert [(j.check, j.inputs, j.extra_key) for j in backends] == [
        (consistency.BACKENDS, (layout.INVENTORY, f"loadbalancers/{n}/haproxy.cfg"), "missing=") for n in ("haproxy1", "haproxy2")
    ]
    assert [r for j in backends for r in j.run()] == [
        Result(consistency.BACKENDS, "loadbalancers/haproxy1/haproxy.cfg", True),
        Result(
            consistency.BACKENDS,
            HAPROXY,
            False,
            "control plane cp2 (192.168.100.12:6443) is not a backend server\ncontrol plane cp3 (192.168.100.13:6443) is not a backend server",
            consistency.FIX,
        ),
    ]
    seeds = consistency.seeds_job(ctx)
    assert (seeds.check, seeds.extra_key) == (consistency.SEEDS, "missing=")
    assert seeds.run()[0] == Result(consistency.SEEDS, "nodes/cp1", True)
    gitops = consistency.gitops_job(ctx)
    assert (gitops.check, gitops.inputs[:2]) == (consistency.GITOPS, (layout.INVENTORY, layout.CILIUM_BOOTSTRAP))
    assert gitops.run() == [Result(consistency.GITOPS, layout.CONTROLLERS_DIR, True)]


def test_the_gitops_job_whole(reference: Path, argocd: Path, tmp_path: Path) -> None:
    hint = f"a release that differs from the bootstrap install changes Cilium when GitOps adopts it; {consistency.FIX}"
    for name, source, directory in (("flux", reference, layout.CONTROLLERS_DIR), ("argocd", argocd, layout.ARGOCD_DIR)):
        root = copy(source, tmp_path / name)
        job = consistency.gitops_job(ctx_of(root))
        assert job.inputs == (layout.INVENTORY, layout.CILIUM_BOOTSTRAP, *sorted(p.relative_to(root).as_posix() for p in (root / directory).rglob("*.yaml")))
        assert (job.check, job.extra_key) == (consistency.GITOPS, "missing=")
        assert job.run() == [Result(consistency.GITOPS, directory, True)]
        (root / layout.CILIUM_VALUES).unlink()
        assert consistency.gitops_job(ctx_of(root)).run() == [
            Result(consistency.GITOPS, directory, False, f"the values file {layout.CILIUM_VALUES} does not exist", hint)
        ]
        (root / layout.CILIUM_BOOTSTRAP).unlink()
        job = consistency.gitops_job(ctx_of(root))
        assert job.extra_key == f"missing={layout.CILIUM_BOOTSTRAP}"
        assert job.run() == [Result(consistency.GITOPS, layout.CILIUM_BOOTSTRAP, False, "missing", consistency.FIX)]


def test_a_missing_seed_s_result_whole(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / "nodes/worker2/meta-data").unlink()
    job = consistency.seeds_job(ctx_of(root))
    assert (job.check, job.extra_key) == (consistency.SEEDS, "missing=nodes/worker2/meta-data")
    [failed] = [r for r in job.run() if not r.ok]
    assert failed == Result(consistency.SEEDS, "nodes/worker2", False, "node worker2 has no seed file meta-data", f"run `clusterforge render` to write the seeds; {consistency.FIX}")


def test_the_vip_job_checks_every_client(reference: Path) -> None:
    job = consistency.vip_job(ctx_of(reference))
    assert job.check == consistency.VIP
    assert {r.file for r in job.run()} == {
        *(f"loadbalancers/haproxy{n}/{f}" for n in (1, 2) for f in ("keepalived.conf", "haproxy.cfg")),
        *(p.relative_to(reference).as_posix() for p in (reference / "kubeadm").glob("*.yaml")),
        layout.CILIUM_VALUES,
    }


def test_the_bootstrap_install_s_values_and_version() -> None:
    script = (Path(__file__).parents[1] / "golden/koedo-lab-flux" / layout.CILIUM_BOOTSTRAP).read_text()
    assert consistency.bootstrap_install(script) == ("infrastructure/controllers/cilium/values.yaml", "1.19.6")
    bare = script.replace("--version 1.19.6", "").replace('--values "${repo_root}/infrastructure/controllers/cilium/values.yaml"', "")
    assert consistency.bootstrap_install(bare) == (None, None)


def test_flux_release_reads_key_equals_path_entries(tmp_path: Path) -> None:
    """A configMapGenerator entry is `path` or `key=path`; a path may itself hold `=`."""
    controllers = tmp_path / layout.CONTROLLERS_DIR / "app"
    controllers.mkdir(parents=True)
    (controllers / "release.yaml").write_text(
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: app}\n"
        "spec:\n  chart: {spec: {chart: app, version: 1.2.3}}\n  valuesFrom: [{kind: ConfigMap, name: app-values}, {kind: Secret, name: s}]\n"
    )
    (controllers / "kustomization.yaml").write_text(
        "configMapGenerator:\n  - name: app-values\n    files: [values.yaml=sub/a=b.yaml, plain.yaml]\n  - name: other\n    files: [other.yaml]\n"
    )
    ctx = Context(tmp_path, None, tmp_path / "cache")  # type: ignore[arg-type]  # flux_release reads the files only
    values, versions, files = consistency.flux_release(ctx)
    app = f"{layout.CONTROLLERS_DIR}/app"
    assert (values, versions) == ({f"{app}/sub/a=b.yaml", f"{app}/plain.yaml"}, {"1.2.3"})
    assert sorted(files) == [f"{app}/kustomization.yaml", f"{app}/release.yaml"]


def test_the_bgp_job_whole(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    edit(root, RTX, "bgp autonomous-system 64513", "bgp autonomous-system 64514")
    [job] = consistency.bgp_jobs(ctx_of(root))
    assert (job.check, job.inputs, job.extra_key) == (consistency.BGP, (layout.INVENTORY, RTX), "missing=")
    assert job.run() == [Result(consistency.BGP, RTX, False, "the router's own AS is 64514, bgp.peers[rtx1220].asn is 64513",
                                f"the router and the cluster must agree on the BGP sessions; {consistency.FIX}")]
    (root / RTX).unlink()
    [job] = consistency.bgp_jobs(ctx_of(root))
    assert job.extra_key == f"missing={RTX}"
    assert job.run() == [Result(consistency.BGP, RTX, False, "missing: bgp.peers[rtx1220] needs its router configuration here", consistency.FIX)]


def test_missing_paths_are_listed_in_the_key(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / layout.CILIUM_VALUES).unlink()
    (root / "kubeadm/cp1-init.yaml").unlink()
    job = consistency._job(ctx_of(root), consistency.VIP, ["kubeadm/cp1-init.yaml", layout.CILIUM_VALUES, KEEPALIVED], lambda: [])
    assert (job.inputs, job.extra_key) == ((layout.INVENTORY, KEEPALIVED), f"missing=kubeadm/cp1-init.yaml,{layout.CILIUM_VALUES}")


def test_prefixes_the_cluster_announces(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    assert inv.bgp is not None
    assert consistency.expected_prefixes(inv) == {pool.cidr for pool in inv.load_balancer_pools}
    quiet = inv.model_copy(update={"bgp": inv.bgp.model_copy(update={"advertise": inv.bgp.advertise.model_copy(update={"load_balancer_ips": False})})})
    assert consistency.expected_prefixes(quiet) == set()
    both = inv.model_copy(update={"bgp": inv.bgp.model_copy(update={"advertise": inv.bgp.advertise.model_copy(update={"pod_cidrs": True})})})
    assert consistency.expected_prefixes(both) == {pool.cidr for pool in inv.load_balancer_pools} | {inv.kubernetes.pod_cidr}


def test_rtx_prefixes_with_host_bits_are_their_networks() -> None:
    view = consistency.parse_rtx("bgp export filter 1 include 192.168.101.1/24\n")
    assert view.prefixes == {IPv4Network("192.168.101.0/24")}
