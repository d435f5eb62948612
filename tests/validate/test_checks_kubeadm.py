"""kubeadm config validate, by the kubeadm of the cluster's minor, on the committed
configs with fake secrets filled in."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.errors import ToolMissing
from generator import cli, loader, toolpins, yamlio
from generator.render import kubeadm as renderer
from generator.render import layout
from generator.validate.base import Result
from generator.validate.checks import kubeadm
from generator.validate.checks._common import RERENDER
from support import copy, edit

from . import NeedTool, ctx_of, failures, run

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


@pytest.mark.tools
def test_a_failed_config_s_result_whole(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    kubeadm_path = need_tool("kubeadm", kubernetes_version=inv.kubernetes.version)
    root = copy(reference, tmp_path)
    edit(root, JOIN, "kind: JoinConfiguration\n", "kind: JoinConfiguration\nfoo: 1\n")
    jobs = kubeadm.jobs(ctx_of(root))
    assert [j.inputs for j in jobs] == [(layout.kubeadm_file(inv, n),) for n in sorted(inv.kubernetes_nodes, key=lambda n: layout.kubeadm_file(inv, n))]
    [job] = [j for j in jobs if j.inputs == (JOIN,)]
    assert (job.check, job.extra_key) == (kubeadm.CHECK, "")
    assert job.tool_version.startswith(f"{kubeadm_path} ")  # the binary's stamp: another kubeadm, another verdict
    [result] = job.run()
    name = toolpins.kubeadm_binary(inv.kubernetes.version)
    assert result == Result(
        kubeadm.CHECK,
        JOIN,
        False,
        'error: error unmarshaling configuration schema.GroupVersionKind{Group:"kubeadm.k8s.io", Version:"v1beta4", Kind:"JoinConfiguration"}: '
        'strict decoding error: unknown field "foo"\nTo see the stack trace of this error execute with --v=5 or higher',
        f"{name} rejects this config (validated with fake secrets filled in); {RERENDER}",
    )


def test_text_that_is_not_yaml_goes_to_kubeadm_unchanged(reference: Path) -> None:
    fields = kubeadm.secret_fields(loader.check_file(reference / layout.INVENTORY).inventory)
    assert kubeadm.with_dummy_secrets("a: [\n", fields) == "a: [\n"


def test_filling_in_secrets_keeps_every_document_and_line(reference: Path) -> None:
    fields = kubeadm.secret_fields(loader.check_file(reference / layout.INVENTORY).inventory)
    long_name = "n" * 100
    words = "w " * 3000 + "end"  # past any line width: kubeadm's line numbers must stay the file's
    text = (reference / JOIN).read_text().replace("name: cp2", f"name: {long_name}")
    text = text.replace("apiVersion: kubeadm.k8s.io/v1beta4\n", f"apiVersion: kubeadm.k8s.io/v1beta4\nnote: {words}\n", 1) + "--- [a list, not a config]\n--- 3\n"
    filled = kubeadm.with_dummy_secrets(text, fields)
    assert filled.startswith("---\napiVersion: kubeadm.k8s.io/v1beta4\n")  # every document opens with ---
    assert f"  name: {long_name}\n" in filled  # never folded: kubeadm reads it back
    assert f"\nnote: {words}\n" in filled
    assert filled.endswith("\n--- [a list, not a config]\n--- 3\n...\n")  # left as they were, with no secret in them
    assert f"    token: {kubeadm.DUMMY_SECRETS.bootstrap_token}\n" in filled


def test_fields_of_other_kinds_are_not_filled_in(reference: Path) -> None:
    fields = kubeadm.secret_fields(loader.check_file(reference / layout.INVENTORY).inventory)
    text = (reference / JOIN).read_text().replace("kind: JoinConfiguration", "kind: Joinconfiguration")
    assert kubeadm.DUMMY_SECRETS.bootstrap_token not in kubeadm.with_dummy_secrets(text, fields)
    # A field whose parent is not a mapping stays as it is.
    text = (reference / JOIN).read_text().replace("discovery:\n  bootstrapToken:\n    apiServerEndpoint: 192.168.100.4:6443\n", "discovery: [1]\n")
    assert "discovery: [1]\n" in kubeadm.with_dummy_secrets(text, fields)


def test_secret_fields_per_kind(reference: Path) -> None:
    fields = kubeadm.secret_fields(loader.check_file(reference / layout.INVENTORY).inventory)
    fake = kubeadm.DUMMY_SECRETS
    assert fields["JoinConfiguration"] == {
        ("discovery", "bootstrapToken", "token"): fake.bootstrap_token,
        ("discovery", "bootstrapToken", "caCertHashes"): [fake.ca_cert_hash],
        ("controlPlane", "certificateKey"): fake.certificate_key,
    }
    assert fields["InitConfiguration"] == {("bootstrapTokens",): [{"token": fake.bootstrap_token, "ttl": "24h0m0s"}], ("certificateKey",): fake.certificate_key}
    assert fields["ClusterConfiguration"] == fields["KubeletConfiguration"] == {}


def test_secret_fields_of_one_control_plane() -> None:
    """No control plane joins: the join fields are a worker's, with no certificate key."""
    text = "".join(line for line in cli.example_text().splitlines(keepends=True) if "name: cp2," not in line and "name: cp3," not in line)
    inv = loader.check_text(text).inventory
    assert [n.name for n in inv.control_planes] == ["cp1"]
    fake = kubeadm.DUMMY_SECRETS
    assert kubeadm.secret_fields(inv)["JoinConfiguration"] == {
        ("discovery", "bootstrapToken", "token"): fake.bootstrap_token,
        ("discovery", "bootstrapToken", "caCertHashes"): [fake.ca_cert_hash],
    }


def test_added_fields_are_the_leaves_that_differ() -> None:
    before = {"a": {"b": 1, "c": {"d": 1}}, "e": 1, "f": {"g": 1}}
    after = {"a": {"b": 1, "c": {"d": 2, "x": 3}}, "e": {"now": "a map"}, "f": 2, "new": {"h": 1}}
    assert kubeadm._added(before, after, ("top",)) == {
        ("top", "a", "c", "d"): 2, ("top", "a", "c", "x"): 3, ("top", "e"): {"now": "a map"}, ("top", "f"): 2, ("top", "new"): {"h": 1},
    }


def test_a_document_that_is_no_mapping_is_skipped_not_the_end(reference: Path) -> None:
    fields = kubeadm.secret_fields(loader.check_file(reference / layout.INVENTORY).inventory)
    filled = kubeadm.with_dummy_secrets("--- 3\n" + (reference / JOIN).read_text(), fields)
    assert filled.startswith("--- 3\n---\napiVersion: kubeadm.k8s.io/v1beta4\n")
    assert kubeadm.DUMMY_SECRETS.bootstrap_token in filled
