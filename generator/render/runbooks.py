"""Day-2 runbooks in docs/runbooks/: the steps of one operation in order, with the
exact commands for each node and a check after each step.

Two kinds, both pure functions of inventories:
- standing runbooks, rendered with the repository (`render`): renewing the
  certificates, restoring etcd from the daily snapshot, rotating the BGP passwords;
- runbooks of a change (`for_change(old, new)`), which `clusterforge plan` writes
  when cluster.yaml changes: a Kubernetes upgrade in kubeadm's order, a Cilium
  upgrade with its pre-flight check and upstream notes, a node added or removed.

English always, Japanese too when docs.language is ja (as the README).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import versions
from ..explain.catalog import Language, Words
from ..model import BgpPeer, Inventory, Node
from . import bootstrap, cilium, cloudinit, etcdbackup, guide, layout, loadbalancer, routers
from .verification import Check, code, node_row, nodes_header
from .verification import render as render_checks

DOCS_PREFIX = "../"  # from docs/runbooks/ to docs/
KUBEADM_CONFIG = cloudinit.KUBEADM_CONFIG
MANIFESTS = "/etc/kubernetes/manifests"
MANIFESTS_OFF = "/etc/kubernetes/manifests-off"
# kubeadm's own docs: a static pod is restarted by moving its manifest away for this long.
STATIC_POD_WAIT = 20
APT_SOURCE = f"/etc/apt/sources.list.d/{cloudinit.APT_SOURCE_NAME}.list"  # where cloud-init writes the apt source
CILIUM_UPGRADE_DOCS = "https://docs.cilium.io/en/v{minor}/operations/upgrade/#upgrade-notes"
CILIUM_RELEASE = "https://github.com/cilium/cilium/releases/tag/v{version}"
KUBERNETES_CHANGELOG = "https://github.com/kubernetes/kubernetes/blob/master/CHANGELOG/CHANGELOG-{minor}.md"
KUBEADM_UPGRADE_DOCS = "https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/"
# Notes from upstream that matter to what this repository renders, by the Cilium minor they arrive in
# (Documentation/operations/upgrade.rst of each release; facts checked on 2026-11-28).
CILIUM_NOTES: dict[tuple[int, int], Words] = {
    (1, 18): Words(
        "The BGP control plane resources and CiliumLoadBalancerIPPool are served as cilium.io/v2 (v2alpha1 is deprecated); this repository renders v2.",
        "BGP コントロールプレーンのリソースと CiliumLoadBalancerIPPool は cilium.io/v2 で提供されます（v2alpha1 は非推奨）。このリポジトリは v2 で生成します。",
    ),
    (1, 19): Words(
        "CiliumBGPPeeringPolicy (the v1 BGP control plane) is removed: objects of it left in the cluster are silently ignored. This repository uses the v2 resources only.",
        "CiliumBGPPeeringPolicy（v1 の BGP コントロールプレーン）は削除されました。クラスターに残ったそのオブジェクトは黙って無視されます。このリポジトリは v2 のリソースだけを使います。",
    ),
}


@dataclass(frozen=True)
class Block:
    where: Words | None  # whose machine, when it matters
    commands: list[str]
    fence: str = "sh"  # "text" for a router's CLI


@dataclass(frozen=True)
class Step:
    title: Words
    text: Words | None = None
    blocks: list[Block] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


@dataclass(frozen=True)
class Runbook:
    name: str  # file name without .md
    title: Words
    intro: Words
    steps: list[Step]


ON = Words("On {node}:", "{node} で:")
ON_EACH = Words("On each of {nodes}, one at a time:", "{nodes} のそれぞれで、1 台ずつ:")
ADMIN = Words("From the admin machine (kubectl with the admin kubeconfig):", "管理用のマシンで（管理者用 kubeconfig の kubectl）:")


def on(node: Node | str) -> Words:
    return ON.format(node=node if isinstance(node, str) else node.name)


def markdown(runbook: Runbook, inv: Inventory, language: Language) -> str:
    lines = [f"# {runbook.title(language)}", ""]
    if inv.docs.language == "ja":
        other: Language = "ja" if language == "en" else "en"
        name = layout.runbook(runbook.name, other).rsplit("/", 1)[-1]
        lines += [guide.LABELS["other"](language).format(file=name), ""]
    lines += [runbook.intro(language), ""]
    for number, step in enumerate(runbook.steps, 1):
        lines += [f"## {number}. {step.title(language)}", ""]
        if step.text:
            lines += [step.text(language), ""]
        for block in step.blocks:
            if block.where:
                lines += [block.where(language), ""]
            lines += code(block.commands, block.fence)
        lines += render_checks(step.checks, inv, language, DOCS_PREFIX)
    return "\n".join(lines).rstrip("\n") + "\n"


def files(runbooks: list[Runbook], inv: Inventory) -> dict[str, str]:
    return {layout.runbook(r.name, language): markdown(r, inv, language) for r in runbooks for language in guide.languages(inv)}


def render(inv: Inventory) -> dict[str, str]:
    """The standing runbooks, rendered with the repository."""
    standing = [renew_certificates(inv), restore_etcd(inv)]
    if any(p.auth_secret_ref for p in (inv.bgp.peers if inv.bgp else [])):
        standing.append(rotate_bgp_passwords(inv))
    return files(standing, inv)


# --- shared pieces -------------------------------------------------------------------------


def _nodes_check(inv: Inventory, nodes: list[Node], version: str, trouble: str | None = "node-not-ready") -> Check:
    shown = inv.model_copy(update={"kubernetes": inv.kubernetes.model_copy(update={"version": version})})
    return Check(
        [f"kubectl get nodes {' '.join(n.name for n in nodes)}"],
        [nodes_header(), *(node_row(shown, n, ready=True) for n in nodes)],
        Words("`Ready` and VERSION v{version}.", "`Ready` で VERSION が v{version}。").format(version=version),
        trouble,
    )


def _etcd_members_check(inv: Inventory, on_node: Node, members: list[Node]) -> Check:
    return Check(
        [*etcdbackup.find_container(), etcdbackup.etcdctl("member list --write-out=table")],
        ["+------------------+---------+------+-----------------------------+-----------------------------+------------+",
         "|        ID        | STATUS  | NAME |         PEER ADDRS          |        CLIENT ADDRS         | IS LEARNER |",
         "+------------------+---------+------+-----------------------------+-----------------------------+------------+",
         *(f"| {'...':<16} | started | {n.name:<4} | https://{n.ip}:2380 | https://{n.ip}:2379 | {'false':<10} |" for n in members)],
        Words("One `started` member per control plane: {names}.", "コントロールプレーンごとに `started` のメンバーが一つ: {names}。").format(names=", ".join(n.name for n in members)),
        where=Words("On {node} (etcdctl inside the etcd container):", "{node} で（etcd コンテナ内の etcdctl）:").format(node=on_node.name),
    )


def _drain(node: Node) -> list[str]:
    return [f"kubectl drain {node.name} --ignore-daemonsets --delete-emptydir-data"]


def _sessions_check(inv: Inventory) -> list[Check]:
    if inv.bgp is None:
        return []
    return [
        Check(
            ["cilium bgp peers"],
            [],
            Words("`established` for every node and peer (the Advertised count says nothing about a session that is down).", "すべてのノードとピアで `established`（落ちたセッションでも Advertised は数えられるので当てになりません）。"),
            "bgp-idle",
        )
    ]


def _seed_step(node: Node) -> Step:
    hints = [] if node.vm is None else [f"{key} {value}" for key, value in (("cpus", node.vm.cpus), ("memory GiB", node.vm.memory_gib), ("disk GiB", node.vm.disk_gib)) if value]
    return Step(
        Words("Create the VM {node} on {host}", "VM {node} を {host} に作る").format(node=node.name, host=node.host),
        Words(
            "Ubuntu 22.04 cloud image, its seed attached as a CD-ROM{hints}. The seed holds secrets: never commit it.",
            "Ubuntu 22.04 のクラウドイメージに、シードを CD-ROM として接続します{hints}。シードにはシークレットが入るので、決してコミットしないでください。",
        ).format(hints=f" ({', '.join(hints)})" if hints else ""),
        [Block(None, [f"clusterforge seed {node.name} {layout.SEEDS_DIR}/{node.name} --iso"])],
        [Check(["cloud-init status --wait"], ["status: done"], Words("`status: done`.", "`status: done`。"), where=on(node))],
    )


def _reload_loadbalancers(inv: Inventory) -> Step | None:
    if not inv.loadbalancers:
        return None
    blocks: list[Block] = []
    for lb in inv.loadbalancers:
        source = layout.loadbalancer_dir(lb)
        blocks.append(
            Block(
                on(lb),
                [
                    *(f"sudo install -m {'0755' if name == loadbalancer.CHECK_SCRIPT else '0644'} {source}/{name} {path}" for name, path in loadbalancer.INSTALL_PATHS.items()),
                    "sudo systemctl reload haproxy keepalived",
                ],
            )
        )
    return Step(
        Words("Reload the load balancers, one at a time", "ロードバランサーを 1 台ずつ再読み込みする"),
        Words(
            "Their files changed with the control planes. Copy each load balancer's files from this repository onto it "
            "(for example with scp into the repository's checkout there) and reload.",
            "コントロールプレーンの変更でファイルが変わりました。各ロードバランサーのファイルをこのリポジトリからコピーし（たとえばそこにある"
            "リポジトリのチェックアウトへ scp で）、再読み込みします。",
        ),
        blocks,
        [
            Check(
                [f"sudo haproxy -c -f {loadbalancer.INSTALL_PATHS[loadbalancer.HAPROXY_CFG]}", f"nc -vz {inv.api_server.vip} {inv.api_server.port}"],
                ["Configuration file is valid", f"Connection to {inv.api_server.vip} {inv.api_server.port} port [tcp/*] succeeded!"],
                Words("Valid, and the VIP still answers after each reload.", "設定が有効で、各再読み込みの後も VIP が応答すること。"),
                "vip-down",
            )
        ],
    )


# --- Kubernetes upgrade -----------------------------------------------------------------------


def _apt(packages: list[str], version: str) -> list[str]:
    names = " ".join(packages)
    pinned = " ".join(f"{p}={version}-{cloudinit.PKGS_K8S_DEBIAN_REVISION}" for p in packages)
    return [f"sudo apt-mark unhold {names}", "sudo apt-get update", f"sudo apt-get install -y {pinned}", f"sudo apt-mark hold {names}"]


def _kubelet_step(inv: Inventory, node: Node, version: str) -> Step:
    """Drained, its kubelet and kubectl upgraded and restarted, back in service."""
    kubelet = [*_apt(["kubelet", "kubectl"], version), "sudo systemctl daemon-reload", "sudo systemctl restart kubelet"]
    return Step(
        Words("Upgrade the kubelet of {node}", "{node} の kubelet をアップグレードする").format(node=node.name),
        None,
        [Block(ADMIN, _drain(node)), Block(on(node), kubelet), Block(ADMIN, [f"kubectl uncordon {node.name}"])],
        [_nodes_check(inv, [node], version)],
    )


def kubernetes_upgrade(old: Inventory, new: Inventory) -> Runbook:
    current, target = old.kubernetes.version, new.kubernetes.version
    minor_change = versions.minor(current) != versions.minor(target)
    first, *other_cps = new.control_planes
    steps: list[Step] = []
    before = [f"sudo {etcdbackup.SCRIPT}"]
    steps.append(
        Step(
            Words("Before you start", "始める前に"),
            Words(
                "Every node `Ready` on v{current}, a fresh etcd snapshot, and the changelog read: {changelog}. kubeadm upgrades one "
                "minor at a time, control planes before workers, one node at a time ({docs}).",
                "全ノードが v{current} で `Ready`、新しい etcd スナップショットがあること、変更履歴を読んだこと: {changelog}。kubeadm は"
                "マイナーを一つずつ、コントロールプレーンをワーカーより先に、1 台ずつアップグレードします（{docs}）。",
            ).format(current=current, changelog=KUBERNETES_CHANGELOG.format(minor=versions.show(versions.minor(target))), docs=KUBEADM_UPGRADE_DOCS),
            [Block(on(first), before)],
            [_nodes_check(old, old.kubernetes_nodes, current)],
        )
    )
    if minor_change:
        old_repo, new_repo = versions.pkgs_k8s_repo(current), versions.pkgs_k8s_repo(target)
        steps.append(
            Step(
                Words("Point apt at the v{minor} repository on every node", "全ノードの apt を v{minor} のリポジトリに向ける").format(minor=versions.show(versions.minor(target))),
                Words(
                    "pkgs.k8s.io has one repository per minor; its signing key is the same for all of them.",
                    "pkgs.k8s.io はマイナーごとにリポジトリがあり、署名鍵はすべて同じです。",
                ),
                [Block(ON_EACH.format(nodes=", ".join(n.name for n in old.kubernetes_nodes)), [f"sudo sed -i 's#{old_repo}#{new_repo}#' {APT_SOURCE}", "sudo apt-get update"])],
            )
        )
    runtime = _runtime_step(old, new)
    if runtime:
        steps.append(runtime)
    kubeadm_version = [*_apt(["kubeadm"], target), "kubeadm version -o short"]
    applied = Check(
        [],
        [f'[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "v{target}".'],
        Words("`SUCCESS!` and v{target} at the end.", "最後に v{target} の `SUCCESS!`。").format(target=target),
    )
    steps += [
        Step(
            Words("Upgrade the control plane on {node}, the first control plane", "最初のコントロールプレーン {node} でコントロールプレーンをアップグレードする").format(node=first.name),
            Words(
                "`kubeadm upgrade plan` shows what will change; `kubeadm upgrade apply` upgrades the control plane components, "
                "etcd, CoreDNS and the kubeadm-config (kube-proxy stays off: `proxy.disabled` is kept there).",
                "`kubeadm upgrade plan` が変更点を示し、`kubeadm upgrade apply` がコントロールプレーンのコンポーネント、etcd、CoreDNS、"
                "kubeadm-config をアップグレードします（kube-proxy は入りません: そこに `proxy.disabled` が残っています）。",
            ),
            [Block(on(first), [*kubeadm_version, f"sudo kubeadm upgrade plan v{target}", f"sudo kubeadm upgrade apply v{target} --yes"])],
            [applied],
        ),
        _kubelet_step(new, first, target),
    ]
    upgraded = Check(
        [],
        ["[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!"],
        Words("The kubelet configuration `successfully upgraded!` (a control plane also says so of its control plane instance).", "kubelet の設定が `successfully upgraded!`（コントロールプレーンではコントロールプレーンのインスタンスについても同様）。"),
    )
    existing = {n.name for n in old.nodes}
    for node in [n for n in [*other_cps, *new.workers] if n.name in existing]:
        kind = Words("control plane", "コントロールプレーン") if node.role == "control-plane" else Words("worker", "ワーカー")
        steps += [
            Step(
                Words(f"Upgrade kubeadm and the node's configuration on {kind.en} {node.name}", f"{kind.ja} {node.name} の kubeadm とノードの設定をアップグレードする"),
                None,
                [Block(on(node), [*kubeadm_version, "sudo kubeadm upgrade node"])],
                [upgraded],
            ),
            _kubelet_step(new, node, target),
        ]
    steps.append(
        Step(
            Words("Afterwards", "最後に"),
            Words(
                "Merge the cluster.yaml change (the seeds and kubeadm configs of new nodes now say v{target}). Every node should "
                "be `Ready` on v{target}, with every BGP session established again.",
                "cluster.yaml の変更をマージします（新しいノードのシードと kubeadm の設定が v{target} になります）。全ノードが v{target} で "
                "`Ready` になり、BGP セッションがすべて再確立しているはずです。",
            ).format(target=target),
            [],
            [_nodes_check(new, new.kubernetes_nodes, target), *_sessions_check(new)],
        )
    )
    return Runbook(
        f"upgrade-kubernetes-{current}-to-{target}",
        Words("Upgrade Kubernetes from {a} to {b}", "Kubernetes を {a} から {b} にアップグレードする").format(a=current, b=target),
        Words(
            "In kubeadm's order, one node at a time, each drained while its kubelet is upgraded: the workloads keep running.",
            "kubeadm の順序で 1 台ずつ、kubelet をアップグレードする間だけそのノードを退避させます。ワークロードは動き続けます。",
        ),
        steps,
    )


def _runtime_step(old: Inventory, new: Inventory) -> Step | None:
    """containerd and the pause image follow the Kubernetes minor (versions.py)."""
    old_ctr, new_ctr = versions.containerd(old.kubernetes.version), versions.containerd(new.kubernetes.version)
    old_pause, new_pause = versions.pause_image(old.kubernetes.version), versions.pause_image(new.kubernetes.version)
    if versions.parse(old_ctr)[0] != versions.parse(new_ctr)[0]:
        return Step(
            Words("containerd moves to a new major version", "containerd が新しいメジャーバージョンになる"),
            Words(
                "Kubernetes {target} needs containerd {new} instead of {old}, which reads another configuration format. Do not "
                "upgrade it in place: replace each node, one at a time, by a VM built from its new seed (the runbooks of "
                "removing and adding a node), then continue with the next steps on the new nodes.",
                "Kubernetes {target} には containerd {old} ではなく {new} が必要で、設定形式が異なります。その場でアップグレードせず、"
                "1 台ずつ新しいシードから作った VM に置き換え（ノードの削除と追加の手順書）、新しいノードで次の手順に進んでください。",
            ).format(target=new.kubernetes.version, new=new_ctr, old=old_ctr),
        )
    commands = []
    if old_ctr != new_ctr:
        commands += [f"sudo apt-mark unhold {cloudinit.CONTAINERD_PACKAGE}", f"sudo apt-get install -y {cloudinit.CONTAINERD_PACKAGE}={versions.containerd_package_version(new.kubernetes.version)}", f"sudo apt-mark hold {cloudinit.CONTAINERD_PACKAGE}"]
    if old_pause != new_pause:
        commands.append(f"sudo sed -i 's#{old_pause}#{new_pause}#' {cloudinit.CONTAINERD_CONFIG}")
    if not commands:
        return None
    return Step(
        Words("containerd and its sandbox image", "containerd とその sandbox イメージ"),
        Words(
            "Kubernetes {target} wants containerd {ctr} and the pause image {pause}. Do this on each node while it is drained "
            "in the steps below, before its kubelet restarts.",
            "Kubernetes {target} は containerd {ctr} と pause イメージ {pause} を求めます。以下の手順で各ノードを退避させている間、kubelet の再起動前に実行します。",
        ).format(target=new.kubernetes.version, ctr=new_ctr, pause=new_pause),
        [Block(Words("On each node:", "各ノードで:"), [*commands, "sudo systemctl restart containerd"])],
    )


# --- Cilium upgrade ---------------------------------------------------------------------------


def preflight_commands(inv: Inventory) -> list[str]:
    """Cilium's pre-flight check (Documentation/operations/upgrade.rst): pulls the new agent image
    on every node before the upgrade, so the agents restart quickly (within graceful restart).
    `helm template` assumes Kubernetes 1.20 unless told, which the chart refuses."""
    return [
        f"helm template {cilium.RELEASE_NAME} {cilium.CHART} --repo {cilium.CHART_REPOSITORY} --version {inv.cilium.version} "
        f"--namespace {cilium.NAMESPACE} --kube-version {inv.kubernetes.version} --values {layout.CILIUM_VALUES} "
        "--set preflight.enabled=true --set agent=false --set operator.enabled=false > cilium-preflight.yaml",
        "kubectl create -f cilium-preflight.yaml",
        f"kubectl --namespace {cilium.NAMESPACE} get daemonset cilium-pre-flight-check",
    ]


def cilium_upgrade(old: Inventory, new: Inventory) -> Runbook:
    current, target = old.cilium.version, new.cilium.version
    (major, low), (_, high) = versions.minor(current), versions.minor(target)
    minors = [(major, m) for m in range(low + 1, high + 1)]
    notes = [f"- {CILIUM_UPGRADE_DOCS.format(minor=versions.show(minor))}" for minor in minors or [(major, high)]]
    links = "\n".join([*notes, f"- {CILIUM_RELEASE.format(version=target)}"])
    applicable = [CILIUM_NOTES[m] for m in minors if m in CILIUM_NOTES]
    steps = [
        Step(
            Words("Read the upgrade notes", "アップグレードの注意を読む"),
            Words(
                f"Cilium upgrades one minor at a time; read the notes of every minor up to {target}:\n\n{links}"
                + "".join(f"\n- {note.en}" for note in applicable),
                f"Cilium はマイナーを一つずつアップグレードします。{target} までの各マイナーの注意を読んでください:\n\n{links}"
                + "".join(f"\n- {note.ja}" for note in applicable),
            ),
        ),
        Step(
            Words("Run the pre-flight check", "事前チェック（pre-flight）を実行する"),
            Words(
                "It pulls the {target} agent image on every node, so that the agents restart within the BGP graceful-restart "
                "time and no route is withdrawn. With the repository checked out, on the change's branch:",
                "全ノードで {target} のエージェントイメージを取得しておき、エージェントが BGP のグレースフルリスタートの時間内に再起動して"
                "経路が取り下げられないようにします。変更のブランチをチェックアウトしたリポジトリで:",
            ).format(target=target),
            [Block(ADMIN, preflight_commands(new))],
            [
                Check(
                    [f"kubectl --namespace {cilium.NAMESPACE} get daemonset cilium cilium-pre-flight-check"],
                    [f"{'NAME':<24} DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE", *(f"{name:<24} {n:<9} {n:<9} {n:<7} {n:<12} {n}" for name in ("cilium", "cilium-pre-flight-check") for n in [len(new.kubernetes_nodes)])],
                    Words("READY of cilium-pre-flight-check equals READY of cilium; then remove it.", "cilium-pre-flight-check の READY が cilium の READY と同じになること。その後削除します。"),
                ),
            ],
        ),
        Step(
            Words("Remove the pre-flight check and merge", "事前チェックを削除してマージする"),
            Words(
                "GitOps then upgrades the {release} release with the same values the bootstrap used; each agent restarts once.",
                "その後 GitOps が、ブートストラップと同じ values で {release} リリースをアップグレードします。各エージェントは一度だけ再起動します。",
            ).format(release=cilium.RELEASE_NAME),
            [Block(ADMIN, ["kubectl delete -f cilium-preflight.yaml"])],
            [
                Check(
                    [f"kubectl --namespace {cilium.NAMESPACE} rollout status daemonset/{cilium.AGENT_DAEMONSET} --timeout=10m", f"kubectl --namespace {cilium.NAMESPACE} exec daemonset/{cilium.AGENT_DAEMONSET} -c cilium-agent -- cilium-dbg version"],
                    [f'daemon set "{cilium.AGENT_DAEMONSET}" successfully rolled out', f"Client: {target} ...", f"Daemon: {target} ..."],
                    Words("Rolled out, and both client and daemon on {target}.", "ロールアウトが完了し、クライアントとデーモンがともに {target}。").format(target=target),
                    "node-not-ready",
                ),
                *_sessions_check(new),
            ],
        ),
    ]
    return Runbook(
        f"upgrade-cilium-{current}-to-{target}",
        Words("Upgrade Cilium from {a} to {b}", "Cilium を {a} から {b} にアップグレードする").format(a=current, b=target),
        Words(
            "GitOps performs the upgrade once the change is merged; these steps prepare it and check it.",
            "アップグレードは変更をマージした後に GitOps が行います。ここではその準備と確認をします。",
        ),
        steps,
    )


# --- nodes added and removed ------------------------------------------------------------------


def _neighbor_number(inv: Inventory, node: Node) -> int:
    """The node's neighbor number in a Yamaha RTX file (1-based, in kubernetes_nodes order)."""
    return [n.name for n in inv.kubernetes_nodes].index(node.name) + 1


def _router_steps(old: Inventory, new: Inventory, removed: Node | None) -> Step | None:
    if new.bgp is None:
        return None
    files = ", ".join(f"`{layout.router_file(peer)}`" for peer in new.bgp.peers)
    blocks = [block for peer in new.bgp.peers for block in _router_removal(old, peer, removed)] if removed else []
    return Step(
        Words("Update the routers", "ルーターを更新する"),
        Words(
            f"Each router has one neighbor per Kubernetes node. {'Remove the old neighbors as below, then apply' if removed else 'Apply'} "
            f"each router's file again as its header says: {files}.",
            f"各ルーターには Kubernetes ノードごとに一つのネイバーがあります。{'下のとおり古いネイバーを削除してから、' if removed else ''}"
            f"各ルーターのファイルをヘッダーの説明どおりに再適用します: {files}。",
        ),
        blocks,
        _sessions_check(new),
    )


def _router_removal(old: Inventory, peer: BgpPeer, removed: Node) -> list[Block]:
    """What a router file cannot say: that a neighbor is gone."""
    where = Words("On {peer} ({router}):", "{peer}（{router}）で:").format(peer=peer.name, router=peer.router)
    if peer.router == "yamaha-rtx":
        # The file numbers the neighbors by position: every old number goes before the new list is typed.
        return [Block(where, [f"no bgp neighbor {i}" for i in range(1, len(old.kubernetes_nodes) + 1)], "text")]
    if peer.router == "frr":
        return [Block(where, [f"sudo vtysh -c 'configure terminal' -c 'router bgp {peer.asn}' -c 'no neighbor {removed.ip}'"])]
    return [Block(where, [f"sudo sed -i '/^protocol bgp {routers.bird_protocol(removed.name)} /,/^}}/d' {routers.BIRD_CONF}", "sudo birdc configure"])]


def node_added(old: Inventory, new: Inventory, node: Node) -> Runbook:
    first = new.control_planes[0]
    steps = [_seed_step(node)]
    if node.role != "loadbalancer":
        certs = [f"sudo kubeadm init phase upload-certs --upload-certs --config {KUBEADM_CONFIG}"] if node.role == "control-plane" else []
        steps.insert(
            0,
            Step(
                Words("Let {node} join: a valid token{certs}", "{node} が参加できるようにする: 有効なトークン{certs_ja}").format(
                    node=node.name, certs=" and the control-plane certificates" if certs else "", certs_ja="と、コントロールプレーンの証明書" if certs else ""
                ),
                Words(
                    "The bootstrap token lasts 24 hours and the uploaded certificates 2 hours, so on a running cluster both are "
                    "gone. Create the token again with bootstrapToken from `{secrets}` (TOKEN below), and upload the certificates "
                    "again (same certificate key):",
                    "ブートストラップトークンは 24 時間、アップロードした証明書は 2 時間で消えるので、動いているクラスターではどちらもありません。"
                    "`{secrets}` の bootstrapToken（下の TOKEN）でトークンを作り直し、証明書を（同じ証明書の鍵で）再アップロードします:",
                ).format(secrets=layout.SECRETS_FILE),
                [Block(on(first), ["sudo kubeadm token create TOKEN", *certs])],
            ),
        )
        join = [] if new.bootstrap.mode == "auto" else [Block(on(node), [f"sudo kubeadm join --config {KUBEADM_CONFIG}"])]
        checks = [_nodes_check(new, [node], new.kubernetes.version, "join-fails")]
        if node.role == "control-plane":
            checks.append(_etcd_members_check(new, first, new.control_planes))
        steps.append(
            Step(
                Words("Join {node}", "{node} を参加させる").format(node=node.name),
                Words("It joins by itself (bootstrap.mode auto); follow its log.", "自分で参加します（bootstrap.mode auto）。ログを追ってください。")
                if new.bootstrap.mode == "auto"
                else None,
                join or [Block(on(node), [f"sudo tail -f {bootstrap.LOG_FILE}"])],
                checks,
            )
        )
    if node.role in ("control-plane", "loadbalancer") and (reload := _reload_loadbalancers(new)):
        steps.append(reload)
    if node.role != "loadbalancer" and (router := _router_steps(old, new, None)):
        steps.append(router)
    return Runbook(
        f"add-node-{node.name}",
        Words("Add {role} {node}", "{role} {node} を追加する").format(role=node.role, node=node.name),
        Words("{node} ({ip} on {host}) is new in cluster.yaml. Merge the change after these steps.", "{node}（{host} 上の {ip}）が cluster.yaml に加わりました。これらの手順の後に変更をマージします。").format(
            node=node.name, ip=node.ip, host=node.host
        ),
        steps,
    )


def node_removed(old: Inventory, new: Inventory, node: Node) -> Runbook:
    steps: list[Step] = []
    if node.role != "loadbalancer":
        reset = [Step(
            Words("Drain {node} and take it out of the cluster", "{node} を退避させ、クラスターから外す").format(node=node.name),
            Words(
                "`kubeadm reset` on a control plane also removes its etcd member. If the VM is already gone, remove the member "
                "by hand on another control plane (the second block) before anything else.",
                "コントロールプレーンでの `kubeadm reset` は etcd のメンバーも削除します。VM がすでにないなら、何よりも先にほかのコントロールプレーンで"
                "メンバーを手で削除します（二つ目のブロック）。",
            )
            if node.role == "control-plane"
            else None,
            [
                Block(ADMIN, _drain(node)),
                Block(on(node), ["sudo kubeadm reset --force"]),
                *(
                    [Block(on(new.control_planes[0]), [*etcdbackup.find_container(), etcdbackup.etcdctl("member list"), etcdbackup.etcdctl("member remove MEMBER_ID")])]
                    if node.role == "control-plane"
                    else []
                ),
                Block(ADMIN, [f"kubectl delete node {node.name}"]),
            ],
            [
                Check(["kubectl get nodes"], [], Words("{node} is no longer listed.", "{node} が表示されなくなること。").format(node=node.name)),
                *([_etcd_members_check(new, new.control_planes[0], new.control_planes)] if node.role == "control-plane" else []),
            ],
        )]
        steps += reset
        if node.role == "control-plane" and (reload := _reload_loadbalancers(new)):
            steps.append(reload)
        if router := _router_steps(old, new, node):
            steps.append(router)
    elif reload := _reload_loadbalancers(new):
        steps.append(reload)
    steps.append(
        Step(
            Words("Delete the VM", "VM を削除する"),
            Words("Shut {node} down and delete it on {host}; merge the change.", "{host} 上の {node} を停止して削除し、変更をマージします。").format(node=node.name, host=node.host),
        )
    )
    return Runbook(
        f"remove-node-{node.name}",
        Words("Remove {role} {node}", "{role} {node} を削除する").format(role=node.role, node=node.name),
        Words("{node} ({ip} on {host}) is gone from cluster.yaml.", "{node}（{host} 上の {ip}）が cluster.yaml からなくなりました。").format(node=node.name, ip=node.ip, host=node.host),
        steps,
    )


def for_change(old: Inventory, new: Inventory) -> dict[str, str]:
    """The runbooks of going from `old` to `new` (an upgrade, nodes added or removed); none for a downgrade
    or a skipped minor, which `clusterforge plan` refuses in words."""
    runbooks: list[Runbook] = []
    old_k8s, new_k8s = versions.parse(old.kubernetes.version), versions.parse(new.kubernetes.version)
    if new_k8s > old_k8s and new_k8s[1] - old_k8s[1] <= 1:
        runbooks.append(kubernetes_upgrade(old, new))
    if versions.parse(new.cilium.version) > versions.parse(old.cilium.version):
        runbooks.append(cilium_upgrade(old, new))
    old_names, new_names = {n.name for n in old.nodes}, {n.name for n in new.nodes}
    runbooks += [node_added(old, new, n) for n in new.nodes if n.name not in old_names]
    runbooks += [node_removed(old, new, n) for n in old.nodes if n.name not in new_names]
    return files(runbooks, new)


# --- standing runbooks --------------------------------------------------------------------------


def renew_certificates(inv: Inventory) -> Runbook:
    cps = inv.control_planes
    return Runbook(
        "renew-certificates",
        Words("Renew the cluster's certificates", "クラスターの証明書を更新する"),
        Words(
            "kubeadm's certificates last a year (the CAs ten years) and every `kubeadm upgrade` renews them, so a cluster "
            "upgraded within a year never needs this. The kubelets rotate their own client certificates.",
            "kubeadm の証明書の有効期間は 1 年（CA は 10 年）で、`kubeadm upgrade` のたびに更新されるので、1 年以内にアップグレードしている"
            "クラスターでは不要です。kubelet は自分のクライアント証明書を自動で更新します。",
        ),
        [
            Step(
                Words("See what expires when", "何がいつ期限切れになるかを見る"),
                None,
                [Block(ON_EACH.format(nodes=", ".join(n.name for n in cps)), ["sudo kubeadm certs check-expiration"])],
            ),
            Step(
                Words("Renew, one control plane at a time", "コントロールプレーンごとに 1 台ずつ更新する"),
                Words(
                    "Static pods do not reload certificates: move their manifests away for {wait} seconds so the kubelet restarts "
                    "them (etcd too, so do one control plane at a time to keep the quorum).",
                    "静的 Pod は証明書を読み直さないので、マニフェストを {wait} 秒間よそへ移して kubelet に再起動させます（etcd も含むので、"
                    "クォーラムを保つため 1 台ずつ行います）。",
                ).format(wait=STATIC_POD_WAIT),
                [
                    Block(
                        ON_EACH.format(nodes=", ".join(n.name for n in cps)),
                        [
                            "sudo kubeadm certs renew all",
                            f"sudo mkdir -p {MANIFESTS_OFF} && sudo mv {MANIFESTS}/*.yaml {MANIFESTS_OFF}/",
                            f"sleep {STATIC_POD_WAIT}",
                            f"sudo mv {MANIFESTS_OFF}/*.yaml {MANIFESTS}/",
                            "sudo cp /etc/kubernetes/admin.conf ~/.kube/config",
                        ],
                    )
                ],
                [
                    Check(
                        ["sudo kubeadm certs check-expiration | grep apiserver"],
                        [],
                        Words("RESIDUAL TIME close to a year again (364d).", "RESIDUAL TIME が再び 1 年近く（364d）。"),
                    ),
                    _nodes_check(inv, cps, inv.kubernetes.version),
                ],
            ),
        ],
    )


def restore_etcd(inv: Inventory) -> Runbook:
    first, *others = inv.control_planes
    version = inv.kubernetes.version
    restore = [
        f'image="$(kubeadm config images list --kubernetes-version v{version} | grep /etcd:)"',
        f"sudo mv {etcdbackup.ETCD_DATA_DIR} {etcdbackup.ETCD_DATA_DIR}.before-restore",
        f'sudo ctr --namespace k8s.io run --rm --mount type=bind,src=/var,dst=/var,options=rbind:rw "$image" etcd-restore '
        f"etcdutl snapshot restore {etcdbackup.SNAPSHOT_DIR}/SNAPSHOT.db --data-dir {etcdbackup.ETCD_DATA_DIR} "
        f"--name {first.name} --initial-cluster {first.name}=https://{first.ip}:2380 --initial-advertise-peer-urls https://{first.ip}:2380",
        f"sudo mv {MANIFESTS_OFF}/*.yaml {MANIFESTS}/",
    ]
    steps = [
        Step(
            Words("Pick the snapshot", "スナップショットを選ぶ"),
            Words(
                "Each control plane saves one a day into {dir} ({keep} kept). Copy the one you want to {node} if it is elsewhere.",
                "各コントロールプレーンは毎日 {dir} に一つ保存します（{keep} 個保持）。使うものがほかにあるなら {node} にコピーします。",
            ).format(dir=etcdbackup.SNAPSHOT_DIR, keep=etcdbackup.KEEP, node=first.name),
            [Block(on(first), [f"sudo ls -l {etcdbackup.SNAPSHOT_DIR}"])],
        ),
        Step(
            Words("Stop the API servers and etcd on every control plane", "全コントロールプレーンの API サーバーと etcd を止める"),
            None,
            [Block(ON_EACH.format(nodes=", ".join(n.name for n in inv.control_planes)), [f"sudo mkdir -p {MANIFESTS_OFF} && sudo mv {MANIFESTS}/*.yaml {MANIFESTS_OFF}/"])],
        ),
        Step(
            Words("Restore on {node} and start it alone", "{node} で復元し、単独で起動する").format(node=first.name),
            Words(
                "etcdutl comes from the etcd image kubeadm runs (the nodes have no etcd tools of their own); the old data stays "
                "beside it. SNAPSHOT is the file you picked.",
                "etcdutl は kubeadm が動かす etcd イメージのものを使います（ノード自身には etcd のツールがありません）。古いデータは隣に残ります。"
                "SNAPSHOT は選んだファイルです。",
            ),
            [Block(on(first), restore)],
            [_etcd_members_check(inv, first, [first]), Check(["kubectl get nodes"], [], Words("The API answers again.", "API が再び応答すること。"), "vip-down")],
        ),
    ]
    if others:
        steps.append(
            Step(
                Words("Join the other control planes again", "ほかのコントロールプレーンを参加させ直す"),
                Words(
                    "Their etcd data belongs to the cluster before the restore: reset them and join them as new members. TOKEN is "
                    "bootstrapToken from `{secrets}`.",
                    "それらの etcd のデータは復元前のクラスターのものなので、リセットして新しいメンバーとして参加させます。TOKEN は `{secrets}` の bootstrapToken です。",
                ).format(secrets=layout.SECRETS_FILE),
                [
                    Block(on(first), ["sudo kubeadm token create TOKEN", f"sudo kubeadm init phase upload-certs --upload-certs --config {KUBEADM_CONFIG}"]),
                    Block(ON_EACH.format(nodes=", ".join(n.name for n in others)), ["sudo kubeadm reset --force", f"sudo rm -rf {MANIFESTS_OFF}", f"sudo kubeadm join --config {KUBEADM_CONFIG}"]),
                ],
                [_etcd_members_check(inv, first, inv.control_planes), _nodes_check(inv, inv.control_planes, version, "join-fails")],
            )
        )
    return Runbook(
        "restore-etcd",
        Words("Restore etcd from a snapshot", "スナップショットから etcd を復元する"),
        Words(
            "When etcd's data is lost or damaged on every control plane. The cluster is unavailable from step 2 on; workloads "
            "keep running, and GitOps re-applies the repository once the API is back.",
            "全コントロールプレーンで etcd のデータが失われたか壊れたときの手順です。手順 2 からクラスターは使えませんが、ワークロードは動き続け、"
            "API が戻ると GitOps がリポジトリを再適用します。",
        ),
        steps,
    )


def rotate_bgp_passwords(inv: Inventory) -> Runbook:
    assert inv.bgp is not None
    peers = [p for p in inv.bgp.peers if p.auth_secret_ref]
    router_blocks = [block for peer in peers for block in _password_commands(inv, peer)]
    return Runbook(
        "rotate-bgp-password",
        Words("Rotate the BGP passwords", "BGP パスワードを変更する"),
        Words(
            "The TCP-MD5 password of {peers} lives only in `{secrets}`. The sessions drop between changing the router and "
            "the cluster; graceful restart keeps the routes meanwhile, so do both steps together.",
            "{peers} の TCP-MD5 パスワードは `{secrets}` にだけあります。ルーターとクラスターを変える間はセッションが切れますが、その間も"
            "グレースフルリスタートが経路を保つので、二つの手順を続けて行います。",
        ).format(peers=", ".join(p.name for p in peers), secrets=layout.SECRETS_FILE),
        [
            Step(
                Words("Set a new value in the secrets file", "シークレットファイルに新しい値を設定する"),
                Words("Replace bgpPasswords.NAME (with SOPS: `sops {secrets}`); a random value:", "bgpPasswords.NAME を置き換えます（SOPS なら `sops {secrets}`）。ランダムな値:").format(secrets=layout.SECRETS_FILE),
                [Block(None, ["openssl rand -base64 24"])],
            ),
            Step(Words("Type it on the routers", "ルーターに入力する"), None, router_blocks),
            Step(
                Words("Give it to the cluster", "クラスターに渡す"),
                Words(
                    "If a session stays down, restart the agents: `kubectl --namespace {ns} rollout restart daemonset/{agent}`.",
                    "セッションが戻らない場合はエージェントを再起動します: `kubectl --namespace {ns} rollout restart daemonset/{agent}`。",
                ).format(ns=cilium.NAMESPACE, agent=cilium.AGENT_DAEMONSET),
                [Block(ADMIN, ["clusterforge bgp-secrets | kubectl apply -f -"])],
                _sessions_check(inv),
            ),
        ],
    )


def _password_commands(inv: Inventory, peer: BgpPeer) -> list[Block]:
    """Typing a new TCP-MD5 password on a peer's router (<PASSWORD> is the new value)."""
    where = Words("On {peer} ({router}):", "{peer}（{router}）で:").format(peer=peer.name, router=peer.router)
    if peer.router == "yamaha-rtx":
        count = len(inv.kubernetes_nodes)
        return [Block(where, [*(f"bgp neighbor pre-shared-key {i} text <PASSWORD>" for i in range(1, count + 1)), "bgp configure refresh", "save"], "text")]
    if peer.router == "frr":
        return [Block(where, [f"sudo vtysh -c 'configure terminal' -c 'router bgp {peer.asn}' -c 'neighbor {routers.FRR_GROUP} password <PASSWORD>'", "sudo vtysh -c 'write memory'"])]
    return [Block(where, [f"sudoedit {routers.BIRD_CONF}   # password \"<PASSWORD>\"; in template bgp {routers.BIRD_TEMPLATE}", "sudo birdc configure"])]
