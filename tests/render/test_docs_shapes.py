"""The README of clusters unlike the reference lab: one control plane and no load
balancers, no pools, only pools with Service selectors, node names with '-'."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generator import loader
from generator.model import Inventory
from generator.render import docs, routers, tree

EXAMPLE = Path("generator/data/cluster.example.yaml")


def edited(*changes: tuple[str, str]) -> Inventory:
    text = EXAMPLE.read_text()
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return loader.check_text(text).inventory


def single_node_lab() -> Inventory:
    """One control plane, one worker, no load balancer, no BGP and no pools."""
    text = EXAMPLE.read_text()
    text = text[: text.index("\nbgp:\n") + 1] + text[text.index("\ngitops:\n") + 1 :]
    nodes = "nodes:\n  - {name: cp1, role: control-plane, ip: 192.168.100.11, host: nuc1}\n  - {name: w1, role: worker, ip: 192.168.100.34, host: nuc2}\n"
    text = text[: text.index("nodes:\n")] + nodes + text[text.index("\nssh:\n") + 1 :]
    return loader.check_text(text).inventory


def section(text: str, title: str) -> str:
    """The body of the bootstrap step titled `title`, up to the next heading."""
    match = re.search(rf"^### \d+\. {re.escape(title)}\n(.*?)(?=^##)", text, re.M | re.S)
    assert match, title
    return match.group(1)


def test_without_load_balancers_or_a_second_control_plane() -> None:
    text = docs.readme(single_node_lab())
    vms = section(text, "Create the first VMs")
    assert "Start with the first control plane:" in vms and "load balancers" not in vms
    assert re.findall(r"^clusterforge seed .*$", vms, re.M) == ["clusterforge seed cp1 seeds/cp1 --iso"]
    vip = section(text, "Check that the VIP answers")
    assert vip == (
        "\nNo load balancer is in this inventory: whatever serves 192.168.100.4:6443 must answer before going on:\n\n"
        "Check:\n\n```sh\nping -c 3 192.168.100.4\nnc -vz 192.168.100.4 6443\n```\n\n"
        "Expected output (excerpt):\n\n```text\n3 packets transmitted, 3 received, 0% packet loss, time 2003ms\n"
        "Connection to 192.168.100.4 6443 port [tcp/*] succeeded!\n```\n\n"
        "No packet loss, and `succeeded`: A timeout from a machine outside the allowed networks is the host firewall.\n\n"
    )
    join = section(text, "Join the other nodes")
    assert "There is no other control plane.\n\n" in join and "sudo kubeadm join" in join
    assert "clusterforge seed w1 seeds/w1 --iso" in join and "cp1 seeds" not in join
    where = text[text.index("## What is where") : text.index("## Understanding and operating the cluster")]
    assert "`loadbalancers/`" not in where and "`routers/`" not in where
    assert "- `nodes/`: NoCloud seeds without secrets, per VM" in where and "- `kubeadm/`: kubeadm configs" in where
    assert "lb-check" not in text  # no pool to test a LoadBalancer Service with
    assert where.endswith("the Flux entry point\n- `docs/`: troubleshooting, the reasons behind every choice, runbooks, the topology as an image\n\n")


def test_with_load_balancers_they_come_first() -> None:
    text = docs.readme(loader.check_file(EXAMPLE).inventory)
    vms = section(text, "Create the first VMs")
    assert "Start with the load balancers, then the first control plane:" in vms
    seeds = re.findall(r"^clusterforge seed (\S+) ", vms, re.M)
    assert seeds == ["haproxy1", "haproxy2", "cp1"]
    assert "- `loadbalancers/`: HAProxy and keepalived of each load balancer" in text


def test_bird_protocol_names_for_node_names_with_dashes() -> None:
    """BIRD symbols take letters, digits and '_' only."""
    assert routers.bird_protocol("worker-1-a") == "cilium_worker_1_a"
    assert routers.bird_protocol("cp1") == "cilium_cp1"


def test_two_renderers_claiming_one_file_is_a_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    inv = single_node_lab()

    def one(_inv: Inventory) -> dict[str, str]:
        return {"README.md": "one\n"}

    def another(_inv: Inventory) -> dict[str, str]:
        return {"README.md": "another\n"}

    monkeypatch.setattr(tree, "RENDERERS", (one, another))
    with pytest.raises(RuntimeError, match=re.escape(f"README.md rendered twice ({__name__})")):
        tree.render(inv)
