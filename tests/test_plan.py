"""`clusterforge plan`: the file diff of a cluster.yaml change and the steps outside git."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import cli, plan, repo

EXAMPLE = cli.example_text()


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    dest = tmp_path / "lab"
    repo.new(dest, EXAMPLE)
    return dest


def change(lab: Path, *replacements: tuple[str, str]) -> None:
    inventory = lab / "cluster.yaml"
    text = inventory.read_text()
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    inventory.write_text(text)


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_nothing_to_plan_on_a_fresh_repository(lab, capsys):
    assert cli.main(["plan", "-C", str(lab)]) == 0
    assert capsys.readouterr().out == "nothing to change: the repository is what cluster.yaml renders to\n"


def test_node_added_and_removed(lab):
    change(
        lab,
        ("  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n",
         "  - {name: worker4,  role: worker,        ip: 192.168.100.99, host: nuc3}\n"),
    )
    before = snapshot(lab)
    result = plan.plan(lab)
    assert snapshot(lab) == before  # plan changes nothing
    assert "+++ b/nodes/worker4/user-data" in result.diff and "--- a/nodes/worker3/user-data" in result.diff
    assert "+  - path: /etc/clusterforge/kubeadm.yaml" in result.diff
    steps = "\n".join(result.steps)
    assert "new VM worker4 (worker, 192.168.100.99 on nuc3): `clusterforge seed worker4 seeds/worker4 --iso`" in steps
    assert "node worker3 is gone from cluster.yaml: `kubectl drain worker3" in steps
    assert "router rtx1220: apply routers/rtx1220/rtx.txt again" in steps  # one neighbor per node
    assert not any(step.startswith("Kubernetes") for step in result.steps)


def test_kubernetes_and_cilium_upgrades_follow_their_order(lab):
    # Move the lab back one minor first, as if it had been built on 1.34.
    change(lab, ('version: "1.35.4"', 'version: "1.34.4"'))
    repo.render_repo(lab)
    change(lab, ('version: "1.34.4"', 'version: "1.35.4"'), ("version: 1.19.6", "version: 1.20.0"))
    steps = plan.plan(lab).steps
    upgrade = next(s for s in steps if s.startswith("Kubernetes 1.34.4 -> 1.35.4, in kubeadm's order"))
    assert upgrade.index("kubeadm upgrade apply v1.35.4") < upgrade.index("kubeadm upgrade node") < upgrade.index("workers last")
    assert any(s.startswith("Cilium 1.19.6 -> 1.20.0: read its upgrade notes") for s in steps)
    assert any(s.startswith("in the cluster: nothing by hand; flux applies") for s in steps)


def test_kubeadm_limits_are_explained(lab):
    change(lab, ('version: "1.35.4"', 'version: "1.34.4"'))
    assert plan.plan(lab).steps[0].startswith("Kubernetes 1.35.4 -> 1.34.4 is a downgrade")
    repo.render_repo(lab)
    change(lab, ('version: "1.34.4"', 'version: "1.33.9"'), ("version: 1.19.6", "version: 1.18.12"))
    repo.render_repo(lab)
    change(lab, ('version: "1.33.9"', 'version: "1.35.4"'), ("version: 1.18.12", "version: 1.19.6"))
    assert plan.plan(lab).steps[0].startswith("Kubernetes 1.33.9 -> 1.35.4 skips a minor: kubeadm upgrades one minor at a time")


def test_load_balancer_change_is_reloaded_one_at_a_time(lab):
    change(lab, ("  port: 6443", "  port: 8443"))
    steps = plan.plan(lab).steps
    assert [s.split(":")[0] for s in steps if s.startswith("load balancer")] == ["load balancer haproxy1", "load balancer haproxy2"]


def test_hand_edits_are_named(lab):
    values = lab / "infrastructure/controllers/cilium/values.yaml"
    values.write_text(values.read_text() + "debug: {enabled: true}\n")
    assert plan.plan(lab).steps[0].startswith("1 file(s) were edited by hand")


def test_a_linked_file_is_named_but_never_read(lab, tmp_path):
    """A link where a rendered file belongs (a pull request may add one) could print any
    file the runner may read: plan names it and shows none of the target's text."""
    outside = tmp_path / "outside"
    outside.write_text("FAKE-text-outside-the-repository\n")
    user_data = lab / "nodes/cp1/user-data"
    user_data.unlink()
    user_data.symlink_to(outside)
    result = plan.plan(lab)
    assert "FAKE-text" not in result.diff
    assert "--- a/nodes/cp1/user-data (a symbolic link, not read)\n+++ b/nodes/cp1/user-data\n" in result.diff
    assert result.steps[0].startswith("1 file(s) were edited by hand")
