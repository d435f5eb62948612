"""The rehearsal's pure parts: what the nodes look like, label selectors, the report's
verdicts on objects as the API server returns them, the throwaway certificates."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generator import cli, loader
from generator.rehearse import certs, checks, cilium, nodes


@pytest.fixture(scope="module")
def inv():
    return loader.check_text(cli.example_text()).inventory


def test_nodes_carry_kubeadm_labels_and_taints(inv) -> None:
    by_name = {n.name: nodes.node_object(inv, n) for n in inv.kubernetes_nodes}
    assert set(by_name) == {"cp1", "cp2", "cp3", "worker1", "worker2", "worker3"}  # not the load balancers
    cp1, worker1 = by_name["cp1"], by_name["worker1"]
    assert cp1["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert cp1["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
    assert "taints" not in worker1["spec"] and "node-role.kubernetes.io/control-plane" not in worker1["metadata"]["labels"]
    assert worker1["metadata"]["labels"]["kubernetes.io/hostname"] == "worker1"
    assert worker1["status"]["addresses"][0] == {"type": "InternalIP", "address": "192.168.100.34"}
    assert cp1["metadata"]["annotations"] == {nodes.KWOK_ANNOTATION: "fake"}


def test_the_first_control_plane_is_alone_at_bootstrap(inv) -> None:
    first, joining = nodes.first_and_joining(inv)
    assert [n.name for n in first] == ["cp1"]
    assert [n.name for n in joining] == ["cp2", "cp3", "worker1", "worker2", "worker3"]


def _service(name: str, labels: dict[str, str], ip: str | None = None) -> dict:
    status = {"loadBalancer": {"ingress": [{"ip": ip}]}} if ip else {}
    return {"kind": "Service", "metadata": {"name": name, "namespace": "default", "labels": labels},
            "spec": {"type": "LoadBalancer"}, "status": status}


def test_lb_addresses_must_come_from_the_pool(inv) -> None:
    inside = checks.lb_addresses(inv, [_service("rehearse-default", {checks.PROBE_LABEL: "default"}, "192.168.101.7")], 1.0)
    outside = checks.lb_addresses(inv, [_service("rehearse-default", {checks.PROBE_LABEL: "default"}, "10.0.0.1")], 1.0)
    none = checks.lb_addresses(inv, [_service("rehearse-default", {checks.PROBE_LABEL: "default"})], 1.0)
    assert [r.ok for r in inside + outside + none] == [True, False, False]
    assert "192.168.101.0/24" in outside[0].message and "no address" in none[0].message


def test_a_conflicting_pool_fails_naming_it() -> None:
    pool = {"kind": "CiliumLoadBalancerIPPool", "metadata": {"name": "extra"},
            "status": {"conditions": [{"type": checks.POOL_CONFLICT, "status": "True", "message": "overlaps default"}]}}
    (result,) = checks.pools([pool])
    assert not result.ok and result.message == "CiliumLoadBalancerIPPool extra: conflicting: overlaps default"


def test_an_advertisement_selecting_no_service_fails_naming_it() -> None:
    advert = {"kind": "CiliumBGPAdvertisement", "metadata": {"name": "lb"},
              "spec": {"advertisements": [{"advertisementType": "Service", "selector": {"matchLabels": {"x": "y"}}},
                                          {"advertisementType": "PodCIDR"}]}}
    (bad,) = checks.advertisements([advert], [_service("s", {"x": "z"})])
    (good,) = checks.advertisements([advert], [_service("s", {"x": "y"})])
    assert not bad.ok and "CiliumBGPAdvertisement lb selects no LoadBalancer Service" == bad.message
    assert good.ok


def test_node_configs_want_the_inventory_peers_on_selected_nodes_only(inv) -> None:
    node = lambda name, labels: {"metadata": {"name": name, "labels": labels}}  # noqa: E731
    cluster = [{"spec": {"nodeSelector": {"matchLabels": {"bgp": "yes"}}}}]
    peers = [{"name": "rtx1220", "peerAddress": "192.168.100.1", "peerASN": 64513, "peerConfigRef": {"name": "rtx1220"}}]
    config = lambda name, asn=64512: {"metadata": {"name": name}, "spec": {"bgpInstances": [{"localASN": asn, "peers": peers}]}}  # noqa: E731
    nodes_ = [node("a", {"bgp": "yes"}), node("b", {"bgp": "yes"}), node("c", {})]
    results = checks.node_configs(inv, nodes_, cluster, [config("a"), config("b", 65000), config("c")], 1.0)
    assert [r.ok for r in results] == [True, False, False]
    assert "local ASNs [65000], want [64512]" in results[1].message
    assert results[2].message == "node c is not selected: yet it has a CiliumBGPNodeConfig"
    missing = checks.node_configs(inv, nodes_[:1], cluster, [], 1.0)
    assert not missing[0].ok and "has no CiliumBGPNodeConfig" in missing[0].message


def test_helm_history_wants_an_install_then_an_upgrade() -> None:
    install = {"revision": 1, "status": "superseded", "description": "Install complete"}
    upgrade = {"revision": 2, "status": "deployed", "description": "Upgrade complete"}
    reinstall = {"revision": 2, "status": "deployed", "description": "Install complete"}
    assert checks.helm_history([install, upgrade], "cilium", "kube-system", {"a": 1}, {"a": 1}, 1.0).ok
    assert not checks.helm_history([install, reinstall], "cilium", "kube-system", {"a": 1}, {"a": 1}, 1.0).ok
    assert not checks.helm_history([install], "cilium", "kube-system", {"a": 1}, {"a": 1}, 1.0).ok
    changed = checks.helm_history([install, upgrade], "cilium", "kube-system", {"a": 1}, {"a": 2}, 1.0)
    assert not changed.ok and "values differ" in changed.message


def test_cilium_node_as_the_agent_writes_it() -> None:
    node = {"metadata": {"name": "w1", "labels": {"k": "v"}},
            "spec": {"podCIDRs": ["10.244.1.0/24"]},
            "status": {"addresses": [{"type": "InternalIP", "address": "192.0.2.5"}, {"type": "Hostname", "address": "w1"}]}}
    assert "ipam" not in cilium.cilium_node(node, "cluster-pool")["spec"]  # the operator allocates them
    assert cilium.cilium_node(node, "kubernetes") == {
        "apiVersion": "cilium.io/v2", "kind": "CiliumNode", "metadata": {"name": "w1", "labels": {"k": "v"}},
        "spec": {"addresses": [{"type": "InternalIP", "ip": "192.0.2.5"}], "ipam": {"podCIDRs": ["10.244.1.0/24"]}},
    }


def test_certificates_chain_to_the_ca_with_loopback_names(tmp_path: Path) -> None:
    from ipaddress import ip_address

    pki = certs.generate(tmp_path, ip_address("10.96.0.1"))
    ca = x509.load_pem_x509_certificate(pki.ca_crt.read_bytes())
    server = x509.load_pem_x509_certificate(pki.apiserver_crt.read_bytes())
    admin = x509.load_pem_x509_certificate(pki.admin_crt.read_bytes())
    for leaf in (server, admin):
        leaf.verify_directly_issued_by(ca)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert ip_address("10.96.0.1") in sans.get_values_for_type(x509.IPAddress)
    assert admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert ExtendedKeyUsageOID.CLIENT_AUTH in admin.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert all((pki_file.stat().st_mode & 0o077) == 0 for pki_file in (pki.ca_key, pki.apiserver_key, pki.admin_key, pki.sa_key))


def test_a_failed_reconciliation_is_a_verdict_on_the_current_generation() -> None:
    from generator.rehearse import flux

    failed = {"metadata": {"generation": 1}, "status": {"observedGeneration": -1, "conditions": [
        {"type": "Ready", "status": "False", "observedGeneration": 1, "message": "dry-run failed"}]}}
    stale = {"metadata": {"generation": 2}, "status": {"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "True", "observedGeneration": 1, "message": "Applied"}]}}
    assert flux.ready(failed) == (False, "dry-run failed")
    assert flux.ready(stale) == (None, "Applied")
    assert flux.ready({"metadata": {"generation": 1}}) == (None, "")


def test_an_application_is_done_when_synced_and_healthy_and_failed_on_an_error() -> None:
    from generator.rehearse import argocd

    def app(sync: str, health: str, **status: object) -> dict:
        return {"metadata": {"name": "a", "namespace": "argocd"}, "status": {"sync": {"status": sync}, "health": {"status": health}, **status}}

    missing_path = {"type": "ComparisonError", "message": "Failed to load target state: app path does not exist"}
    failed_sync = {"phase": "Failed", "message": "one or more objects failed to apply"}
    assert argocd.verdict(app("Synced", "Healthy")) == (True, "Synced, Healthy")
    assert argocd.verdict(app("OutOfSync", "Missing")) == (None, "OutOfSync, Missing")  # a later sync wave, waiting
    assert argocd.verdict(app("Unknown", "Healthy", conditions=[missing_path])) == (
        False, "Unknown, Healthy; ComparisonError: Failed to load target state: app path does not exist")
    assert argocd.verdict(app("OutOfSync", "Missing", operationState=failed_sync))[0] is False
    assert argocd.verdict(app("Synced", "Degraded"))[0] is False
    warning = {"type": "SharedResourceWarning", "message": "also managed by another Application"}
    assert argocd.verdict(app("Synced", "Healthy", conditions=[warning])) == (True, "Synced, Healthy")  # a warning is no failure
    assert argocd.verdict({"metadata": {"name": "a"}}) == (None, "Unknown, Unknown")


def _object(kind: str, name: str, uid: str, tracking: str | None = None) -> dict:
    annotations = {"argocd.argoproj.io/tracking-id": tracking} if tracking else {}
    return {"kind": kind, "metadata": {"name": name, "namespace": "kube-system", "uid": uid, "annotations": annotations}}


def test_adoption_by_an_application_keeps_every_bootstrap_object_and_the_release() -> None:
    installed = [_object("DaemonSet", "cilium", "u1"), _object("ConfigMap", "cilium-config", "u2")]
    tracked = [_object("DaemonSet", "cilium", "u1", "cilium:apps/DaemonSet:kube-system/cilium"),
               _object("ConfigMap", "cilium-config", "u2", "cilium:/ConfigMap:kube-system/cilium-config")]
    install = [{"revision": 1, "status": "deployed", "description": "Install complete"}]
    ok = checks.application_adoption(installed, tracked, install, "cilium", "argocd.argoproj.io/tracking-id", 1.0)
    assert ok.ok and ok.message.startswith("2 of the 2 objects the bootstrap's Helm release installed kept with their UIDs")
    recreated = [tracked[0], _object("ConfigMap", "cilium-config", "u3", "cilium:/ConfigMap:kube-system/cilium-config")]
    bad = checks.application_adoption(installed, recreated, install, "cilium", "argocd.argoproj.io/tracking-id", 1.0)
    assert not bad.ok and "ConfigMap kube-system/cilium-config was deleted and created again (new UID)" in bad.message
    gone = checks.application_adoption(installed, [_object("DaemonSet", "cilium", "u1")], install, "cilium", "argocd.argoproj.io/tracking-id", 1.0)
    assert "DaemonSet kube-system/cilium is not tracked by Application cilium" in gone.message
    assert "ConfigMap kube-system/cilium-config was deleted" in gone.message
    upgraded = [*install, {"revision": 2, "status": "deployed", "description": "Upgrade complete"}]
    assert not checks.application_adoption(installed, tracked, upgraded, "cilium", "argocd.argoproj.io/tracking-id", 1.0).ok


def test_the_applications_read_the_loopback_servers(tmp_path: Path) -> None:
    from generator import repo
    from generator.rehearse import gitrepo
    from generator.rehearse.kube import load_yaml

    root = tmp_path / "lab"
    repo.new(root, cli.example_text().replace("engine: flux ", "engine: argocd", 1))
    served = gitrepo.create(tmp_path / "rehearsal", root, "main")
    upstream = loader.check_text((root / "cluster.yaml").read_text()).inventory.gitops.repository
    changed = gitrepo.redirect_argocd(served, {upstream: "http://127.0.0.1:1/cluster.git", "https://helm.cilium.io": "http://127.0.0.1:2"})
    assert changed == ["argocd/apps/cilium-config.yaml", "argocd/apps/cilium.yaml", "argocd/apps/project.yaml", "argocd/root.yaml"]
    cilium_app = load_yaml((served.work / "argocd/apps/cilium.yaml").read_text())
    assert [s["repoURL"] for s in cilium_app["spec"]["sources"]] == ["http://127.0.0.1:2", "http://127.0.0.1:1/cluster.git"]
    project = load_yaml((served.work / "argocd/apps/project.yaml").read_text())
    assert project["spec"]["sourceRepos"] == ["http://127.0.0.1:1/cluster.git", "http://127.0.0.1:2"]
