"""`clusterforge rehearse` for real: the reference lab's bootstrap and Flux sync against a
local control plane with the real controllers and Cilium operator; each breakage fails
the rehearsal naming the object; a cluster.yaml change converges; nothing is left behind."""

from __future__ import annotations

import io
import json
import re
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import cli, repo, toolpins
from generator.errors import ToolMissing
from generator.rehearse import record, toolset
from generator.rehearse.run import Rehearsal
from generator.render import layout
from generator.validate import caches
from generator.validate.base import Result
from support import copy, descendants, edit, processes_mentioning

pytestmark = pytest.mark.tools
DATA = Path(__file__).parents[1] / "data"
IN_CI = os.environ.get("CI", "").lower() in ("true", "1")


@pytest.fixture(scope="session")
def rehearsal_tools() -> None:
    """Every binary the rehearsal runs, at the reference lab's versions (a failure in CI)."""
    try:
        toolset.require_all(toolpins.KUBERNETES_VERSION, toolpins.CILIUM_VERSION)
    except ToolMissing as e:
        if IN_CI:
            pytest.fail(f"CI must provide every tool: {e}")
        pytest.skip(str(e))


def failures(results: list[Result]) -> list[Result]:
    return [r for r in results if not r.ok]


def rehearse(root: Path, *, update: bool = False, kind: type[Rehearsal] = Rehearsal) -> tuple[list[Result], Rehearsal]:
    rehearsal = kind(root, update=update)
    results = rehearsal.run(sys.stderr)
    assert rehearsal.folder is not None and not rehearsal.folder.exists(), "the rehearsal's folder is left behind"
    assert processes_mentioning(str(rehearsal.folder)) == [], "a daemon is left running"
    return results, rehearsal


# --- the reference lab, through the CLI ---------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user cache every rehearsal here leaves its record for `simulate` in (not the real one)."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(caches.CACHE_ENV, str(path))
        yield path


@pytest.fixture(scope="module")
def reference_report(reference: Path, rehearsal_tools: None, cache: Path) -> dict:
    out = io.StringIO()
    code = cli.main(["rehearse", "-C", str(reference), "--format", "json"], out=out)
    report = json.loads(out.getvalue())
    report["exit_code"] = code
    return report


def lines(report: dict, check: str) -> list[dict]:
    found = [r for r in report["results"] if r["check"] == check]
    assert found, f"no report line for {check}"
    return found


def test_reference_lab_rehearses(reference_report: dict) -> None:
    assert [r for r in reference_report["results"] if not r["ok"]] == []
    assert reference_report["exit_code"] == 0


def test_flux_reconciles_every_kustomization_and_the_helmrelease(reference_report: dict) -> None:
    engine = [r["message"].split(":")[0] for r in lines(reference_report, "4. GitOps engine")]
    assert engine == [
        "HelmRelease kube-system/cilium",
        "Kustomization flux-system/flux-system",
        "Kustomization flux-system/infra-configs",
        "Kustomization flux-system/infra-controllers",
    ]


def test_the_helmrelease_upgrades_the_bootstrap_release(reference_report: dict) -> None:
    (adopted,) = lines(reference_report, "5. HelmRelease adopted the bootstrap release")
    assert "revision 1: superseded, Install complete" in adopted["message"]
    assert "revision 2: deployed, Upgrade complete" in adopted["message"]


def test_every_node_gets_its_bgp_config_from_the_operator(reference_report: dict) -> None:
    found = lines(reference_report, "7. CiliumBGPNodeConfig per node")
    assert sorted(r["message"].split(":")[0] for r in found) == [f"node {n}" for n in ("cp1", "cp2", "cp3", "worker1", "worker2", "worker3")]
    assert all("local AS64512, peers rtx1220 192.168.100.1 AS64513" in r["message"] for r in found)


def test_the_pool_serves_a_loadbalancer_service(reference_report: dict) -> None:
    (line,) = lines(reference_report, "6. LoadBalancer IPs from their pools")
    assert "192.168.101." in line["message"] and "pool default is 192.168.101.0/24" in line["message"]


def test_a_cluster_yaml_change_converges_with_nothing_else_changed(reference_report: dict) -> None:
    update, upgraded, *rollouts, operator, _old_pool, served = lines(reference_report, "8. git-driven update")
    assert update["message"].splitlines()[0].endswith("; cilium.version 1.19.6 -> 1.19.7")
    listed = update["message"].split("what changed in the cluster (the Kustomizations' objects and the Helm release's):\n")[1].split("\n")
    # The new pool, the old one made the default (each pool needs a selector otherwise), the
    # HelmRelease's chart version, and what the chart 1.19.7 renders differently: nothing else.
    assert listed == [
        "  added CiliumLoadBalancerIPPool rehearsal-added (the render)",
        "  changed CiliumLoadBalancerIPPool default (the render)",
        "  changed DaemonSet cilium (the chart 1.19.7)",
        "  changed DaemonSet cilium-envoy (the chart 1.19.7)",
        "  changed Deployment cilium-operator (the chart 1.19.7)",
        "  changed Deployment hubble-relay (the chart 1.19.7)",
        "  changed HelmRelease cilium (the render)",
    ]
    assert "revision 3: deployed, cilium-1.19.7, Upgrade complete" in upgraded["message"]
    assert "revision 2: superseded, cilium-1.19.6, Upgrade complete" in upgraded["message"]
    assert [r["message"].split(":")[0] for r in rollouts] == [
        "DaemonSet kube-system/cilium", "DaemonSet kube-system/cilium-envoy",
        "Deployment kube-system/cilium-operator", "Deployment kube-system/hubble-relay"]
    assert "6 of 6 pods updated and Ready under kwok, image quay.io/cilium/cilium:v1.19.7" in rollouts[0]["message"]
    assert "image quay.io/cilium/operator-generic:v1.19.7" in rollouts[2]["message"]
    assert operator["message"].startswith("cilium-operator 1.19.6 (pid ") and ", 1.19.7 (pid " in operator["message"]
    assert "192.168.102." in served["message"] and "pool rehearsal-added is 192.168.102.0/24" in served["message"]
    (line,) = lines(reference_report, "0. rehearsal")
    assert "chart cilium 1.19.7 for the update: packaged from github.com/cilium/cilium@v1.19.7 (install/kubernetes/cilium)" in line["message"]


def test_simulate_gets_the_operators_node_configs(reference_report: dict, reference: Path, cache: Path) -> None:
    found = record.load(reference)
    assert found is not None
    path, specs = found
    assert path.is_relative_to(cache) and sorted(specs) == ["cp1", "cp2", "cp3", "worker1", "worker2", "worker3"]
    assert all(spec["bgpInstances"][0]["localASN"] == 64512 for spec in specs.values())
    (line,) = lines(reference_report, "0. rehearsal")
    assert f"CiliumBGPNodeConfig objects saved for `clusterforge simulate`: {path}" in line["message"]


def test_the_report_says_what_is_redirected_and_what_is_not_rehearsed(reference_report: dict) -> None:
    (line,) = lines(reference_report, "0. rehearsal")
    assert "ssh://git@github.com/example/koedo-lab.git served as http://127.0.0.1:" in line["message"]
    assert "https://helm.cilium.io served as http://127.0.0.1:" in line["message"]
    assert "not rehearsed:" in line["message"]


# --- the eBGP variant with Argo CD: two peers, two pools, the operator's cluster-pool IPAM ---


@pytest.fixture(scope="session")
def argocd_tools() -> None:
    """Argo CD's binary and install manifests, redis-server and kustomize too (a failure in CI)."""
    try:
        toolset.require_all(toolpins.KUBERNETES_VERSION, toolpins.CILIUM_VERSION, "argocd")
    except ToolMissing as e:
        if IN_CI:
            pytest.fail(f"CI must provide every tool: {e}")
        pytest.skip(str(e))


def with_argocd(inventory: str) -> str:
    assert "gitops:\n" in inventory and "engine:" not in inventory
    return inventory.replace("gitops:\n", "gitops:\n  engine: argocd\n", 1)


@pytest.fixture(scope="module")
def ebgp_argocd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ebgp") / "rack"
    repo.new(root, with_argocd((DATA / "ebgp.yaml").read_text()))
    return root


class ListenersRecorded(Rehearsal):
    """A rehearsal that notes, once the engine has converged, every TCP listener in this network
    namespace of this process and those it started: (address:port, program)."""

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.listeners: list[tuple[str, str]] = []

    def _assert(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        pids = {str(p) for p in descendants(os.getpid())} | {str(os.getpid())}  # its loopback servers are threads here
        table = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
        for row in table.splitlines():
            found = re.search(r'users:\(\("([^"]+)",pid=([0-9]+),', row)
            if found and found.group(2) in pids:
                self.listeners.append((row.split()[3], found.group(1)))
        return super()._assert(*args, **kwargs)


@pytest.fixture(scope="module")
def ebgp_run(ebgp_argocd: Path, argocd_tools: None) -> tuple[list[Result], Rehearsal]:
    return rehearse(ebgp_argocd, update=True, kind=ListenersRecorded)


@pytest.fixture(scope="module")
def ebgp_results(ebgp_run: tuple[list[Result], Rehearsal]) -> list[Result]:
    return ebgp_run[0]


def test_nothing_the_argo_cd_rehearsal_starts_listens_beyond_loopback(ebgp_run: tuple[list[Result], Rehearsal]) -> None:
    """Argo CD's application controller binds its metrics server to 0.0.0.0: it runs in a network
    namespace of its own, so the host sees only 127.0.0.1 listeners (and the relay's)."""
    listeners = ebgp_run[1].listeners  # type: ignore[attr-defined]
    programs = {program for _, program in listeners}
    # Programs by their first 15 characters, as the kernel keeps them (kube-apiserver-v1.35.4).
    seen = {wanted for wanted in ("kube-apiserver", "etcd", "redis-server", "argocd") if any(p.startswith(wanted) for p in programs)}
    assert seen == {"kube-apiserver", "etcd", "redis-server", "argocd"}, listeners  # argocd: the repo server
    assert [(a, p) for a, p in listeners if not a.startswith("127.0.0.1:")] == [], listeners


def test_ebgp_variant_rehearses_with_argo_cd(ebgp_results: list[Result]) -> None:
    assert failures(ebgp_results) == []
    configs = [r.message for r in ebgp_results if r.check == "7. CiliumBGPNodeConfig per node"]
    assert len(configs) == 5 and all("peers edge 172.16.20.1 AS65002, tor 172.16.10.1 AS65001" in m for m in configs)
    addresses = {r.message.split(":")[0]: r.message for r in ebgp_results if r.check == "6. LoadBalancer IPs from their pools"}
    assert addresses["Service default/rehearse-dmz labelled zone=dmz"].startswith("Service default/rehearse-dmz labelled zone=dmz: 10.50.1.")
    assert "pool dmz is 10.50.1.0/28" in addresses["Service default/rehearse-dmz labelled zone=dmz"]


def test_argo_cd_syncs_every_application(ebgp_results: list[Result]) -> None:
    engine = [r for r in ebgp_results if r.check == "4. GitOps engine"]
    assert [r.message.split(":")[0] for r in engine] == ["Application argocd/cilium", "Application argocd/cilium-config", "Application argocd/root"]
    assert all("Synced and Healthy after" in r.message for r in engine)
    (line,) = [r for r in ebgp_results if r.check == "0. rehearsal"]
    assert "Argo CD v3.2.11: application controller and repo server" in line.message
    assert "https://git.example.net/infra/edge-rack.git served as http://127.0.0.1:" in line.message
    assert "changed to those loopback URLs in the served copy: argocd/apps/cilium-config.yaml, argocd/apps/cilium.yaml, argocd/apps/project.yaml, argocd/root.yaml" in line.message


def test_the_cilium_application_keeps_the_bootstrap_objects(ebgp_results: list[Result]) -> None:
    (adopted,) = [r for r in ebgp_results if r.check == "5. Application adopted the bootstrap release"]
    assert adopted.ok and "kept with their UIDs and tracked by Application cilium" in adopted.message
    assert "revision 1: deployed, Install complete" in adopted.message


def test_a_cluster_yaml_change_converges_under_argo_cd(ebgp_results: list[Result]) -> None:
    """A pool more and Cilium 1.19.6 -> 1.19.7: Argo CD applies the new chart's objects itself,
    so the Helm release keeps its one revision and the rollouts and operator carry the bump."""
    update, *rest = [r for r in ebgp_results if r.check == "8. git-driven update"]
    rollouts = [r for r in rest if r.message.startswith(("DaemonSet ", "Deployment "))]
    (operator,) = [r for r in rest if r.message.startswith("cilium-operator ")]
    (served,) = [r for r in rest if "pool rehearsal-added" in r.message]
    assert update.ok, update.message
    assert update.message.splitlines()[0].endswith("; cilium.version 1.19.6 -> 1.19.7")
    listed = update.message.split("what changed in the cluster (the Applications' objects and the Helm release's):\n")[1].split("\n")
    changed = [line for line in listed if line.startswith("  ")]
    assert changed[0] == "  added CiliumLoadBalancerIPPool rehearsal-added (the render)", update.message
    assert "  changed Application cilium (the render)" in changed, update.message  # its targetRevision
    assert "  changed DaemonSet cilium (the chart 1.19.7)" in changed and "  changed Deployment cilium-operator (the chart 1.19.7)" in changed
    assert not [line for line in changed if "UNEXPECTED" in line], update.message
    assert "applied by every Application" in update.message and "Helm release cilium: 1 revisions (unchanged)" in update.message
    assert rollouts and all(r.ok for r in rollouts) and "image quay.io/cilium/cilium:v1.19.7" in rollouts[0].message
    assert {r.file for r in [*rollouts, operator]} == {"argocd/apps/cilium.yaml"}  # what sets the chart's version
    assert operator.message.startswith("cilium-operator 1.19.6 (pid ") and ", 1.19.7 (pid " in operator.message
    assert "pool rehearsal-added is 10.50.1.16/28" in served.message and ": 10.50.1.1" in served.message


def test_an_application_whose_path_does_not_exist_fails_naming_it(ebgp_argocd: Path, tmp_path: Path, argocd_tools: None) -> None:
    root = copy(ebgp_argocd, tmp_path)
    edit(root, "argocd/apps/cilium-config.yaml", "path: infrastructure/configs", "path: infrastructure/config-typo")
    results, _ = rehearse(root)
    bad = [r for r in failures(results) if r.message.startswith("Application argocd/cilium-config:")]
    assert bad and "infrastructure/config-typo" in bad[0].message, failures(results)
    assert bad[0].file == "argocd/apps/cilium-config.yaml"


# --- breakages: each fails the rehearsal naming the object --------------------------------


def test_values_from_a_missing_configmap_fails_naming_the_helmrelease(reference: Path, tmp_path: Path, rehearsal_tools: None) -> None:
    root = copy(reference, tmp_path)
    edit(root, f"{layout.CILIUM_DIR}/helmrelease.yaml", "name: cilium-values", "name: cilium-values-typo")
    results, _ = rehearse(root)
    bad = [r for r in failures(results) if r.message.startswith("HelmRelease kube-system/cilium")]
    assert bad and "cilium-values-typo" in bad[0].message, failures(results)


def test_a_depends_on_cycle_fails_naming_both_kustomizations(reference: Path, tmp_path: Path, rehearsal_tools: None) -> None:
    root = copy(reference, tmp_path)
    cluster = f"clusters/{'koedo-lab'}/infrastructure.yaml"
    edit(root, cluster, "  path: ./infrastructure/controllers\n", "  path: ./infrastructure/controllers\n  dependsOn:\n    - name: infra-configs\n")
    results, _ = rehearse(root)
    named = {r.message.split(":")[0] for r in failures(results)}
    assert {"Kustomization flux-system/infra-controllers", "Kustomization flux-system/infra-configs"} <= named, failures(results)


def test_an_advertisement_selecting_no_service_and_an_overlapping_pool_fail_naming_them(
    reference: Path, tmp_path: Path, rehearsal_tools: None
) -> None:
    root = copy(reference, tmp_path)
    edit(root, layout.CILIUM_BGP, "key: somekey\n            operator: NotIn", "key: somekey\n            operator: In")
    with (root / layout.LB_IPPOOLS).open("a") as f:
        f.write("---\napiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata:\n  name: overlapping\nspec:\n  blocks:\n    - cidr: 192.168.101.128/25\n")
    results, _ = rehearse(root)
    bad = {r.check: r.message for r in failures(results)}
    assert bad.get("7. BGP advertisements select Services") == "CiliumBGPAdvertisement load-balancer-ips selects no LoadBalancer Service", bad
    assert "CiliumLoadBalancerIPPool" in bad.get("6. LoadBalancer pools", "") and "conflicting" in bad["6. LoadBalancer pools"], bad


class ChangedBehindTheEnginesBack(Rehearsal):
    """A rehearsal during whose update someone else changes an object of the Helm release (a
    key more in hubble-relay's ConfigMap: neither Flux's apply nor helm's three-way merge
    removes a field they never set): the update must fail naming it."""

    def _applied(self, kubectl, daemons, revision, bump, argo):  # type: ignore[no-untyped-def]
        kubectl("patch", "configmap", "hubble-relay-config", "--namespace", "kube-system", "--type", "merge",
                "--patch", '{"data": {"set-by-someone-else": "true"}}')
        return super()._applied(kubectl, daemons, revision, bump, argo)


def test_an_object_changed_by_something_else_fails_the_update(reference: Path, tmp_path: Path, rehearsal_tools: None) -> None:
    rehearsal = ChangedBehindTheEnginesBack(copy(reference, tmp_path))
    results = rehearsal.run(sys.stderr)
    assert rehearsal.folder is not None and not rehearsal.folder.exists()
    bad = failures(results)
    assert [r.check for r in bad] == ["8. git-driven update"], bad
    assert "  changed ConfigMap hubble-relay-config (UNEXPECTED)" in bad[0].message.splitlines()
    assert "changed ConfigMap hubble-relay-config: neither the render nor the new chart changes it" in bad[0].message.splitlines()


# --- nothing left behind --------------------------------------------------------------------


def test_a_missing_binary_stops_before_anything_starts(reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTERFORGE_TOOLS_DIR", "")  # PATH only
    monkeypatch.setenv("PATH", str(tmp_path))
    before = set(Path("/tmp").glob("clusterforge-rehearse-*"))
    with pytest.raises(ToolMissing, match="etcd not found"):
        Rehearsal(reference).run(sys.stderr)
    assert set(Path("/tmp").glob("clusterforge-rehearse-*")) == before


def test_sigterm_stops_everything(reference: Path, rehearsal_tools: None) -> None:
    """A run ended from outside (SIGTERM, as Ctrl-C) stops its daemons and removes its folder."""
    before = set(Path("/tmp").glob("clusterforge-rehearse-*"))
    process = subprocess.Popen([sys.executable, "-m", "generator", "rehearse", "-C", reference], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        folder = None
        for _ in range(600):  # up to 60 s for the API server to run
            new = set(Path("/tmp").glob("clusterforge-rehearse-*")) - before
            mine = [f for f in new if [p for p in processes_mentioning(str(f), parent=process.pid) if "kube-apiserver" in p]]
            if mine:  # other rehearsals may run on this machine at the same time
                folder = mine[0]
                break
            time.sleep(0.1)
        assert folder is not None, "the rehearsal did not start its API server"
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert not folder.exists()
    assert processes_mentioning(str(folder)) == []
