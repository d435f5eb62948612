"""`clusterforge plan`: the file diff of a cluster.yaml change and the steps outside git."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from generator import cli, plan, repo
from generator.errors import ClusterforgeError

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
    assert "new VM worker4 (worker, 192.168.100.99 on nuc3): on cp1 `sudo kubeadm token create TOKEN`" in steps
    assert "node worker3 is gone from cluster.yaml: `kubectl drain worker3" in steps
    assert "router rtx1220: apply routers/rtx1220/rtx.txt again" in steps  # one neighbor per node
    assert not any(step.startswith("Kubernetes") for step in result.steps)


WORKER4 = ("  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n",
           "  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n"
           "  - {name: worker4,  role: worker,        ip: 192.168.100.99, host: nuc3}\n")


@pytest.mark.parametrize("mode", ["manual", "auto"])
def test_a_new_node_joins_as_its_bootstrap_mode_makes_it(tmp_path, mode):
    """With bootstrap.mode auto the seed runs `kubeadm join` at first boot: nobody runs it by hand,
    and the token must be there before the VM boots. By hand, the operator joins it."""
    lab = tmp_path / "lab"
    repo.new(lab, EXAMPLE + ("\nbootstrap:\n  mode: auto\n" if mode == "auto" else ""))
    change(lab, WORKER4)
    (step,) = [step for step in plan.plan(lab).steps if step.startswith("new VM worker4")]
    token = "on cp1 `sudo kubeadm token create TOKEN` (TOKEN: bootstrapToken in .clusterforge/secrets.yaml)"
    seed = "`clusterforge seed worker4 seeds/worker4 --iso`"
    if mode == "auto":
        assert step == (f"new VM worker4 (worker, 192.168.100.99 on nuc3): {token} before the VM boots, then {seed} and create the VM: "
                        "it runs `kubeadm join` by itself at first boot (bootstrap.mode auto); follow it there with "
                        "`sudo tail -f /var/log/clusterforge-bootstrap.log`")
    else:
        assert step == (f"new VM worker4 (worker, 192.168.100.99 on nuc3): {token}, then {seed}, create the VM, and on it, once "
                        "`cloud-init status --wait` is done, `sudo kubeadm join --config /etc/clusterforge/kubeadm.yaml`")
    runbook = (lab / "docs/runbooks/add-node-worker4.md")
    plan.write_runbooks(lab, plan.plan(lab))
    text = runbook.read_text()
    joins_by_itself = "runs `kubeadm join` by itself (5 attempts, 30 s apart)" in text and "sudo systemctl start clusterforge-bootstrap.service" in text
    assert joins_by_itself == (mode == "auto")
    assert ("sudo kubeadm join --config /etc/clusterforge/kubeadm.yaml" in text) == (mode == "manual")
    assert ("before the VM boots: it joins by itself at first boot:" in text) == (mode == "auto")
    assert "upload the certificates" not in text  # a worker needs none


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


def test_plan_writes_the_runbooks_of_a_minor_upgrade_and_a_new_node(lab, capsys):
    change(lab, ('version: "1.35.4"', 'version: "1.34.4"'))
    repo.render_repo(lab)
    change(
        lab,
        ('version: "1.34.4"', 'version: "1.35.4"'),
        ("  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n",
         "  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n"
         "  - {name: worker4,  role: worker,        ip: 192.168.100.99, host: nuc3}\n"),
    )
    result = plan.plan(lab)
    upgrade, added = "docs/runbooks/upgrade-kubernetes-1.34.4-to-1.35.4.md", "docs/runbooks/add-node-worker4.md"
    assert sorted(result.runbooks) == [added, upgrade]
    assert any(step.startswith(f"runbooks of this change, step by step with a check after each: {upgrade}") for step in result.steps)
    assert cli.main(["plan", "-C", str(lab)]) == 0
    out = capsys.readouterr().out
    assert f"runbook written: {upgrade}\n" in out and f"runbook written: {added}\n" in out
    assert (lab / upgrade).read_text() == result.runbooks[upgrade]
    assert "sudo kubeadm upgrade apply v1.35.4 --yes" in (lab / upgrade).read_text()
    repo.render_repo(lab)  # the change is rendered: the runbooks stay, to be committed with it
    assert (lab / upgrade).is_file() and (lab / added).is_file()
    assert plan.plan(lab).runbooks == {}


def test_no_runbooks_without_the_inventory_snapshot(lab):
    (lab / ".clusterforge/inventory.json").write_text("[]")  # damaged: not an inventory
    change(lab, ("  port: 6443", "  port: 8443"))
    result = plan.plan(lab)
    assert result.runbooks == {} and result.steps[-1].startswith("no runbooks: .clusterforge/inventory.json is missing or unreadable")


@pytest.mark.parametrize("damage", ["nested", "oversized", "fifo", "link", "linked-folder", "no-control-plane"])
def test_a_hostile_snapshot_gives_no_runbooks(lab, tmp_path, damage):
    """The snapshot is in the repository, so as hostile as the lock: never followed through a
    link, never waited on, never a traceback."""
    snapshot = lab / ".clusterforge/inventory.json"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "inventory.json").write_bytes(snapshot.read_bytes())  # a valid snapshot, outside the repository
    snapshot.unlink()
    if damage == "nested":
        snapshot.write_text("[" * 200_000)
    elif damage == "oversized":
        snapshot.write_text(" " * 1_000_001 + "{}")
    elif damage == "fifo":
        os.mkfifo(snapshot)
    elif damage == "no-control-plane":  # a valid model that breaks the rules: no cluster.yaml gives it
        inventory = json.loads((elsewhere / "inventory.json").read_text())
        inventory["nodes"] = [node for node in inventory["nodes"] if node["role"] == "loadbalancer"]
        snapshot.write_text(json.dumps(inventory))
    elif damage == "link":
        snapshot.symlink_to(elsewhere / "inventory.json")
    else:
        for path in (lab / ".clusterforge").iterdir():
            path.rename(elsewhere / path.name)
        (lab / ".clusterforge").rmdir()
        (lab / ".clusterforge").symlink_to(elsewhere)
    change(lab, ('version: "1.35.4"', 'version: "1.35.5"'))
    assert plan.rendered_from(lab) is None
    if damage in ("fifo", "linked-folder"):  # the writer refuses the repository as it is, and says why
        with pytest.raises(ClusterforgeError, match="inventory.json is not a regular file|.clusterforge is a symbolic link"):
            plan.plan(lab)
        return
    result = plan.plan(lab)
    assert result.runbooks == {} and result.steps[-1].startswith("no runbooks: .clusterforge/inventory.json is missing")


def test_runbooks_are_ordinary_files_written_only_inside_the_repository(lab, tmp_path, capsys):
    change(lab, ("  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n",
                 "  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n"
                 "  - {name: worker4,  role: worker,        ip: 192.168.100.99, host: nuc3}\n"))
    added = lab / "docs/runbooks/add-node-worker4.md"
    assert cli.main(["plan", "-C", str(lab)]) == 0
    assert stat.S_IMODE(added.stat().st_mode) == 0o644  # to be committed: not a private file
    outside = tmp_path / "outside"
    outside.mkdir()
    added.unlink()
    for path in (lab / "docs/runbooks").iterdir():
        path.rename(outside / path.name)
    (lab / "docs/runbooks").rmdir()
    (lab / "docs/runbooks").symlink_to(outside)
    capsys.readouterr()
    assert cli.main(["plan", "-C", str(lab)]) != 0
    assert "docs/runbooks is a symbolic link: clusterforge never writes" in capsys.readouterr().err
    assert not (outside / "add-node-worker4.md").exists()
