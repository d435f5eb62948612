"""kubeadm config validate, by the kubeadm of the cluster's minor, on the committed
configs with fake secrets filled in."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import ToolMissing
from generator import loader, yamlio
from generator.render import kubeadm as renderer
from generator.render import layout
from generator.validate.checks import kubeadm
from support import copy, edit

from . import NeedTool, failures, run

JOIN = "kubeadm/cp2-join.yaml"


def test_glob_matches_layout(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    for node in inv.kubernetes_nodes:
        assert Path(layout.kubeadm_file(inv, node)).match(kubeadm.FILES)


@pytest.mark.tools
def test_the_reference_configs_pass(reference: Path, need_tool: NeedTool) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    need_tool("kubeadm", kubernetes_version=inv.kubernetes.version)
    results = run(reference, kubeadm.jobs)
    assert {r.file for r in results} == {layout.kubeadm_file(inv, n) for n in inv.kubernetes_nodes}
    assert failures(results) == {}


@pytest.mark.tools
def test_a_wrong_api_version_fails(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    need_tool("kubeadm", kubernetes_version=inv.kubernetes.version)
    root = copy(reference, tmp_path)
    edit(root, JOIN, "kubeadm.k8s.io/v1beta4", "kubeadm.k8s.io/v1beta9")
    failed = failures(run(root, kubeadm.jobs))
    assert list(failed) == [JOIN]
    assert "v1beta9" in failed[JOIN]


def test_fake_secrets_go_where_the_renderer_puts_real_ones(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    fields = kubeadm.secret_fields(inv)
    fake = kubeadm.DUMMY_SECRETS
    join = (reference / JOIN).read_text()
    assert fake.bootstrap_token not in join  # the committed file has none
    filled = kubeadm.with_dummy_secrets(join, fields)
    assert f"token: {fake.bootstrap_token}" in filled and fake.ca_cert_hash in filled and fake.certificate_key in filled
    worker = kubeadm.with_dummy_secrets((reference / "kubeadm/worker1-join.yaml").read_text(), fields)
    assert "controlPlane" not in worker and "certificateKey" not in worker  # a worker must not become a control plane
    init = kubeadm.with_dummy_secrets((reference / "kubeadm/cp1-init.yaml").read_text(), fields)
    assert fake.bootstrap_token in init and fake.certificate_key in init


def test_a_missing_kubeadm_names_the_command_that_builds_it(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    edit(root, layout.INVENTORY, 'version: "1.35.4"', 'version: "1.32.7"')
    with pytest.raises(ToolMissing, match=r"clusterforge tools install --kubernetes 1\.32\.7"):
        run(root, kubeadm.jobs)


def test_filling_in_secrets_keeps_the_quotes_kubeadm_needs(reference: Path) -> None:
    """kubeadm reads YAML 1.1, where a node named `y` or `n` is a boolean unless quoted
    (found by tests/test_property.py): the filled-in config keeps the rendered quotes."""
    join = (reference / "kubeadm/worker1-join.yaml").read_text().replace("name: worker1", "name: 'y'")
    assert "name: 'y'" in kubeadm.with_dummy_secrets(join, kubeadm.secret_fields(loader.check_file(reference / layout.INVENTORY).inventory))


def test_secret_fields_from_one_node_per_shape_are_every_nodes(reference: Path, variant: Path) -> None:
    """The fields come from one node per kind of kubeadm file; every node's would add none."""
    for root in (reference, variant):
        inv = loader.check_file(root / layout.INVENTORY).inventory
        every: dict = {}
        for node in inv.kubernetes_nodes:
            plain = yamlio.loader().load_all(renderer.config(inv, node))
            filled = yamlio.loader().load_all(renderer.with_secrets(inv, node, kubeadm.DUMMY_SECRETS))
            for before, after in zip(plain, filled, strict=True):
                every.setdefault(after["kind"], {}).update(kubeadm._added(before, after, ()))
        assert kubeadm.secret_fields(inv) == every
