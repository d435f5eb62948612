from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import loader
from generator.model import Inventory
from generator.render import docs, layout

from .test_routers import three_peers

EXAMPLE = Path("generator/data/cluster.example.yaml")

NODE_DEF = re.compile(r'^\s*(\w+)(\["[^"]*"\]|\(\("[^"]*"\)\)|\{\{"[^"]*"\}\}|\[\("[^"]*"\)\])$')
EDGE = re.compile(r'^\s*(\w+) (---|-->|-\.->)\|"[^"|]*"\| (\w+)$')
SUBGRAPH = re.compile(r'^\s*subgraph (\w+)\["[^"]*"\]$')


def example() -> Inventory:
    return loader.check_file(EXAMPLE).inventory


def in_japanese(inv: Inventory) -> Inventory:
    return inv.model_copy(update={"docs": inv.docs.model_copy(update={"language": "ja"})})


def argocd_with_vm_hints() -> Inventory:
    text = EXAMPLE.read_text().replace("engine: flux ", "engine: argocd")
    text = text.replace("host: nuc1}", "host: nuc1, mac: '52:54:00:00:00:01', vm: {cpus: 4, memoryGiB: 8}}", 1)
    return loader.check_text(text).inventory


def mermaid_block(text: str) -> list[str]:
    blocks = re.findall(r"```mermaid\n(.*?)```", text, re.S)
    assert len(blocks) == 1
    return blocks[0].splitlines()


def commands(text: str) -> list[str]:
    """The lines of every shell/text block, without comments."""
    blocks = re.findall(r"```(?:sh|text)\n(.*?)```", text, re.S)
    return [line for block in blocks for line in block.splitlines() if not line.startswith("#")]


def check_mermaid(lines: list[str]) -> dict[str, str]:
    """Every line is a known statement, subgraphs balance, ids are unique and edges join defined ids.
    Returns the node definitions (id -> whole line)."""
    assert lines[0] == "flowchart LR"
    depth, defined, subgraphs, edges = 0, {}, set(), []
    for line in lines[1:]:
        if m := SUBGRAPH.match(line):
            depth += 1
            assert m.group(1) not in subgraphs
            subgraphs.add(m.group(1))
        elif line.strip() == "end":
            depth -= 1
            assert depth >= 0
        elif m := NODE_DEF.match(line):
            assert m.group(1) not in defined, f"duplicate id {m.group(1)}"
            defined[m.group(1)] = line
        elif m := EDGE.match(line):
            edges.append((m.group(1), m.group(3)))
        else:
            pytest.fail(f"not a Mermaid statement this renderer writes: {line!r}")
    assert depth == 0
    assert not subgraphs & defined.keys()
    assert all(a in defined and b in defined for a, b in edges), edges
    return defined


@pytest.mark.parametrize("inventory", [example, three_peers, argocd_with_vm_hints])
def test_readme_names_every_node_peer_and_the_vip(inventory: Callable[[], Inventory]) -> None:
    inv = inventory()
    text = docs.readme(inv)
    for node in inv.nodes:
        assert f"| {node.name} | {node.role} | {node.ip} | {node.host} |" in text
    assert str(inv.api_server.vip) in text and inv.api_endpoint in text
    assert inv.bgp is not None
    for peer in inv.bgp.peers:
        assert layout.router_file(peer) in text
    defined = check_mermaid(mermaid_block(text))
    for node in inv.nodes:
        assert f"{node.name}<br/>{node.role}<br/>{node.ip}" in defined[docs.mermaid_id("node", node.name)]
    for peer in inv.bgp.peers:
        assert f"AS {peer.asn}" in defined[docs.mermaid_id("peer", peer.name)]
    for pool in inv.load_balancer_pools:
        assert str(pool.cidr) in defined[docs.mermaid_id("pool", pool.name)]


def test_bgp_sessions_in_the_diagram() -> None:
    inv = three_peers()
    lines = mermaid_block(docs.readme(inv))
    sessions = [line.strip() for line in lines if "BGP AS" in line]
    assert len(sessions) == len(inv.kubernetes_nodes) * 3
    assert 'node_worker1 ---|"eBGP AS 64512 - AS 65001"| peer_edge' in sessions
    assert 'node_cp2 ---|"iBGP AS 64512 - AS 64512"| peer_lab_bird' in sessions
    assert not any("haproxy" in line for line in sessions)  # load balancers run no BGP speaker
    assert '  peer_edge -.->|"installs"| pool_internal' in lines


def test_mermaid_ids_avoid_keywords_and_collisions() -> None:
    assert docs.mermaid_id("node", "end") == "node_end"
    assert docs.mermaid_id("node", "a-b") != docs.mermaid_id("pool", "a-b")


def test_bootstrap_order_and_commands() -> None:
    inv = example()
    text = docs.readme(inv)
    titles = re.findall(r"^### (\d+)\. (.*)$", text, re.M)
    assert [int(n) for n, _ in titles] == list(range(1, 9))
    order = [
        "clusterforge seed haproxy1 seeds/haproxy1",
        "clusterforge seed cp1 seeds/cp1",
        "nc -vz 192.168.100.4 6443",
        "sudo kubeadm init --config /etc/clusterforge/kubeadm.yaml --upload-certs",
        f"./{layout.CILIUM_BOOTSTRAP}",
        docs.CA_HASH_COMMAND,
        "clusterforge seed cp2 seeds/cp2",
        "sudo kubeadm join --config /etc/clusterforge/kubeadm.yaml",
        "clusterforge seed worker1 seeds/worker1",
        "flux bootstrap git --url=ssh://git@github.com/example/koedo-lab.git --branch=main --path=clusters/koedo-lab",
        "routers/rtx1220/rtx.txt",
        "show status bgp neighbor",
        "cilium bgp peers",
        "kubectl expose deployment lb-check --type=LoadBalancer --port=80\n",
    ]
    positions = [text.index(each) for each in order]
    assert positions == sorted(positions)
    assert "2 hours" in text and "never commit" in text
    assert text.endswith("\n") and "\n\n\n" not in text


def test_argocd_vm_hints_and_selected_pool() -> None:
    inv = argocd_with_vm_hints()
    text = docs.readme(inv)
    assert "kubectl apply -f argocd/root.yaml" in text and "flux bootstrap" not in text
    assert "| Name | Role | IP | Host | MAC | VM |" in text
    assert "| cp1 | control-plane | 192.168.100.11 | nuc1 | 52:54:00:00:00:01 | 4 CPU, 8 GiB RAM |" in text
    pools = three_peers().model_copy(update={"load_balancer_pools": [three_peers().load_balancer_pools[1]]})
    assert "--type=LoadBalancer --port=80 --labels=pool=internal" in docs.readme(pools)


def test_japanese_readme_has_the_same_structure() -> None:
    inv = in_japanese(example())
    rendered = docs.render(inv)
    assert sorted(rendered) == [layout.README_JA, layout.README]
    en, ja = rendered[layout.README], rendered[layout.README_JA]
    assert len(re.findall(r"^##+ ", en, re.M)) == len(re.findall(r"^##+ ", ja, re.M))
    assert re.findall(r"```.*?```", en, re.S) != []
    assert commands(en) == commands(ja)  # only the prose and the comments differ
    assert "## 構築手順" in ja and "### 5. 残りのノードを参加させる" in ja
    assert not re.search(r"^[A-Z][a-z]+ [a-z]+ [a-z]+ ", ja, re.M)  # no English sentences left
    assert f"[{layout.README_JA}]({layout.README_JA})" in en


def test_english_only_by_default_and_deterministic() -> None:
    inv = example()
    assert list(docs.render(inv)) == [layout.README]
    assert layout.README_JA not in docs.readme(inv)
    assert docs.render(inv) == docs.render(example())


def test_without_bgp() -> None:
    inv = example().model_copy(update={"bgp": None})
    text = docs.readme(inv)
    check_mermaid(mermaid_block(text))
    assert "routers/" not in text and "cilium bgp peers" not in text
    assert len(re.findall(r"^### \d+\. ", text, re.M)) == 7


def test_the_router_step_starts_with_the_simulation() -> None:
    """Before anyone touches the router, `clusterforge simulate` proves the files; the
    README shows the BGP lines of its report for this cluster's routers."""
    text = docs.readme(example())
    step = text[text.index("### 7. Configure the router") : text.index("### 8. ")]
    assert step.index("`clusterforge simulate`") < step.index("- [`routers/rtx1220/rtx.txt`]")
    report = re.search(r"```text\n(.*?)```", step, re.S)
    assert report is not None
    assert [line for line in report.group(1).splitlines() if line.startswith("PASS")] == [
        "PASS  5. BGP sessions  routers/rtx1220/rtx.txt",
        "PASS  6. routes  routers/rtx1220/rtx.txt",
        "PASS  7. withdrawal  routers/rtx1220/rtx.txt",
    ]
