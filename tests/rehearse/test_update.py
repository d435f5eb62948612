"""The git-driven update's pure parts: the changed cluster.yaml, what a chart upgrade is
expected to change, and the verdict that fails when anything else changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import cli, repo, toolpins, yamlio
from generator.rehearse import checks, update

ID = "kube-system_{}_{}_{}"


def _daemonset(image: str) -> dict:
    pod = {"containers": [{"name": "cilium-agent", "image": image}], "initContainers": [{"name": "config", "image": image}]}
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "cilium", "namespace": "kube-system", "generation": 3},
            "spec": {"selector": {"matchLabels": {"k8s-app": "cilium"}}, "template": {"metadata": {"labels": {"k8s-app": "cilium"}}, "spec": pod}},
            "status": {"observedGeneration": 3, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2}}


def _secret(cert: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hubble-server-certs", "namespace": "kube-system"}, "data": {"tls.crt": cert}}


CONFIG = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cilium-config"}, "data": {"ipam": "kubernetes"}}


def _manifest(*objs: dict) -> str:
    return yamlio.dump_all(list(objs))


def test_the_changed_repository_adds_a_pool_and_bumps_cilium(tmp_path: Path) -> None:
    source = tmp_path / "lab"
    repo.new(source, cli.example_text())
    inv = repo.load(source).inventory
    bump = toolpins.cilium_bump(inv.cilium.version)
    assert bump == "1.19.7"
    change = update.changed_repository(source, inv, tmp_path / "updated", bump)
    updated = repo.load(tmp_path / "updated").inventory  # the rules accept the bumped patch of a known minor
    assert updated.cilium.version == "1.19.7" and change.cilium_version == "1.19.7"
    assert [p.name for p in updated.load_balancer_pools] == ["default", update.ADDED_POOL]
    assert change.description.endswith("; cilium.version 1.19.6 -> 1.19.7")
    # The render says what the engine applies differently: the HelmRelease's chart version and the pools.
    assert update.rendered_changes(source, tmp_path / "updated") == [
        "added CiliumLoadBalancerIPPool rehearsal-added", "changed CiliumLoadBalancerIPPool default", "changed HelmRelease cilium"]


def test_no_bump_is_pinned_for_an_unknown_version() -> None:
    assert toolpins.cilium_bump("1.18.12") is None
    assert "cilium-v1.19.7" in toolpins.module_builds(cilium_version="1.19.6")
    assert toolpins.module_builds(cilium_version="1.19.6")["cilium-v1.19.7"].chart == toolpins.CILIUM_CHART
    assert "cilium-v1.19.7" not in toolpins.module_builds(cilium_version="1.18.12")


def test_chart_changes_tell_the_versions_doing_from_regenerated_certificates() -> None:
    old = _manifest(_daemonset("quay.io/cilium/cilium:v1.19.6"), _secret("A"), CONFIG)
    old_again = _manifest(_daemonset("quay.io/cilium/cilium:v1.19.6"), _secret("B"), CONFIG)
    new = _manifest(_daemonset("quay.io/cilium/cilium:v1.19.7"), _secret("C"), CONFIG)
    found = update.chart_changes(old, old_again, new, "kube-system")
    assert found.by_version == ["changed DaemonSet cilium"]
    assert found.regenerated == ["changed Secret hubble-server-certs"]


CHART = update.ChartChanges(by_version=["changed DaemonSet cilium"], regenerated=["changed Secret hubble-server-certs"])
RENDERED = ["added CiliumLoadBalancerIPPool rehearsal-added", "changed HelmRelease cilium"]


def test_every_change_explained_is_no_problem() -> None:
    changes = ["added CiliumLoadBalancerIPPool rehearsal-added", "changed DaemonSet cilium", "changed HelmRelease cilium",
               "changed Secret hubble-server-certs"]
    lines, problems = update.explain(changes, RENDERED, CHART, "1.19.7")
    assert problems == []
    assert lines == ["added CiliumLoadBalancerIPPool rehearsal-added (the render)", "changed DaemonSet cilium (the chart 1.19.7)",
                     "changed HelmRelease cilium (the render)",
                     "changed Secret hubble-server-certs (certificates the chart generates anew at each upgrade)"]


def test_anything_else_changed_fails_the_update() -> None:
    changes = ["added CiliumLoadBalancerIPPool rehearsal-added", "changed ConfigMap cilium-config", "changed DaemonSet cilium",
               "changed HelmRelease cilium"]
    lines, problems = update.explain(changes, RENDERED, CHART, "1.19.7")
    assert "changed ConfigMap cilium-config (UNEXPECTED)" in lines
    assert problems == ["changed ConfigMap cilium-config: neither the render nor the new chart changes it"]


def test_a_change_the_render_or_the_chart_makes_must_happen() -> None:
    _, problems = update.explain(["added CiliumLoadBalancerIPPool rehearsal-added"], RENDERED, CHART, "1.19.7")
    assert problems == ["changed HelmRelease cilium: the render changes it, the cluster did not",
                        "changed DaemonSet cilium: the chart 1.19.7 changes it, the cluster did not"]


def test_without_a_bump_a_chart_change_is_unexpected() -> None:
    _, problems = update.explain(["changed DaemonSet cilium"], [], None, None)
    assert problems == ["changed DaemonSet cilium: neither the render nor the new chart changes it"]


def test_a_live_snapshot_and_a_render_identify_objects_alike() -> None:
    manifest = _manifest(_daemonset("x"), CONFIG)
    assert update.release_entries(manifest, "kube-system") == [(ID.format("cilium", "apps", "DaemonSet"), "v1"),
                                                                (ID.format("cilium-config", "", "ConfigMap"), "v1")]
    assert set(update.rendered_digests(manifest, "kube-system")) == {ID.format("cilium", "apps", "DaemonSet"), ID.format("cilium-config", "", "ConfigMap")}


HISTORY = [{"revision": 1, "status": "superseded", "chart": "cilium-1.19.6", "description": "Install complete"},
           {"revision": 2, "status": "superseded", "chart": "cilium-1.19.6", "description": "Upgrade complete"},
           {"revision": 3, "status": "deployed", "chart": "cilium-1.19.7", "description": "Upgrade complete"}]


def test_the_release_must_be_upgraded_to_the_new_chart_with_the_same_values() -> None:
    ok = checks.release_upgraded(HISTORY, "cilium", "kube-system", "1.19.7", {"a": 1}, {"a": 1}, "8")
    assert ok.ok and "revision 3: deployed, cilium-1.19.7, Upgrade complete" in ok.message
    other_values = checks.release_upgraded(HISTORY, "cilium", "kube-system", "1.19.7", {"a": 1}, {"a": 2}, "8")
    assert not other_values.ok and "the upgrade changed the release's values" in other_values.message
    reinstalled = [*HISTORY[:2], {**HISTORY[2], "description": "Install complete"}]
    assert not checks.release_upgraded(reinstalled, "cilium", "kube-system", "1.19.7", {}, {}, "8").ok
    old_chart = [*HISTORY[:2], {**HISTORY[2], "chart": "cilium-1.19.6"}]
    assert not checks.release_upgraded(old_chart, "cilium", "kube-system", "1.19.7", {}, {}, "8").ok
    assert not checks.release_upgraded(HISTORY[:2], "cilium", "kube-system", "1.19.7", {}, {}, "8").ok


def _pod(name: str, image: str, ready: bool = True) -> dict:
    return {"metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "cilium"}},
            "spec": {"containers": [{"name": "cilium-agent", "image": image}], "initContainers": [{"name": "config", "image": image}]},
            "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


@pytest.mark.parametrize(("live", "pods", "ok"), [
    ("v1.19.7", [("a", "v1.19.7", True), ("b", "v1.19.7", True)], True),
    ("v1.19.6", [("a", "v1.19.6", True), ("b", "v1.19.6", True)], False),  # not rolled to the new images
    ("v1.19.7", [("a", "v1.19.7", True), ("b", "v1.19.6", True)], False),  # a pod still at the old version
    ("v1.19.7", [("a", "v1.19.7", True), ("b", "v1.19.7", False)], False),  # a pod not Ready
])
def test_rollouts_want_the_new_images_on_every_ready_pod(live: str, pods: list, ok: bool) -> None:
    rendered = [_daemonset("quay.io/cilium/cilium:v1.19.7")]
    other = _pod("cilium-operator-1", "quay.io/cilium/operator-generic:v1.19.7") | {"metadata": {
        "name": "cilium-operator-1", "namespace": "kube-system", "labels": {"name": "cilium-operator"}}}  # not the DaemonSet's
    (result,) = checks.rollouts([_daemonset(f"quay.io/cilium/cilium:{live}")], rendered,
                                [_pod(n, f"quay.io/cilium/cilium:{v}", r) for n, v, r in pods] + [other], "1.19.7", "8",
                                "argocd/apps/cilium.yaml")
    assert result.ok is ok and result.file == "argocd/apps/cilium.yaml", result.message
