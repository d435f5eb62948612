"""A node's seed as `clusterforge seed` builds it: the rendered seed with the secrets
merged into its kubeadm config, and a meta-data whose instance-id follows."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from generator.loader import check_file
from generator.render import cloudinit, kubeadm
from generator.secrets import ClusterSecrets

EXAMPLE = check_file(Path("generator/data/cluster.example.yaml")).inventory
# Fake values of the right shapes, assembled here so that no line looks like a real secret.
SECRETS = ClusterSecrets(bootstrap_token="abcdef." + "0123456789abcdef", certificate_key="0" * 64, ca_cert_hash="sha256:" + "1" * 64)


def load(text: str) -> dict:
    return YAML(typ="safe").load(text)


def test_a_kubernetes_node_gets_its_kubeadm_config_with_the_secrets() -> None:
    rendered = cloudinit.render(EXAMPLE)
    for node in EXAMPLE.kubernetes_nodes:
        seed = cloudinit.seed(EXAMPLE, node, SECRETS)
        assert sorted(seed) == ["meta-data", "network-config", "user-data"]
        assert seed["user-data"].startswith("#cloud-config\n")
        files = {entry["path"]: entry for entry in load(seed["user-data"])["write_files"]}
        assert files[cloudinit.KUBEADM_CONFIG]["content"] == kubeadm.with_secrets(EXAMPLE, node, SECRETS)
        assert SECRETS.bootstrap_token in seed["user-data"]
        # Everything else is the rendered seed.
        rendered_files = {entry["path"]: entry for entry in load(rendered[f"nodes/{node.name}/user-data"])["write_files"]}
        assert {p: e for p, e in files.items() if p != cloudinit.KUBEADM_CONFIG} == {p: e for p, e in rendered_files.items() if p != cloudinit.KUBEADM_CONFIG}
        assert seed["network-config"] == rendered[f"nodes/{node.name}/network-config"]
        # A seed with other contents is another instance: cloud-init runs again on its next boot.
        assert seed["meta-data"] == cloudinit.meta_data(EXAMPLE, node, seed["user-data"])
        assert seed["meta-data"] != rendered[f"nodes/{node.name}/meta-data"]


def test_a_load_balancer_seed_is_the_rendered_one() -> None:
    rendered = cloudinit.render(EXAMPLE)
    for node in EXAMPLE.loadbalancers:
        seed = cloudinit.seed(EXAMPLE, node, SECRETS)
        assert seed == {name: rendered[f"nodes/{node.name}/{name}"] for name in ("user-data", "meta-data", "network-config")}
