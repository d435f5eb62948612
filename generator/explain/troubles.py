"""Troubleshooting: the failures this setup is known for, each with its symptom,
the commands that show it (and what they show then), the cause and the fix.

The prose is data in both languages; the commands are built from the inventory
(addresses, node and peer names, router kinds), so the guide of each repository
names its own. `clusterforge explain ID` answers with the same text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..model import Inventory, RouterKind
from ..render import bootstrap, cilium, cloudinit, firewall, routers
from .catalog import Language, Words

Block = tuple[str, list[str]]  # (fence language, lines): "sh" or "text" (router CLI)

KUBEADM_CONFIG = cloudinit.KUBEADM_CONFIG
AGENT = f"kubectl --namespace {cilium.NAMESPACE} exec daemonset/{cilium.AGENT_DAEMONSET} -c cilium-agent --"
AGENT_LOGS = f"kubectl --namespace {cilium.NAMESPACE} logs daemonset/{cilium.AGENT_DAEMONSET} -c cilium-agent"


@dataclass(frozen=True)
class Trouble:
    id: str
    title: Words
    symptom: Words
    shows: Words  # what the commands show in this failure
    cause: Words
    fix: Words
    commands: Callable[[Inventory], list[Block]]
    applies: Callable[[Inventory], bool] = lambda inv: True
    topics: tuple[str, ...] = field(default=())  # catalog topics that explain the background
    auto_fix: Words | None = None  # what differs with bootstrap.mode auto, where the nodes run kubeadm themselves

    def fix_for(self, inv: Inventory | None, language: Language) -> str:
        """The fix for this inventory (both modes' when there is none)."""
        if self.auto_fix is None or (inv is not None and inv.bootstrap.mode != "auto"):
            return self.fix(language)
        return f"{self.fix(language)} {self.auto_fix(language)}" if language == "en" else f"{self.fix(language)}{self.auto_fix(language)}"


def _routers(inv: Inventory) -> list[RouterKind]:
    """The router kinds of the inventory's peers, each once, in a fixed order."""
    kinds = {peer.router for peer in inv.bgp.peers} if inv.bgp else set()
    return [kind for kind in ("yamaha-rtx", "frr", "bird") if kind in kinds]


def _router_blocks(inv: Inventory, per_kind: dict[RouterKind, list[str]]) -> list[Block]:
    """Commands for each router kind the inventory has, with a comment naming its peers."""
    blocks: list[Block] = []
    assert inv.bgp is not None
    for kind in _routers(inv):
        names = ", ".join(p.name for p in inv.bgp.peers if p.router == kind)
        # RTX commands are typed on the router's console, not in a shell; both take # comments.
        blocks.append(("text" if kind == "yamaha-rtx" else "sh", [f"# {names} ({kind}):", *per_kind[kind]]))
    return blocks


def _first_peer(inv: Inventory) -> str:
    assert inv.bgp is not None
    return str(inv.bgp.peers[0].address)


def _first_node(inv: Inventory):
    return inv.kubernetes_nodes[0]


def _has_bgp(inv: Inventory) -> bool:
    return inv.bgp is not None


def _has_frr(inv: Inventory) -> bool:
    return "frr" in _routers(inv)


def _bgp_idle(inv: Inventory) -> list[Block]:
    node = _first_node(inv)
    return [
        ("sh", ["cilium bgp peers", f"# on {node.name}: can the node reach the router's BGP port?", f"nc -vz {_first_peer(inv)} 179"]),
        *_router_blocks(
            inv,
            {
                "yamaha-rtx": ["show status bgp neighbor", "show config | grep bgp"],
                "frr": ["sudo vtysh -c 'show bgp summary'", "grep bgpd= /etc/frr/daemons"],
                "bird": ["sudo birdc show protocols"],
            },
        ),
    ]


def _bad_peer_as(inv: Inventory) -> list[Block]:
    node = _first_node(inv)
    return [
        ("sh", [f"{AGENT_LOGS} | grep -i 'bgp' | tail -n 20"]),
        *_router_blocks(
            inv,
            {
                "yamaha-rtx": ["show log | grep BGP"],
                "frr": [f"sudo vtysh -c 'show bgp neighbors {node.ip}' | grep -E 'remote AS|Last reset'"],
                "bird": [f"sudo birdc show protocols all {routers.bird_protocol(node.name)}"],
            },
        ),
    ]


def _both_passive(inv: Inventory) -> list[Block]:
    node = _first_node(inv)
    return [
        ("sh", [f"# on {node.name}: the agent's connection to the router, if any", "sudo ss -tnp 'dport = :179'", "kubectl get ciliumbgpnodeconfigs"]),
    ]


def _nothing_advertised(inv: Inventory) -> list[Block]:
    return [
        (
            "sh",
            [
                "cilium bgp routes advertised ipv4 unicast",
                "kubectl get ciliumbgpadvertisements --show-labels",
                "kubectl get ciliumbgppeerconfigs -o yaml | grep -A 3 'advertisements:'",
                "kubectl get services --all-namespaces --field-selector spec.type=LoadBalancer",
            ],
        )
    ]


def _frr_policy(inv: Inventory) -> list[Block]:
    return [("sh", ["sudo vtysh -c 'show bgp summary'", f"sudo vtysh -c 'show running-config' | grep -E '{routers.FRR_GROUP}-(IN|OUT)|ebgp-requires-policy'"])]


def _lb_pending(inv: Inventory) -> list[Block]:
    return [
        (
            "sh",
            [
                "kubectl get services --all-namespaces --field-selector spec.type=LoadBalancer",
                "kubectl get service NAME --namespace NAMESPACE -o jsonpath='{.status.conditions}'",
                "kubectl get ciliumloadbalancerippools",
            ],
        )
    ]


def _cni_replaced(inv: Inventory) -> list[Block]:
    node = _first_node(inv)
    return [("sh", [f"# on {node.name}:", "ls /etc/cni/net.d/", "kubectl get pods --all-namespaces -o wide --field-selector status.phase=Running"])]


def _vip_down(inv: Inventory) -> list[Block]:
    vip, port, iface = inv.api_server.vip, inv.api_server.port, inv.network.interface
    lbs = ", ".join(lb.name for lb in inv.loadbalancers)
    return [
        ("sh", [f"nc -vz -w 3 {vip} {port}"]),
        (
            "sh",
            [
                f"# on {lbs}:",
                f"ip -brief address show dev {iface}",
                "sudo journalctl -u keepalived --since -1h | grep -E 'Entering (MASTER|BACKUP|FAULT) STATE'",
                "sudo journalctl -u haproxy --since -1h | grep -i 'cannot bind'",
                "sysctl net.ipv4.ip_nonlocal_bind",
                f"sudo ss -ltnp 'sport = :{port}'",
                f"sudo grep -A 3 '{firewall.BEGIN_MARK}' {firewall.BEFORE_RULES}",
                "sudo ufw status verbose",
            ],
        ),
    ]


def _join_fails(inv: Inventory) -> list[Block]:
    first = inv.control_planes[0].name
    return [
        # bootstrap.mode auto: the node ran the join itself and logged kubeadm's own output.
        ("sh", ["# on the joining node:",
                f"sudo tail -n 20 {bootstrap.LOG_FILE}" if inv.bootstrap.mode == "auto" else f"sudo kubeadm join --config {KUBEADM_CONFIG} --v=5 2>&1 | tail -n 20",
                "timedatectl status | grep -E 'synchronized|NTP'"]),
        ("sh", [f"# on {first}:", "sudo kubeadm token list", f"sudo kubectl --kubeconfig {bootstrap.ADMIN_KUBECONFIG} --namespace kube-system get secret kubeadm-certs"]),
    ]


def _not_ready(inv: Inventory) -> list[Block]:
    return [
        (
            "sh",
            [
                "kubectl get nodes",
                "kubectl describe node NODE | grep -A 2 'Ready '",
                f"kubectl --namespace {cilium.NAMESPACE} get pods -l k8s-app=cilium -o wide",
            ],
        )
    ]


TROUBLES: tuple[Trouble, ...] = (
    Trouble(
        "bgp-idle",
        Words("The BGP session stays Idle, Active or Connect", "BGP セッションが Idle・Active・Connect のまま"),
        Words(
            "`cilium bgp peers` shows a Session State other than `established` for a node, and the router lists that node as "
            "Idle or Active, or not at all. No LoadBalancer IP is reachable from outside.",
            "`cilium bgp peers` のあるノードの Session State が `established` 以外で、ルーターもそのノードを Idle や Active と表示するか、"
            "まったく表示しません。外から LoadBalancer IP に届きません。",
        ),
        Words(
            "`active` or `connect` in `cilium bgp peers`; on the router the neighbor in Idle/Active (FRR: `Active` or `Idle` in the "
            "State/PfxRcd column; BIRD: `start` with `Active` or `Passive` instead of `up ... Established`). `nc -vz PEER 179` "
            "from the node times out or is refused.",
            "`cilium bgp peers` に `active` や `connect`。ルーターではネイバーが Idle/Active（FRR: State/PfxRcd 列に `Active` や `Idle`、"
            "BIRD: `up ... Established` ではなく `start` と `Active` や `Passive`）。ノードからの `nc -vz PEER 179` はタイムアウトか拒否。",
        ),
        Words(
            "The router's BGP is not running or does not know the node: on a Yamaha RTX `bgp use on` or the final `bgp "
            "configure refresh` was never entered (or an interface has a secondary address); FRR runs with `bgpd=no` in "
            "/etc/frr/daemons; BIRD never loaded the config; or the node was added to cluster.yaml but the router file was "
            "not applied again, so its address is no neighbor. A firewall between node and router dropping 179/tcp looks the same.",
            "ルーターの BGP が動いていないか、そのノードを知りません。Yamaha RTX で `bgp use on` や最後の `bgp configure refresh` を"
            "入力していない（またはどこかのインターフェースにセカンダリアドレスがある）、FRR の /etc/frr/daemons が `bgpd=no`、"
            "BIRD が設定を読み込んでいない、あるいはノードを cluster.yaml に加えたのにルーター用ファイルを再適用しておらず、"
            "そのアドレスがネイバーにない、のいずれかです。ノードとルーターの間で 179/tcp を落とすファイアウォールも同じ症状になります。",
        ),
        Words(
            "Apply the router's file again exactly as its header says (it lists one neighbor per node), check that the "
            "neighbor list has every node's address, and that `nc -vz PEER 179` from a node connects.",
            "ルーター用ファイルをヘッダーの説明どおりに再適用し（ノードごとに一つのネイバーがあります）、ネイバーの一覧に全ノードの"
            "アドレスがあること、ノードからの `nc -vz PEER 179` が接続できることを確認します。",
        ),
        _bgp_idle,
        _has_bgp,
        ("bgp-sessions", "router-passive"),
    ),
    Trouble(
        "bgp-bad-peer-as",
        Words("The router rejects the OPEN: bad peer AS", "ルーターが OPEN を拒否する（bad peer AS）"),
        Words(
            "The session starts and drops again at once, over and over; it never reaches `established`.",
            "セッションが始まってはすぐに切れることを繰り返し、`established` になりません。",
        ),
        Words(
            "A NOTIFICATION with OPEN Message Error / Bad Peer AS: FRR shows it as the `Last reset` reason of the neighbor, "
            "BIRD as `BGP Error: Bad peer AS` (or `Received: Bad peer AS`) in `show protocols`, the RTX in its log; the agent's "
            "log shows the session going down after the OPEN.",
            "OPEN Message Error / Bad Peer AS の NOTIFICATION。FRR ではネイバーの `Last reset` の理由に、BIRD では `show protocols` に "
            "`BGP Error: Bad peer AS`（または `Received: Bad peer AS`）として、RTX ではログに出ます。エージェントのログでは OPEN の後に"
            "セッションが落ちています。",
        ),
        Words(
            "The AS numbers are swapped or mistyped. `bgp.localASN` is the cluster's AS, which the router must name for its "
            "neighbors (`bgp neighbor N ASN`, `remote-as`, `neighbor ... as`); `bgp.peers[].asn` is the router's own AS "
            "(`bgp autonomous-system`, `router bgp`, `local ... as`). Equal numbers make the session iBGP, different ones eBGP; "
            "a Yamaha RTX takes 2-byte AS numbers only.",
            "AS 番号が入れ替わっているか誤っています。`bgp.localASN` はクラスターの AS で、ルーターはネイバーにこの番号を指定します"
            "（`bgp neighbor N ASN`、`remote-as`、`neighbor ... as`）。`bgp.peers[].asn` はルーター自身の AS です（`bgp autonomous-system`、"
            "`router bgp`、`local ... as`）。同じ番号なら iBGP、違えば eBGP で、Yamaha RTX は 2 バイトの AS 番号しか使えません。",
        ),
        Words(
            "Correct the numbers in cluster.yaml (never in a generated file), `clusterforge render`, merge (GitOps updates "
            "the CiliumBGPClusterConfig) and apply the router file again.",
            "cluster.yaml の番号を直し（生成されたファイルではなく）、`clusterforge render` してマージし（CiliumBGPClusterConfig は GitOps が"
            "更新します）、ルーター用ファイルを再適用します。",
        ),
        _bad_peer_as,
        _has_bgp,
        ("bgp-sessions",),
    ),
    Trouble(
        "bgp-both-passive",
        Words("Nobody connects: both sides wait", "どちらも接続しない（両側が待っている）"),
        Words(
            "The router's neighbors stay Active forever, the node has no TCP connection to the router's port 179, and the "
            "router's log may show its own connection attempts to the nodes refused.",
            "ルーターのネイバーがずっと Active のままで、ノードにはルーターの 179 番ポートへの TCP 接続がなく、ルーターのログには"
            "ノードへの自分からの接続が拒否された記録が出ることがあります。",
        ),
        Words(
            "`ss` on the node lists no connection to PEER:179 (a working session shows one ESTAB line owned by cilium-agent); "
            "`kubectl get ciliumbgpnodeconfigs` lists no object for the node when no CiliumBGPClusterConfig selects it.",
            "ノードの `ss` に PEER:179 への接続がありません（正常なら cilium-agent の ESTAB が 1 行）。どの CiliumBGPClusterConfig も"
            "ノードを選んでいないと、`kubectl get ciliumbgpnodeconfigs` にそのノードのオブジェクトがありません。",
        ),
        Words(
            "The Cilium agent opens no listening port: it only dials out. A router configured to connect to the nodes is "
            "refused by every node, so the router side must wait (passive, as rendered), and then the agents must dial: if "
            "they do not (no CiliumBGPClusterConfig applied yet because GitOps has not synced, a peer address that is not the "
            "router's, outgoing 179/tcp blocked), both sides wait forever.",
            "Cilium エージェントは待ち受けポートを開かず、自分から接続するだけです。ノードへ接続しにいくルーターは全ノードに拒否されるので、"
            "ルーター側は待つ（生成どおりパッシブ）必要があり、そのうえでエージェントが接続しなければなりません。GitOps が未同期で"
            "CiliumBGPClusterConfig がまだない、ピアのアドレスがルーターのものではない、外向きの 179/tcp が塞がれている、などで"
            "接続しないと、両側がずっと待つことになります。",
        ),
        Words(
            "Keep the router passive as rendered; make sure GitOps has applied the BGP configs (`kubectl get "
            "ciliumbgpclusterconfigs`), that every node has a CiliumBGPNodeConfig, and that the peer address in cluster.yaml "
            "is the router's address on the node subnet.",
            "ルーターは生成どおりパッシブのままにします。GitOps が BGP の設定を適用したこと（`kubectl get ciliumbgpclusterconfigs`）、"
            "全ノードに CiliumBGPNodeConfig があること、cluster.yaml のピアのアドレスがノードのサブネット上のルーターのアドレスであることを確認します。",
        ),
        _both_passive,
        _has_bgp,
        ("router-passive",),
    ),
    Trouble(
        "bgp-nothing-advertised",
        Words("The session is established but nothing is advertised", "セッションは確立したが何も広告されない"),
        Words(
            "`cilium bgp peers` shows `established`, but the router receives no prefix and LoadBalancer IPs are unreachable from outside.",
            "`cilium bgp peers` は `established` ですが、ルーターはプレフィックスを受け取らず、外から LoadBalancer IP に届きません。",
        ),
        Words(
            "`cilium bgp routes advertised ipv4 unicast` lists no /32 of a LoadBalancer IP; the router shows 0 received prefixes.",
            "`cilium bgp routes advertised ipv4 unicast` に LoadBalancer IP の /32 がなく、ルーターの受信プレフィックスは 0 です。",
        ),
        Words(
            "Cilium advertises only what a CiliumBGPAdvertisement selects, only if its labels match the peer config's "
            "`families[].advertisements` selector, and a Service advertisement without `selector` selects no Service. "
            "Or the Service has no address yet (EXTERNAL-IP `<pending>`), so there is nothing to advertise.",
            "Cilium が広告するのは CiliumBGPAdvertisement が選ぶものだけで、しかもそのラベルがピア設定の `families[].advertisements` "
            "セレクターに一致するときだけです。`selector` のない Service 広告はどの Service も選びません。"
            "あるいは Service にまだアドレスがなく（EXTERNAL-IP が `<pending>`）、広告するものがありません。",
        ),
        Words(
            "Do not edit these objects by hand: the rendered labels and the always-true selector are right, and GitOps puts "
            "them back. Check that `kubectl get ciliumbgpadvertisements --show-labels` shows `advertise=bgp`; fix a "
            "`<pending>` Service first (see below).",
            "これらのオブジェクトを手で編集しないでください。生成されたラベルと常に真のセレクターは正しく、GitOps が元に戻します。"
            "`kubectl get ciliumbgpadvertisements --show-labels` に `advertise=bgp` があることを確かめ、`<pending>` の Service を先に直します（下記）。",
        ),
        _nothing_advertised,
        _has_bgp,
        ("bgp-advertisements", "lb-pools"),
    ),
    Trouble(
        "frr-no-routes",
        Words("FRR establishes the session but installs nothing", "FRR でセッションは確立したが経路が入らない"),
        Words(
            "The FRR router shows the neighbors Up, but `ip route show proto bgp` is empty.",
            "FRR のルーターではネイバーが Up なのに、`ip route show proto bgp` が空です。",
        ),
        Words(
            "`(Policy)` in the State/PfxRcd and PfxSnt columns of `show bgp summary` instead of prefix counts.",
            "`show bgp summary` の State/PfxRcd と PfxSnt の列にプレフィックス数ではなく `(Policy)`。",
        ),
        Words(
            "FRR applies `bgp ebgp-requires-policy` by default: an eBGP neighbor without an inbound and an outbound route-map "
            "exchanges no route. The rendered frr.conf has both (CILIUM-IN, CILIUM-OUT); they get lost when only part of the "
            "file is merged into the router's configuration.",
            "FRR は既定で `bgp ebgp-requires-policy` を適用し、入出力の route-map がない eBGP ネイバーとは経路を交換しません。"
            "生成された frr.conf には両方（CILIUM-IN、CILIUM-OUT）がありますが、ファイルの一部だけをルーターの設定にマージすると失われます。",
        ),
        Words(
            "Merge the whole file: the `route-map` lines of the address family, the prefix-list and both route-maps. Do not "
            "turn the policy requirement off: that would install whatever any node announces.",
            "ファイル全体をマージします。アドレスファミリーの `route-map` 行、prefix-list、二つの route-map です。ポリシーの要求を"
            "無効にしないでください。どのノードが何を広告してもそのまま導入されてしまいます。",
        ),
        _frr_policy,
        _has_frr,
        ("frr-ebgp-policy", "router-accepts"),
    ),
    Trouble(
        "lb-pending",
        Words("A LoadBalancer Service stays <pending>", "LoadBalancer Service が <pending> のまま"),
        Words("`kubectl get services` shows EXTERNAL-IP `<pending>` for the Service.", "`kubectl get services` でその Service の EXTERNAL-IP が `<pending>` です。"),
        Words(
            "The Service's condition `io.cilium/lb-ipam-request-satisfied` is False with reason `no_pool` (\"There are no "
            "enabled CiliumLoadBalancerIPPools that match this service\"); or `kubectl get ciliumloadbalancerippools` shows the "
            "pool with `CONFLICTING True` or `IPS AVAILABLE 0`. A Service whose loadBalancerClass Cilium does not handle gets "
            "no condition at all.",
            "Service の条件 `io.cilium/lb-ipam-request-satisfied` が False で理由が `no_pool`（\"There are no enabled "
            "CiliumLoadBalancerIPPools that match this service\"）、または `kubectl get ciliumloadbalancerippools` でプールが "
            "`CONFLICTING True` か `IPS AVAILABLE 0`。Cilium が扱わない loadBalancerClass の Service には条件が何も付きません。",
        ),
        Words(
            "No pool selects the Service (its labels do not match any pool's serviceSelector), the pool is exhausted, or the "
            "pool conflicts with another one (overlapping CIDRs: the pool added last is marked Conflicting and hands out nothing).",
            "どのプールもその Service を選んでいない（ラベルがどのプールの serviceSelector にも一致しない）、プールを使い切った、"
            "またはほかのプールと衝突している（CIDR が重なると後から加えたプールが Conflicting になり、何も割り当てません）。",
        ),
        Words(
            "Label the Service for the pool it should draw from (the pools' selectors are in cluster.yaml), grow the pool in "
            "cluster.yaml, or remove the overlap; a pool created outside this repository is the usual cause of a conflict.",
            "使うべきプールに合わせて Service にラベルを付ける（プールのセレクターは cluster.yaml にあります）、cluster.yaml でプールを広げる、"
            "または重なりをなくします。衝突の原因はたいてい、このリポジトリの外で作られたプールです。",
        ),
        _lb_pending,
        lambda inv: bool(inv.load_balancer_pools),
        ("lb-pools",),
    ),
    Trouble(
        "cni-replaced",
        Words("Pods lost networking after the CNI was replaced in place", "CNI をその場で入れ替えたら Pod の通信が切れた"),
        Words(
            "After installing Cilium over another CNI (or reinstalling it), pods that were already running cannot reach "
            "others or DNS, while new pods work.",
            "ほかの CNI の上に Cilium を入れた（または入れ直した）後、以前から動いていた Pod がほかの Pod や DNS に届かず、新しい Pod は動きます。",
        ),
        Words(
            "`/etc/cni/net.d/` on a node still holds the old CNI's config (Cilium renames others to `*.cilium_bak`); the old "
            "pods keep addresses from the old CNI's range.",
            "ノードの `/etc/cni/net.d/` に古い CNI の設定が残っている（Cilium はほかのものを `*.cilium_bak` に改名します）か、"
            "古い Pod が古い CNI の範囲のアドレスを持ったままです。",
        ),
        Words(
            "A pod's network is set up once, when it starts, by the CNI that runs then. Replacing the CNI does not touch the "
            "pods that already run: they keep the old CNI's interfaces, addresses and routes, which nothing serves any more.",
            "Pod のネットワークは起動時に、そのとき動いている CNI が一度だけ設定します。CNI を入れ替えても既存の Pod は変わらず、"
            "もう誰も面倒を見ない古い CNI のインターフェース・アドレス・経路を持ち続けます。",
        ),
        Words(
            "No rebuild is needed: remove the old CNI's config files from /etc/cni/net.d on every node, then restart every pod "
            "that is not on the host network, one node at a time (`kubectl drain NODE --ignore-daemonsets "
            "--delete-emptydir-data`, reboot the node, which also clears the old CNI's interfaces and rules, `kubectl uncordon NODE`).",
            "作り直しは不要です。全ノードの /etc/cni/net.d から古い CNI の設定ファイルを消し、ホストネットワークでない Pod を"
            "ノードごとに再起動します（`kubectl drain NODE --ignore-daemonsets --delete-emptydir-data`、ノードを再起動して古い CNI の"
            "インターフェースやルールも消し、`kubectl uncordon NODE`）。",
        ),
        _cni_replaced,
        topics=("cilium-bootstrap",),
    ),
    Trouble(
        "vip-down",
        Words("The VIP does not answer", "VIP が応答しない"),
        Words(
            "`nc -vz VIP PORT` times out or is refused; kubectl and the joining nodes cannot reach the API.",
            "`nc -vz VIP PORT` がタイムアウトするか拒否され、kubectl も参加するノードも API に届きません。",
        ),
        Words(
            "No load balancer has the VIP in `ip -brief address` (keepalived stopped or in FAULT), or two of them have it "
            "(VRRP between them is blocked: both log `Entering MASTER STATE`); HAProxy logs `cannot bind socket` because "
            "`net.ipv4.ip_nonlocal_bind` is 0; or nothing listens on the port (`ss`).",
            "どのロードバランサーの `ip -brief address` にも VIP がない（keepalived が停止か FAULT）、または 2 台にある（間の VRRP が塞がれ、"
            "両方が `Entering MASTER STATE` を記録）、`net.ipv4.ip_nonlocal_bind` が 0 で HAProxy が `cannot bind socket` を記録、"
            "あるいはそのポートで何も待ち受けていない（`ss`）。",
        ),
        Words(
            "keepalived must run on every load balancer and see the others' VRRP (IP protocol 112, allowed in ufw's "
            "before.rules), HAProxy must be able to bind the VIP it does not hold (ip_nonlocal_bind), and the host firewall "
            "admits the API only from the node subnet and apiServer.allowedSources: from any other network it times out.",
            "keepalived は全ロードバランサーで動き、ほかの VRRP（IP プロトコル 112。ufw の before.rules で許可）を受け取る必要があり、"
            "HAProxy は自分が持たない VIP に bind できなければならず（ip_nonlocal_bind）、ホストのファイアウォールはノードのサブネットと "
            "apiServer.allowedSources からしか API を通しません。ほかのネットワークからはタイムアウトします。",
        ),
        Words(
            "Start what is not running (`sudo systemctl restart keepalived haproxy`), restore the VRRP lines of before.rules by "
            "running `sudo /usr/local/sbin/clusterforge-firewall`, set `sudo sysctl --system` after checking "
            "/etc/sysctl.d/99-loadbalancer.conf, or work from an allowed network (or add yours to apiServer.allowedSources).",
            "止まっているものを起動し（`sudo systemctl restart keepalived haproxy`）、`sudo /usr/local/sbin/clusterforge-firewall` で "
            "before.rules の VRRP の行を戻し、/etc/sysctl.d/99-loadbalancer.conf を確かめてから `sudo sysctl --system` し、"
            "許可されたネットワークから作業します（または自分のネットワークを apiServer.allowedSources に加えます）。",
        ),
        _vip_down,
        lambda inv: bool(inv.loadbalancers),
        ("vrrp-unicast", "keepalived-checks", "ip-nonlocal-bind", "firewall"),
    ),
    Trouble(
        "join-fails",
        Words("kubeadm join fails", "kubeadm join が失敗する"),
        Words("`kubeadm join` stops with an error and the node never appears in `kubectl get nodes`.", "`kubeadm join` がエラーで止まり、ノードが `kubectl get nodes` に現れません。"),
        Words(
            "An expired token: `token id ... is invalid for this cluster or it has expired`. Expired uploaded certificates "
            "(control planes only): `error downloading certs` because the `kubeadm-certs` Secret is gone. A CA hash that does "
            "not match: `none of the public keys ... are pinned`. Clock skew: `x509: certificate has expired or is not yet "
            "valid` although the certificates are new.",
            "トークンの期限切れ: `token id ... is invalid for this cluster or it has expired`。アップロードした証明書の期限切れ"
            "（コントロールプレーンのみ）: `kubeadm-certs` Secret が消えて `error downloading certs`。CA ハッシュの不一致: "
            "`none of the public keys ... are pinned`。時刻のずれ: 証明書は新しいのに `x509: certificate has expired or is not yet valid`。",
        ),
        Words(
            "The bootstrap token lives 24 hours; the control-plane certificates that `kubeadm init --upload-certs` uploaded "
            "and their key 2 hours; a seed built before the cluster's CA changed carries the old hash; a VM whose clock is far "
            "off sees valid certificates as not yet valid.",
            "ブートストラップトークンの有効期間は 24 時間、`kubeadm init --upload-certs` がアップロードしたコントロールプレーンの証明書と"
            "その鍵は 2 時間です。クラスターの CA が変わる前に作ったシードは古いハッシュを持ち、時計が大きくずれた VM には有効な証明書が"
            "まだ有効でないように見えます。",
        ),
        Words(
            "On the first control plane: `sudo kubeadm token create TOKEN` with bootstrapToken from the secrets file renews the "
            f"token; `sudo kubeadm init phase upload-certs --upload-certs --config {KUBEADM_CONFIG}` uploads the certificates again "
            "with the same key. Rebuild a seed made before the CA changed (`clusterforge seed`). Fix time sync "
            "(`timedatectl`) before joining. After a failed control-plane join run `sudo kubeadm reset --force` on that node first.",
            "最初のコントロールプレーンで、シークレットファイルの bootstrapToken を使って `sudo kubeadm token create TOKEN` でトークンを作り直し、"
            f"`sudo kubeadm init phase upload-certs --upload-certs --config {KUBEADM_CONFIG}` で同じ鍵のまま証明書を再アップロードします。"
            "CA が変わる前に作ったシードは作り直します（`clusterforge seed`）。参加の前に時刻同期を直します（`timedatectl`）。"
            "コントロールプレーンの参加に失敗したら、まずそのノードで `sudo kubeadm reset --force` を実行します。",
        ),
        _join_fails,
        topics=("join-secrets", "kubeadm-config", "bootstrap-auto"),
        auto_fix=Words(
            f"With bootstrap.mode auto the node joins by itself ({bootstrap.JOIN_ATTEMPTS} attempts, then its log ends with "
            f"`FAILED: kubeadm join: no attempt succeeded`): fix the cause, then `sudo systemctl start {bootstrap.UNIT}` on it "
            "runs the attempts again.",
            f"bootstrap.mode が auto ならノードは自分で参加します（{bootstrap.JOIN_ATTEMPTS} 回試し、だめならログが "
            f"`FAILED: kubeadm join: no attempt succeeded` で終わります）。原因を直してから、そのノードで `sudo systemctl start {bootstrap.UNIT}` "
            "を実行すると試行をやり直します。",
        ),
    ),
    Trouble(
        "node-not-ready",
        Words("A node stays NotReady", "ノードが NotReady のまま"),
        Words("`kubectl get nodes` shows the node `NotReady` long after it joined.", "参加してしばらく経っても `kubectl get nodes` でノードが `NotReady` です。"),
        Words(
            "The node's Ready condition says `container runtime network not ready: NetworkReady=false "
            "reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized`, and no "
            "cilium pod runs on it (or it is not Running).",
            "ノードの Ready 条件に `container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
            "message:Network plugin returns error: cni plugin not initialized` とあり、そのノードで cilium の Pod が動いていない"
            "（または Running でない）。",
        ),
        Words(
            "There is no CNI yet: every node is NotReady until the Cilium agent runs on it. Before the install that is "
            "expected; after it, the agent pod on that node cannot start (image pull from the internet, the kernel check, "
            "the API unreachable through the VIP).",
            "CNI がまだありません。Cilium エージェントが動くまでどのノードも NotReady です。インストール前なら想定どおりで、"
            "インストール後ならそのノードのエージェント Pod が起動できていません（インターネットからのイメージ取得、カーネルの確認、"
            "VIP 経由の API に届かない、など）。",
        ),
        Words(
            f"Install Cilium (`./bootstrap/install-cilium.sh`) if it is not installed; otherwise read the agent pod's events "
            f"and log (`kubectl --namespace {cilium.NAMESPACE} describe pod POD`, `kubectl --namespace {cilium.NAMESPACE} logs POD -c cilium-agent`).",
            f"未インストールなら Cilium を入れます（`./bootstrap/install-cilium.sh`）。インストール済みならエージェント Pod のイベントとログを読みます"
            f"（`kubectl --namespace {cilium.NAMESPACE} describe pod POD`、`kubectl --namespace {cilium.NAMESPACE} logs POD -c cilium-agent`）。",
        ),
        _not_ready,
        topics=("cilium-bootstrap", "kernel-check"),
    ),
)

BY_ID: dict[str, Trouble] = {trouble.id: trouble for trouble in TROUBLES}


def applicable(inv: Inventory) -> list[Trouble]:
    return [trouble for trouble in TROUBLES if trouble.applies(inv)]

