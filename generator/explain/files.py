"""What each file of a generated repository is: a sentence, the cluster.yaml
fields that produce it, and the catalog topics that explain it.

Every rendered path and every file the template adds has exactly one rule here
(the tests iterate over whole rendered trees); a rule is a pattern over the path
and a function of the inventory and the match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..model import Inventory, Node
from ..render import layout
from .catalog import Words


@dataclass(frozen=True)
class FileInfo:
    what: Words
    fields: tuple[str, ...]
    topics: tuple[str, ...]


Rule = tuple[re.Pattern[str], Callable[[Inventory, re.Match[str]], FileInfo]]


def _node(inv: Inventory, name: str) -> tuple[int, Node]:
    return next((i, n) for i, n in enumerate(inv.nodes) if n.name == name)


def _node_field(inv: Inventory, name: str) -> str:
    index, _ = _node(inv, name)
    return f"nodes[{index}] ({name})"


def _user_data(inv: Inventory, m: re.Match[str]) -> FileInfo:
    name = m["node"]
    _, node = _node(inv, name)
    fields = [_node_field(inv, name), "network", "ssh"]
    topics = ["cloud-init-seed", "firewall"]
    if node.role == "loadbalancer":
        fields += ["apiServer.vip", "apiServer.port", "nodes[] (role loadbalancer, control-plane)"]
        topics += ["ip-nonlocal-bind", "haproxy-health-check", "keepalived-checks", "vrrp-unicast"]
        what = Words(
            "cloud-init user-data of load balancer {node}: its user, HAProxy and keepalived with their configs, the sysctl for the VIP, its firewall.",
            "ロードバランサー {node} の cloud-init user-data: ユーザー、HAProxy と keepalived とその設定、VIP 用の sysctl、ファイアウォール。",
        )
    else:
        fields += ["kubernetes", "cilium", "apiServer", "bootstrap.mode"]
        topics += ["node-prep", "kubernetes-packages", "containerd", "systemd-cgroup", "networkd-foreign-routes", "kernel-check", "kubeadm-config"]
        if node.role == "control-plane":
            topics.append("etcd-snapshot")
        if inv.bootstrap.mode == "auto":
            topics.append("bootstrap-auto")
            if node == inv.control_planes[0]:
                topics.append("cilium-bootstrap")
        what = Words(
            "cloud-init user-data of {role} {node}: its user, containerd, kubelet/kubeadm/kubectl, kernel settings, its kubeadm config (without secrets), its firewall.",
            "{role} {node} の cloud-init user-data: ユーザー、containerd、kubelet/kubeadm/kubectl、カーネルの設定、kubeadm の設定（シークレットなし）、ファイアウォール。",
        )
    return FileInfo(what.format(node=name, role=node.role), tuple(fields), tuple(topics))


def _meta_data(inv: Inventory, m: re.Match[str]) -> FileInfo:
    return FileInfo(
        Words("cloud-init meta-data of VM {node}: its hostname and an instance-id that changes with the seed.", "VM {node} の cloud-init meta-data: ホスト名と、シードとともに変わる instance-id。").format(node=m["node"]),
        (f"{_node_field(inv, m['node'])}.name", "name"),
        ("cloud-init-seed",),
    )


def _network_config(inv: Inventory, m: re.Match[str]) -> FileInfo:
    node = _node_field(inv, m["node"])
    return FileInfo(
        Words("cloud-init network-config of VM {node}: one static NIC.", "VM {node} の cloud-init network-config: 静的な NIC が一つ。").format(node=m["node"]),
        (f"{node}.ip", f"{node}.mac", "network.subnet", "network.gateway", "network.dns", "network.domain", "network.interface", "network.mtu"),
        ("cloud-init-seed",),
    )


def _kubeadm(inv: Inventory, m: re.Match[str]) -> FileInfo:
    node = _node_field(inv, m["node"])
    fields = (node, "kubernetes", "apiServer", "cilium.kubeProxyReplacement")
    if m["kind"] == "init":
        return FileInfo(
            Words(
                "kubeadm config of {node}, the first control plane: InitConfiguration, ClusterConfiguration and KubeletConfiguration for `kubeadm init` (no secrets).",
                "最初のコントロールプレーン {node} の kubeadm 設定: `kubeadm init` 用の InitConfiguration、ClusterConfiguration、KubeletConfiguration（シークレットなし）。",
            ).format(node=m["node"]),
            fields,
            ("kubeadm-config", "join-secrets", "kube-proxy-replacement", "systemd-cgroup"),
        )
    return FileInfo(
        Words("kubeadm config of {node}: a JoinConfiguration for `kubeadm join` through the VIP (no secrets).", "{node} の kubeadm 設定: VIP 経由の `kubeadm join` 用の JoinConfiguration（シークレットなし）。").format(node=m["node"]),
        fields,
        ("kubeadm-config", "join-secrets"),
    )


def _loadbalancer(inv: Inventory, m: re.Match[str]) -> FileInfo:
    node, file = m["node"], m["file"]
    base = (_node_field(inv, node), "apiServer.vip", "apiServer.port", "nodes[] (role control-plane)")
    if file == "haproxy.cfg":
        return FileInfo(
            Words("HAProxy on load balancer {node}: TCP on the VIP (and 127.0.0.1) to every API server, checked with GET /healthz over TLS.", "ロードバランサー {node} の HAProxy: VIP（と 127.0.0.1）の TCP を全 API サーバーへ。TLS 上の GET /healthz で確認。").format(node=node),
            base,
            ("haproxy-health-check", "ip-nonlocal-bind"),
        )
    if file == "keepalived.conf":
        return FileInfo(
            Words("keepalived on load balancer {node}: VRRP (unicast) for the VIP with its priority and health checks.", "ロードバランサー {node} の keepalived: VIP のための VRRP（ユニキャスト）と優先度、ヘルスチェック。").format(node=node),
            (*base, "network.interface", "nodes[] (role loadbalancer)", "name"),
            ("keepalived-checks", "vrrp-unicast"),
        )
    return FileInfo(
        Words("keepalived's API check on load balancer {node}: GET /healthz through its own HAProxy.", "ロードバランサー {node} の keepalived の API チェック: 自分の HAProxy 経由の GET /healthz。").format(node=node),
        base,
        ("keepalived-checks",),
    )


def _router(inv: Inventory, m: re.Match[str]) -> FileInfo:
    assert inv.bgp is not None
    index, peer = next((i, p) for i, p in enumerate(inv.bgp.peers) if p.name == m["peer"])
    topics = ["router-passive", "bgp-sessions", "router-accepts", "bgp-timers", "bgp-passwords"]
    if peer.router == "frr":
        topics.append("frr-ebgp-policy")
    return FileInfo(
        Words("The router side of BGP peer {peer} ({router}): one neighbor per Kubernetes node, what it installs, how to apply and check it.", "BGP ピア {peer}（{router}）のルーター側: Kubernetes ノードごとのネイバー、導入する経路、適用と確認の方法。").format(
            peer=peer.name, router=peer.router
        ),
        (f"bgp.peers[{index}] ({peer.name})", "bgp.localASN", "bgp.timers", "bgp.advertise", "nodes[].ip", "loadBalancerPools[].cidr"),
        tuple(topics),
    )


def _fixed(what: Words, fields: tuple[str, ...], topics: tuple[str, ...]) -> Callable[[Inventory, re.Match[str]], FileInfo]:
    return lambda inv, m: FileInfo(what, fields, topics)


def _page(what: Words, topics: tuple[str, ...] = ()) -> Callable[[Inventory, re.Match[str]], FileInfo]:
    return _fixed(what, ("(all of cluster.yaml)",), topics)


_GITOPS = ("gitops.engine", "gitops.repository", "gitops.branch", "name")
_REPOSITORY = ("repository-files",)


def _rules() -> list[Rule]:
    from .. import scaffold  # imports the CLI, which imports this module: here, not at the top

    rules: list[tuple[str, Callable[[Inventory, re.Match[str]], FileInfo]]] = [
        (r"nodes/(?P<node>[^/]+)/user-data", _user_data),
        (r"nodes/(?P<node>[^/]+)/meta-data", _meta_data),
        (r"nodes/(?P<node>[^/]+)/network-config", _network_config),
        (r"kubeadm/(?P<node>[^/]+)-(?P<kind>init|join)\.yaml", _kubeadm),
        (r"loadbalancers/(?P<node>[^/]+)/(?P<file>haproxy\.cfg|keepalived\.conf|check_apiserver\.sh)", _loadbalancer),
        (r"routers/(?P<peer>[^/]+)/(rtx\.txt|frr\.conf|bird\.conf)", _router),
        (
            re.escape(layout.CILIUM_VALUES),
            _fixed(
                Words("Cilium's Helm values: read by the bootstrap install and by the GitOps release alike.", "Cilium の Helm の values: ブートストラップのインストールと GitOps のリリースの両方が読みます。"),
                ("cilium", "apiServer.vip", "apiServer.port", "kubernetes.podCIDR", "bgp"),
                ("kube-proxy-replacement", "routing-mode", "cilium-ipam", "hubble", "cilium-bootstrap"),
            ),
        ),
        (
            re.escape(layout.CILIUM_BOOTSTRAP),
            _fixed(
                Words("The one-time Cilium install with plain Helm, before GitOps can run.", "GitOps が動く前に素の Helm で一度だけ行う Cilium のインストール。"),
                ("cilium.version", "gitops.engine", "nodes[]"),
                ("cilium-bootstrap",),
            ),
        ),
        (
            re.escape(layout.CILIUM_BGP),
            _fixed(
                Words("Cilium's BGP control plane: the cluster config (every node, every peer), one peer config per peer, the advertisements.", "Cilium の BGP コントロールプレーン: クラスター設定（全ノード・全ピア）、ピアごとのピア設定、広告。"),
                ("bgp", "name"),
                ("bgp-sessions", "bgp-advertisements", "bgp-timers", "bgp-passwords", "router-passive"),
            ),
        ),
        (
            re.escape(layout.LB_IPPOOLS),
            _fixed(Words("The LoadBalancer IP pools (Cilium LB IPAM).", "LoadBalancer IP プール（Cilium LB IPAM）。"), ("loadBalancerPools",), ("lb-pools",)),
        ),
        (
            rf"({re.escape(layout.CONFIGS_DIR)}|{re.escape(layout.CONTROLLERS_DIR)}|{re.escape(layout.CILIUM_DIR)})/kustomization\.yaml|{re.escape(layout.CILIUM_DIR)}/kustomizeconfig\.yaml",
            _fixed(Words("A kustomization that lists what GitOps applies from this folder.", "このフォルダーから GitOps が適用するものを並べた kustomization。"), _GITOPS, ("gitops-order",)),
        ),
        (
            rf"{re.escape(layout.CILIUM_DIR)}/(helmrepository|helmrelease)\.yaml",
            _fixed(Words("Flux's Helm source and release of Cilium: the bootstrap's release, taken over.", "Flux の Cilium 用 Helm ソースとリリース: ブートストラップのリリースを引き継ぎます。"), ("cilium.version", *_GITOPS), ("cilium-bootstrap", "gitops-order")),
        ),
        (
            r"clusters/[^/]+/infrastructure\.yaml",
            _fixed(Words("Flux's entry point: the controllers first, then the configs that need their CRDs.", "Flux の入口: 先にコントローラー、次にその CRD を使う設定。"), _GITOPS, ("gitops-order",)),
        ),
        (
            rf"{re.escape(layout.ARGOCD_DIR)}/.+\.yaml",
            _fixed(Words("Argo CD's app-of-apps: the project, Cilium, then the configs, in sync waves.", "Argo CD の app-of-apps: プロジェクト、Cilium、設定の順に同期ウェーブで。"), ("cilium", *_GITOPS), ("gitops-order", "cilium-bootstrap", "hubble")),
        ),
        (
            r"README(\.ja)?\.md",
            _page(Words("The repository's guide: the nodes, the topology, the bootstrap steps with their checks.", "リポジトリの案内: ノード、構成図、確認付きの構築手順。")),
        ),
        (
            r"docs/troubleshooting(\.ja)?\.md",
            _page(Words("Troubleshooting: symptom, commands, cause and fix of each known failure.", "トラブルシューティング: 既知の障害ごとの症状・コマンド・原因・対処。")),
        ),
        (
            r"docs/decisions(\.ja)?\.md",
            _page(Words("Why the repository is the way it is: every topic `clusterforge explain` knows.", "リポジトリがこうなっている理由: `clusterforge explain` が知るすべてのトピック。")),
        ),
        (re.escape(layout.TOPOLOGY_SVG), _page(Words("The topology as an image.", "構成図の画像。"))),
        (
            layout.CHANGE_RUNBOOK.pattern,
            _page(Words(
                "The runbook of one change, written by `clusterforge plan` (not rendered, not in the lock: commit it with the change): its steps in order, with a check after each.",
                "一つの変更の手順書。`clusterforge plan` が書きます（生成物でもロックの対象でもないので、変更と一緒にコミットします）。手順を順に、それぞれの確認付きで。",
            )),
        ),
        (
            rf"{re.escape(layout.RUNBOOKS_DIR)}/[^/]+\.md",
            _page(Words("A day-2 runbook: the steps of one operation in order, with a check after each.", "日々の運用の手順書: 一つの作業の手順を順に、それぞれの確認付きで。")),
        ),
        (re.escape(".gitignore"), _fixed(Words("Keeps the secrets file, seeds and ISO images out of git.", "シークレットファイル、シード、ISO イメージを git から外します。"), (), _REPOSITORY)),
        (re.escape(layout.SCHEMA_FILE), _fixed(Words("The JSON Schema of cluster.yaml, for editors.", "エディター用の cluster.yaml の JSON Schema。"), (), _REPOSITORY)),
        (re.escape(layout.INVENTORY_SNAPSHOT), _fixed(Words("The inventory the files were rendered from (what `clusterforge plan` compares with).", "ファイルを生成したときのインベントリ（`clusterforge plan` が比べる相手）。"), ("(all of cluster.yaml)",), _REPOSITORY)),
        (re.escape(layout.LOCK_FILE), _fixed(Words("Which files clusterforge wrote, with their hashes: hand edits are refused, not overwritten.", "clusterforge が書いたファイルとそのハッシュ: 手による編集は上書きせずに拒否します。"), (), _REPOSITORY)),
        (re.escape(layout.SECRETS_FILE), _fixed(Words("The cluster's secrets (never committed): token, certificate key, CAs, BGP passwords.", "クラスターのシークレット（コミットしない）: トークン、証明書の鍵、CA、BGP パスワード。"), ("bgp.peers[].authSecretRef", "secrets.ageRecipients"), ("join-secrets", "bgp-passwords"))),
        (re.escape(layout.INVENTORY), _fixed(Words("The inventory: the only file to edit.", "インベントリ: 編集するのはこのファイルだけです。"), ("(all of cluster.yaml)",), _REPOSITORY)),
        (
            "|".join(re.escape(name) for name in (scaffold.NOXFILE, scaffold.WORKFLOW, scaffold.PRE_COMMIT, scaffold.RENOVATE, scaffold.SOPS)),
            _fixed(
                Words("The repository's own checks and updates (nox, CI, pre-commit, Renovate, SOPS), from the clusterforge template.", "リポジトリ自身の確認と更新（nox、CI、pre-commit、Renovate、SOPS）。clusterforge のテンプレートから。"),
                ("kubernetes.version", "cilium.version", "secrets.ageRecipients"),
                _REPOSITORY,
            ),
        ),
    ]
    return [(re.compile(pattern), build) for pattern, build in rules]


def template_files(inv: Inventory) -> list[str]:
    """Files a repository holds besides the rendered tree: the template's and the writer's."""
    from .. import scaffold

    return sorted([layout.INVENTORY, layout.LOCK_FILE, layout.SECRETS_FILE, scaffold.NOXFILE, *scaffold.skeleton_files(inv)])


def describe(inv: Inventory, path: str) -> FileInfo | None:
    """What `path` (repository-relative, POSIX) is, or None for a path no rule knows."""
    for pattern, build in _rules():
        if match := pattern.fullmatch(path):
            return build(inv, match)
    return None
