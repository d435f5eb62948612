from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import loader
from generator.model import Inventory
from generator.render import bootstrap, cilium, docs, layout

from .test_routers import THREE_PEERS, three_peers, with_bgp

EXAMPLE = Path("generator/data/cluster.example.yaml")
VARIANT = Path("tests/data/variant.yaml")
FULL = Path("tests/data/full.yaml")

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
    """The lines of every shell/text block, without comments; not the expected outputs (what a tool prints)."""
    text = re.sub(r"^(?:Expected output \(excerpt\)|期待される出力（抜粋）):\n\n```text\n.*?^```$", "", text, flags=re.S | re.M)
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
        "clusterforge seed cp2 seeds/cp2",
        "sudo kubeadm join --config /etc/clusterforge/kubeadm.yaml",
        "clusterforge seed worker1 seeds/worker1",
        "flux bootstrap git --url=ssh://git@github.com/example/koedo-lab.git --branch=main --path=clusters/koedo-lab",
        "routers/rtx1220/rtx.txt",
        "show status bgp neighbor",
        "cilium bgp peers",
        "kubectl expose deployment lb-check --name=lb-check-default --type=LoadBalancer --port=80\n",
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
    assert "--name=lb-check-internal --type=LoadBalancer --port=80 --labels=pool=internal" in docs.readme(pools)


def test_services_of_pools_selected_by_two_labels_carry_both() -> None:
    pools = "cidr: 192.168.101.0/25\n    serviceSelector: {zone: dmz, tier: web}\n  - name: internal\n    cidr: 192.168.101.128/25\n    serviceSelector: {zone: core, tier: web}\n "
    text = EXAMPLE.read_text().replace("cidr: 192.168.101.0/24 ", pools)
    readme = docs.readme(loader.check_text(text).inventory)
    assert [line for line in commands(readme) if line.startswith("kubectl expose")] == [
        "kubectl expose deployment lb-check --name=lb-check-default --type=LoadBalancer --port=80 --labels=tier=web,zone=dmz",
        "kubectl expose deployment lb-check --name=lb-check-internal --type=LoadBalancer --port=80 --labels=tier=web,zone=core",
    ]


@pytest.mark.parametrize("pod_cidrs", [True, False])
def test_frr_excerpt_counts_a_received_prefix_per_node_only_for_pod_cidrs(pod_cidrs: bool) -> None:
    """Before any LoadBalancer Service exists a node announces its own podCIDR, or nothing."""
    assert THREE_PEERS.count("podCIDRs: true") == 1
    inv = with_bgp(THREE_PEERS.replace("podCIDRs: true", f"podCIDRs: {str(pod_cidrs).lower()}"))
    received = "1" if pod_cidrs else "0"
    rows = [line for line in docs.readme(inv).splitlines() if line.startswith("192.168.100.") and " 4      64512 " in line]
    assert rows == [f"{n.ip}  4      64512        15        12        0    0    0 00:04:12            {received}        0 N/A" for n in inv.kubernetes_nodes]


def test_japanese_readme_has_the_same_structure() -> None:
    inv = in_japanese(example())
    rendered = docs.render(inv)
    assert sorted(rendered) == [layout.README_JA, layout.README]
    en, ja = rendered[layout.README], rendered[layout.README_JA]
    assert len(re.findall(r"^##+ ", en, re.M)) == len(re.findall(r"^##+ ", ja, re.M))
    assert re.findall(r"```.*?```", en, re.S) != []
    assert commands(en) == commands(ja)  # only the prose and the comments differ
    assert "## 構築手順" in ja and "### 5. 残りのノードを参加させる" in ja
    prose = re.sub(r"```.*?```", "", ja, flags=re.S)  # tools print English whatever the language
    assert not re.search(r"^[A-Z][a-z]+ [a-z]+ [a-z]+ ", prose, re.M)  # no English sentences left
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


def test_inventory_values_on_shell_lines_are_quoted() -> None:
    """A branch and a URL git accepts may still hold shell syntax: each README command
    line splits into exactly the arguments it names, whatever the values hold."""
    text = EXAMPLE.read_text()
    text = text.replace("branch: main", "branch: '$(reboot)'")
    text = text.replace("koedo-lab.git", "koedo-lab.git;reboot&")
    text = text.replace("cidr: 192.168.101.0/24 ", "cidr: 192.168.101.0/24\n    serviceSelector: {app.example.org/tier: web-1}\n ")
    readme = docs.readme(loader.check_text(text).inventory)
    bootstrap = next(line for line in commands(readme) if line.startswith("flux bootstrap"))
    assert shlex.split(bootstrap) == [
        "flux", "bootstrap", "git", "--url=ssh://git@github.com/example/koedo-lab.git;reboot&", "--branch=$(reboot)", "--path=clusters/koedo-lab",
    ]
    expose = next(line for line in commands(readme) if line.startswith("kubectl expose"))
    assert shlex.split(expose)[-1] == "--labels=app.example.org/tier=web-1"
    for line in commands(readme):
        assert "$(reboot)" not in line or "'$(reboot)'" in line


def _selects(selector: dict | None, labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (as CiliumLoadBalancerIPPool uses it) on a Service's
    labels; no selector selects every Service."""
    selector = selector or {}
    ok = all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] in ("In", "NotIn"), expression
        found = labels.get(expression["key"]) in expression["values"]
        ok &= found if expression["operator"] == "In" else not found
    return ok


def test_selector_semantics() -> None:
    assert _selects(None, {}) and _selects({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"})
    assert not _selects({"matchLabels": {"a": "1"}}, {})
    assert _selects({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {})
    assert not _selects({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {"a": "1"})


@pytest.mark.parametrize("inv", [example(), loader.check_file(VARIANT).inventory, loader.check_file(FULL).inventory, three_peers()], ids=["example", "variant", "full", "three-peers"])
def test_each_lb_check_service_draws_from_its_pool_only(inv: Inventory) -> None:
    """Cilium picks at random among the pools that select a Service: the README's test
    Service of each pool must be selected by that pool's rendered selector and by no other."""
    exposes = re.findall(r"^kubectl expose deployment lb-check --name=(\S+) --type=LoadBalancer --port=80(?: --labels=(\S+))?$", docs.readme(inv), re.M)
    assert len(exposes) == len(inv.load_balancer_pools)
    selectors = {d["metadata"]["name"]: d["spec"].get("serviceSelector") for d in cilium.ip_pools(inv)}
    for service, labels in exposes:
        given = dict(pair.split("=") for pair in labels.split(",")) if labels else {}
        assert [pool for pool, selector in selectors.items() if _selects(selector, given)] == [service.removeprefix("lb-check-")]


def test_argocd_step_orders_the_waves_and_cleans_up_helm() -> None:
    text = docs.readme(argocd_with_vm_hints())
    lines = commands(text)
    cm = f"kubectl apply --server-side --field-manager=clusterforge -f {layout.ARGOCD_CM}"
    root = f"kubectl apply -f {layout.ARGOCD_ROOT}"
    cleanup = f"kubectl --namespace kube-system delete secret --selector {cilium.HELM_RELEASE_SELECTOR}"
    # The health check is in place before the root application syncs its waves; the
    # stale Helm record goes once Argo CD manages Cilium.
    assert lines.index(cm) < lines.index(root) < lines.index(cleanup)
    assert "Synced and Healthy" in text and "waves order nothing" in text
    flux = docs.readme(example())
    assert cleanup not in commands(flux) and layout.ARGOCD_CM not in flux


def test_install_script_makes_no_adoption_claim_for_argocd() -> None:
    """Argo CD never reads Helm's release storage: the script says what happens instead."""
    argo = cilium.bootstrap_script(argocd_with_vm_hints())
    assert "adopt" not in argo
    assert f"delete secret --selector {cilium.HELM_RELEASE_SELECTOR}" in argo
    assert "upgrades this release in place" in cilium.bootstrap_script(example())


def test_readme_says_who_may_reach_ssh_and_the_api() -> None:
    """The host firewalls admit only the node subnet unless allowedSources say more: a
    helm run from another network (step 4) would otherwise time out without a word."""
    text = docs.readme(example())
    bootstrap = text[text.index("## Bootstrap") : text.index("### 1.")]
    assert "SSH into the VMs only from 192.168.100.0/24" in bootstrap and "API on the VIP only from 192.168.100.0/24" in bootstrap
    assert "`ssh.allowedSources` / `apiServer.allowedSources`" in bootstrap
    step4 = text[text.index("### 4.") : text.index("### 5.")]
    assert "Only 192.168.100.0/24 reach the Kubernetes API on the VIP (`apiServer.allowedSources`)" in step4
    variant = docs.readme(loader.check_file(VARIANT).inventory)
    assert "API on the VIP only from 198.51.100.0/24, 203.0.113.128/25" in variant
    assert "add your network to `ssh.allowedSources` in" in variant  # the API's is already set


def test_no_hash_to_copy_and_auto_mode_says_how_to_follow() -> None:
    """render made the CA: neither mode asks for a hash computed on cp1 and pasted back."""
    manual = docs.readme(example())
    auto_inv = loader.check_text(EXAMPLE.read_text() + "\nbootstrap:\n  mode: auto\n").inventory
    auto = docs.readme(auto_inv)
    for text in (manual, auto):
        assert "openssl" not in text and "caCertHash" not in text
    assert "No hash to copy" in manual
    lines = commands(auto)
    assert bootstrap.follow_command() == "sudo tail -f /var/log/clusterforge-bootstrap.log" and bootstrap.follow_command() in lines
    # Nobody runs kubeadm or the Cilium install by hand in auto mode; the seeds of the other nodes are built.
    assert not any("kubeadm init" in line or "kubeadm join" in line or "install-cilium" in line for line in lines)
    assert "clusterforge seed worker3 seeds/worker3 --iso" in lines
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


@pytest.mark.parametrize("line", ["echo one\necho two", "echo `id`"])
def test_a_code_line_with_a_line_break_or_a_backtick_is_a_bug(line: str) -> None:
    """The model admits neither in a value; a line holding one would end or garble the fenced block."""
    with pytest.raises(AssertionError):
        docs._code(["true", line])
