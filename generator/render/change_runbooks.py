"""The runbooks of a change to cluster.yaml, which `clusterforge plan` writes into
docs/runbooks/ (`for_change(old, new)`): a Kubernetes upgrade in kubeadm's order,
a Cilium upgrade with its pre-flight check and the upstream notes, a node added
or removed. Pure functions of the inventory the files were rendered from and the
edited one.
"""

from __future__ import annotations

from .. import versions
from ..explain.catalog import Words
from ..model import BgpPeer, Inventory, Node
from . import bootstrap, cilium, cloudinit, etcdbackup, layout, loadbalancer, routers
from .runbooks import ADMIN, KUBEADM_CONFIG, ON_EACH, Block, Runbook, Step, etcd_members_check, files, nodes_check, on, sessions_check
from .verification import Check

APT_SOURCE = f"/etc/apt/sources.list.d/{cloudinit.APT_SOURCE_NAME}.list"  # where cloud-init writes the apt source
CILIUM_UPGRADE_DOCS = "https://docs.cilium.io/en/v{minor}/operations/upgrade/#upgrade-notes"
CILIUM_RELEASE = "https://github.com/cilium/cilium/releases/tag/v{version}"
KUBERNETES_CHANGELOG = "https://github.com/kubernetes/kubernetes/blob/master/CHANGELOG/CHANGELOG-{minor}.md"
KUBEADM_UPGRADE_DOCS = "https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/"
# Notes from upstream that matter to what this repository renders, by the Cilium minor they arrive in
# (Documentation/operations/upgrade.rst of each release; facts checked on 2026-11-28). None for 1.18:
# the rules refuse an older Cilium, so no upgrade arrives in it.
CILIUM_NOTES: dict[tuple[int, int], Words] = {
    (1, 19): Words(
        "CiliumBGPPeeringPolicy (the v1 BGP control plane) is removed: objects of it left in the cluster are silently ignored. This repository uses the v2 resources only.",
        "CiliumBGPPeeringPolicy（v1 の BGP コントロールプレーン）は削除されました。クラスターに残ったそのオブジェクトは黙って無視されます。このリポジトリは v2 のリソースだけを使います。",
    ),
}


def _drain(node: Node) -> list[str]:
    return [f"kubectl drain {node.name} --ignore-daemonsets --delete-emptydir-data"]


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


def _kubelet_step(inv: Inventory, node: Node) -> Step:
    """Drained, its kubelet and kubectl upgraded to the inventory's version and restarted, back in service."""
    kubelet = [*_apt(["kubelet", "kubectl"], inv.kubernetes.version), "sudo systemctl daemon-reload", "sudo systemctl restart kubelet"]
    return Step(
        Words("Upgrade the kubelet of {node}", "{node} の kubelet をアップグレードする").format(node=node.name),
        None,
        [Block(ADMIN, _drain(node)), Block(on(node), kubelet), Block(ADMIN, [f"kubectl uncordon {node.name}"])],
        [nodes_check(inv, [node])],
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
            [nodes_check(old, old.kubernetes_nodes)],
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
        commands=[],  # the excerpt is of the output of the commands just before
        expected=[f'[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "v{target}".'],
        look_for=Words("`SUCCESS!` and v{target} at the end.", "最後に v{target} の `SUCCESS!`。").format(target=target),
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
        _kubelet_step(new, first),
    ]
    upgraded = Check(
        commands=[],
        expected=["[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!"],
        look_for=Words("The kubelet configuration `successfully upgraded!` (a control plane also says so of its control plane instance).", "kubelet の設定が `successfully upgraded!`（コントロールプレーンではコントロールプレーンのインスタンスについても同様）。"),
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
            _kubelet_step(new, node),
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
            [nodes_check(new, new.kubernetes_nodes), *sessions_check(new)],
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
    # versions.containerd has one release per major, so containerd itself only changes above.
    if old_pause == new_pause:
        return None
    return Step(
        Words("containerd and its sandbox image", "containerd とその sandbox イメージ"),
        Words(
            "Kubernetes {target} wants containerd {ctr} and the pause image {pause}. Do this on each node while it is drained "
            "in the steps below, before its kubelet restarts.",
            "Kubernetes {target} は containerd {ctr} と pause イメージ {pause} を求めます。以下の手順で各ノードを退避させている間、kubelet の再起動前に実行します。",
        ).format(target=new.kubernetes.version, ctr=new_ctr, pause=new_pause),
        [Block(Words("On each node:", "各ノードで:"), [f"sudo sed -i 's#{old_pause}#{new_pause}#' {cloudinit.CONTAINERD_CONFIG}", "sudo systemctl restart containerd"])],
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
                "\n".join([f"Cilium upgrades one minor at a time; read the notes of every minor up to {target}:\n\n{links}", *(f"- {note.en}" for note in applicable)]),
                "\n".join([f"Cilium はマイナーを一つずつアップグレードします。{target} までの各マイナーの注意を読んでください:\n\n{links}", *(f"- {note.ja}" for note in applicable)]),
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
                *sessions_check(new),
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


def _router_steps(new: Inventory, removal: tuple[Inventory, Node] | None) -> Step | None:
    """Apply the routers' files again; after `removal` (the old inventory, the node removed), first drop its neighbors."""
    if new.bgp is None:
        return None
    files = ", ".join(f"`{layout.router_file(peer)}`" for peer in new.bgp.peers)
    blocks = [block for peer in new.bgp.peers for block in _router_removal(removal[0], peer, removal[1])] if removal else []
    return Step(
        Words("Update the routers", "ルーターを更新する"),
        Words(
            f"Each router has one neighbor per Kubernetes node. {'Remove the old neighbors as below, then apply' if removal else 'Apply'} "
            f"each router's file again as its header says: {files}.",
            f"各ルーターには Kubernetes ノードごとに一つのネイバーがあります。{'下のとおり古いネイバーを削除してから、' if removal else ''}"
            f"各ルーターのファイルをヘッダーの説明どおりに再適用します: {files}。",
        ),
        blocks,
        sessions_check(new),
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


def _token_words(node: Node) -> Words:
    if node.role == "control-plane":
        return Words(
            "The bootstrap token lasts 24 hours and the uploaded certificates 2 hours, so on a running cluster both are "
            "gone. Create the token again with bootstrapToken from `{secrets}` (TOKEN below), and upload the certificates "
            "again (same certificate key){before.en}:",
            "ブートストラップトークンは 24 時間、アップロードした証明書は 2 時間で消えるので、動いているクラスターではどちらもありません。"
            "`{secrets}` の bootstrapToken（下の TOKEN）でトークンを作り直し、証明書を（同じ証明書の鍵で）再アップロードします{before.ja}:",
        )
    return Words(
        "The bootstrap token lasts 24 hours, so on a running cluster it is gone. Create it again with bootstrapToken "
        "from `{secrets}` (TOKEN below){before.en}:",
        "ブートストラップトークンは 24 時間で消えるので、動いているクラスターにはありません。`{secrets}` の bootstrapToken（下の TOKEN）で"
        "作り直します{before.ja}:",
    )


# bootstrap.mode auto: the seed joins at first boot, so what it needs must be there before.
_BEFORE_BOOT = Words(", before the VM boots: it joins by itself at first boot", "。VM の起動より前に行います（最初の起動で自分で参加するため）")


def joins_by_itself() -> Words:
    """bootstrap.mode auto: what a new node does with its seed, and how to run the join again."""
    return Words(
        "bootstrap.mode is auto: once its seed is applied, the node waits for the API through the VIP and runs `kubeadm join` "
        "by itself ({attempts} attempts, {retry} s apart). Follow its log; if it ends with `FAILED:` (e.g. the token was "
        "created after the VM booted), fix the cause and run the join again with `sudo systemctl start {unit}`.",
        "bootstrap.mode が auto なので、シードの適用後、ノードは VIP 経由で API を待ってから自分で `kubeadm join` を実行します"
        "（{attempts} 回まで、{retry} 秒おき）。ログを追ってください。`FAILED:` で終わったら（例: VM の起動後にトークンを作った）、"
        "原因を直して `sudo systemctl start {unit}` で参加をやり直します。",
    ).format(attempts=bootstrap.JOIN_ATTEMPTS, retry=bootstrap.RETRY_SECONDS, unit=bootstrap.UNIT)


def node_added(new: Inventory, node: Node) -> Runbook:
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
                _token_words(node).format(secrets=layout.SECRETS_FILE, before=_BEFORE_BOOT if new.bootstrap.mode == "auto" else Words("", "")),
                [Block(on(first), ["sudo kubeadm token create TOKEN", *certs])],
            ),
        )
        join = [] if new.bootstrap.mode == "auto" else [Block(on(node), [f"sudo kubeadm join --config {KUBEADM_CONFIG}"])]
        checks = [nodes_check(new, [node], "join-fails")]
        if node.role == "control-plane":
            checks.append(etcd_members_check(first, new.control_planes))
        steps.append(
            Step(
                Words("Join {node}", "{node} を参加させる").format(node=node.name),
                joins_by_itself() if new.bootstrap.mode == "auto" else None,
                join or [Block(on(node), [f"sudo tail -f {bootstrap.LOG_FILE}"])],
                checks,
            )
        )
    if node.role in ("control-plane", "loadbalancer") and (reload := _reload_loadbalancers(new)):
        steps.append(reload)
    if node.role != "loadbalancer" and (router := _router_steps(new, None)):
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
        steps.append(Step(
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
                *([etcd_members_check(new.control_planes[0], new.control_planes)] if node.role == "control-plane" else []),
            ],
        ))
        if node.role == "control-plane" and (reload := _reload_loadbalancers(new)):
            steps.append(reload)
        if router := _router_steps(new, (old, node)):
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
    runbooks += [node_added(new, n) for n in new.nodes if n.name not in old_names]
    runbooks += [node_removed(old, new, n) for n in old.nodes if n.name not in new_names]
    return files(runbooks, new)


