from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from generator import tools
from generator.errors import ClusterforgeError, ToolFailed
from generator.loader import check_file, check_text
from generator.model import Inventory, Node
from generator.render import kubeadm, layout
from generator.secrets import ClusterSecrets

EXAMPLE = Path("generator/data/cluster.example.yaml")
# Obviously fake, well-formed secrets: only ever in test code.
DUMMY = ClusterSecrets(
    bootstrap_token="abcdef." + "0123456789abcdef",  # FAKE, built in two parts: the example token of kubeadm's docs
    certificate_key="0123456789abcdef" * 4,
    ca_cert_hash="sha256:" + "0" * 64,
)
SECRET_KEYS = {"token", "bootstrapTokens", "certificateKey", "caCertHashes", "tlsBootstrapToken"}


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return check_file(EXAMPLE).inventory


def load_all(text: str) -> list[dict]:
    return list(YAML(typ="safe").load_all(text))


def by_kind(docs: list[dict]) -> dict[str, dict]:
    return {d["kind"]: d for d in docs}


def node(inv: Inventory, name: str) -> Node:
    return next(n for n in inv.nodes if n.name == name)


def keys(data: object) -> set[str]:
    """Every mapping key anywhere in a parsed document."""
    if isinstance(data, dict):
        return set(data) | set().union(*(keys(v) for v in data.values()))
    if isinstance(data, list):
        return set().union(*(keys(v) for v in data))
    return set()


def test_one_file_per_kubernetes_node(inv: Inventory) -> None:
    tree = kubeadm.render(inv)
    assert sorted(tree) == sorted(layout.kubeadm_file(inv, n) for n in inv.kubernetes_nodes)
    assert tree["kubeadm/cp1-init.yaml"] == kubeadm.config(inv, inv.control_planes[0])
    assert not any(lb.name in path for lb in inv.loadbalancers for path in tree)
    assert kubeadm.render(inv) == tree  # deterministic
    with pytest.raises(ValueError, match="load balancer"):
        kubeadm.documents(inv, inv.loadbalancers[0])


def test_init_of_the_first_control_plane(inv: Inventory) -> None:
    cp1 = inv.control_planes[0]
    docs = load_all(kubeadm.config(inv, cp1))
    assert [d["kind"] for d in docs] == ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"]
    init, cluster, kubelet = docs
    assert init["apiVersion"] == cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert init["localAPIEndpoint"] == {"advertiseAddress": "192.168.100.11", "bindPort": 6443}
    assert init["nodeRegistration"] == {
        "name": "cp1",
        "criSocket": "unix:///var/run/containerd/containerd.sock",
        "kubeletExtraArgs": [{"name": "node-ip", "value": "192.168.100.11"}],
    }
    assert cluster["controlPlaneEndpoint"] == inv.api_endpoint == "192.168.100.4:6443"
    assert cluster["kubernetesVersion"] == "v1.35.4"
    assert cluster["clusterName"] == "koedo-lab"
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12", "dnsDomain": "cluster.local"}
    assert cluster["proxy"] == {"disabled": True}
    assert init["skipPhases"] == ["addon/kube-proxy"]
    assert kubelet == {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration", "cgroupDriver": "systemd"}


def test_cert_sans_cover_every_way_to_the_api(inv: Inventory) -> None:
    variant = inv.model_copy(update={"api_server": inv.api_server.model_copy(update={"extra_cert_sans": ["k8s.example.org", "cp1"]})})
    sans = by_kind(kubeadm.documents(variant, variant.control_planes[0]))["ClusterConfiguration"]["apiServer"]["certSANs"]
    expected = ["192.168.100.4", "api.koedo-lab.home.arpa"]
    for cp in inv.control_planes:
        expected += [str(cp.ip), cp.name]
    assert sans == [*expected, "k8s.example.org"]  # extra SANs appended, duplicates dropped


def test_kube_proxy_stays_when_cilium_does_not_replace_it(inv: Inventory) -> None:
    variant = inv.model_copy(update={"cilium": inv.cilium.model_copy(update={"kube_proxy_replacement": False})})
    documents = by_kind(kubeadm.documents(variant, variant.control_planes[0]))
    assert "proxy" not in documents["ClusterConfiguration"]
    assert "skipPhases" not in documents["InitConfiguration"]


def test_control_plane_join(inv: Inventory) -> None:
    (join,) = load_all(kubeadm.config(inv, node(inv, "cp2")))
    assert join["kind"] == "JoinConfiguration"
    assert join["controlPlane"] == {"localAPIEndpoint": {"advertiseAddress": "192.168.100.12", "bindPort": 6443}}
    assert join["discovery"] == {"bootstrapToken": {"apiServerEndpoint": "192.168.100.4:6443"}}
    assert join["nodeRegistration"]["name"] == "cp2"
    assert join["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "192.168.100.12"}]


def test_worker_join(inv: Inventory) -> None:
    (join,) = load_all(kubeadm.config(inv, node(inv, "worker2")))
    assert "controlPlane" not in join
    assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == inv.api_endpoint
    assert join["nodeRegistration"]["kubeletExtraArgs"] == [{"name": "node-ip", "value": "192.168.100.66"}]


def test_port_comes_from_the_inventory() -> None:
    text = EXAMPLE.read_text().replace("  port: 6443", "  port: 8443")
    inv = check_text(text).inventory
    init, cluster, _ = kubeadm.documents(inv, inv.control_planes[0])
    assert init["localAPIEndpoint"]["bindPort"] == 8443
    assert cluster["controlPlaneEndpoint"] == "192.168.100.4:8443"
    (join,) = kubeadm.documents(inv, inv.control_planes[1])
    assert join["discovery"]["bootstrapToken"]["apiServerEndpoint"] == "192.168.100.4:8443"
    assert join["controlPlane"]["localAPIEndpoint"]["bindPort"] == 8443


def test_committed_files_hold_no_secret(inv: Inventory) -> None:
    for path, text in kubeadm.render(inv).items():
        assert not keys(load_all(text)) & SECRET_KEYS, path
        for value in (DUMMY.bootstrap_token, DUMMY.certificate_key, "sha256:"):
            assert value not in text, path


def test_with_secrets_fills_every_secret_field(inv: Inventory) -> None:
    init, cluster, kubelet = load_all(kubeadm.with_secrets(inv, inv.control_planes[0], DUMMY))
    assert init["bootstrapTokens"] == [{"token": DUMMY.bootstrap_token, "ttl": kubeadm.TOKEN_TTL}]
    assert init["certificateKey"] == DUMMY.certificate_key
    committed = load_all(kubeadm.config(inv, inv.control_planes[0]))
    assert [cluster, kubelet] == committed[1:]
    assert {k: v for k, v in init.items() if k not in ("bootstrapTokens", "certificateKey")} == committed[0]

    (cp_join,) = load_all(kubeadm.with_secrets(inv, node(inv, "cp3"), DUMMY))
    assert cp_join["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": inv.api_endpoint,
        "token": DUMMY.bootstrap_token,
        "caCertHashes": [DUMMY.ca_cert_hash],
    }
    assert cp_join["controlPlane"]["certificateKey"] == DUMMY.certificate_key

    (worker_join,) = load_all(kubeadm.with_secrets(inv, node(inv, "worker1"), DUMMY))
    assert worker_join["discovery"]["bootstrapToken"]["token"] == DUMMY.bootstrap_token
    assert "controlPlane" not in worker_join and "certificateKey" not in keys(worker_join)


def test_join_refuses_to_run_without_the_ca_hash(inv: Inventory) -> None:
    no_hash = ClusterSecrets(DUMMY.bootstrap_token, DUMMY.certificate_key)
    assert "certificateKey" in kubeadm.with_secrets(inv, inv.control_planes[0], no_hash)  # init needs no hash
    with pytest.raises(ClusterforgeError) as refused:
        kubeadm.with_secrets(inv, node(inv, "worker1"), no_hash)
    assert str(refused.value) == "worker1: the secrets have neither the cluster CA nor a caCertHash (joining without it would trust any API server)"


def without_workers(inv: Inventory) -> Inventory:
    return inv.model_copy(update={"nodes": [n for n in inv.nodes if n.role != "worker"]})


def test_control_planes_stay_schedulable_without_workers(inv: Inventory) -> None:
    lab = without_workers(inv)
    registrations = [by_kind(kubeadm.documents(lab, cp, DUMMY)) for cp in lab.control_planes]
    assert registrations[0]["InitConfiguration"]["nodeRegistration"]["taints"] == []
    assert all(r["JoinConfiguration"]["nodeRegistration"]["taints"] == [] for r in registrations[1:])
    assert "taints" not in by_kind(kubeadm.documents(inv, inv.control_planes[0]))["InitConfiguration"]["nodeRegistration"]


# --- the real kubeadm ------------------------------------------------------------


@pytest.mark.tools
def test_kubeadm_validates_every_config(inv: Inventory, need_tool: Callable[..., Path], tmp_path: Path) -> None:
    """The committed init file as it is; every file with secrets filled in (the join
    files only validate with a token and CA hash, as `validate` fills them with dummies)."""
    binary = need_tool("kubeadm", kubernetes_version=inv.kubernetes.version)
    configs = {"cp1-committed": kubeadm.config(inv, inv.control_planes[0])}
    configs |= {n.name: kubeadm.with_secrets(inv, n, DUMMY) for n in inv.kubernetes_nodes}
    lab = without_workers(inv)
    configs |= {f"{n.name}-no-workers": kubeadm.with_secrets(lab, n, DUMMY) for n in lab.control_planes}
    for name, text in configs.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        done = tools.run([binary, "config", "validate", "--config", path], timeout=60)
        assert "ok" in done.stdout, (name, done.stdout, done.stderr)


@pytest.mark.tools
def test_kubeadm_validate_rejects_a_broken_config(inv: Inventory, need_tool: Callable[..., Path], tmp_path: Path) -> None:
    """The check above can fail: a misspelt field is an error in kubeadm's strict decoding."""
    binary = need_tool("kubeadm", kubernetes_version=inv.kubernetes.version)
    path = tmp_path / "bad.yaml"
    path.write_text(kubeadm.config(inv, inv.control_planes[0]).replace("bindPort:", "bindPrt:"))
    with pytest.raises(ToolFailed, match='unknown field "localAPIEndpoint.bindPrt"'):
        tools.run([binary, "config", "validate", "--config", path], timeout=60)
