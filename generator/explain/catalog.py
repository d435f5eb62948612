"""The explanations: why a generated thing is the way it is (topics), in English
and Japanese, with the inventory fields involved and the upstream source.

`clusterforge explain TOPIC` prints a topic; `clusterforge explain PATH[:LINE]`
finds the topics of a file (files.py) and of a line (a topic's markers: text
that appears only in lines the topic is about); the generated guide lists every
topic that applies to the repository. Field paths are cluster.yaml's spelling,
`[]` for "each item of the list".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..model import Inventory

Language = Literal["en", "ja"]
LANGUAGES: tuple[Language, ...] = ("en", "ja")


@dataclass(frozen=True)
class Words:
    """One sentence (or paragraph) in both languages."""

    en: str
    ja: str

    def __call__(self, language: Language) -> str:
        return self.en if language == "en" else self.ja

    def format(self, **values: object) -> Words:
        return Words(self.en.format(**values), self.ja.format(**values))


@dataclass(frozen=True)
class Topic:
    id: str
    title: Words
    why: Words
    fields: tuple[str, ...]
    sources: tuple[str, ...]
    # Text found only in lines this topic is about (case-sensitive substrings).
    markers: tuple[str, ...] = ()
    requires: str | None = None  # a REQUIREMENTS key: the topic applies only to such inventories

    def applies(self, inv: Inventory) -> bool:
        return self.requires is None or REQUIREMENTS[self.requires](inv)


REQUIREMENTS: dict[str, Callable[[Inventory], bool]] = {
    "loadbalancers": lambda inv: bool(inv.loadbalancers),
    "bgp": lambda inv: inv.bgp is not None,
    "frr": lambda inv: inv.bgp is not None and any(p.router == "frr" for p in inv.bgp.peers),
    "pools": lambda inv: bool(inv.load_balancer_pools),
    "auto": lambda inv: inv.bootstrap.mode == "auto",
    "hubble": lambda inv: inv.cilium.hubble,
}


CILIUM_DOCS = "https://docs.cilium.io/en/stable"
K8S_DOCS = "https://kubernetes.io/docs"
KUBEADM_HA_GUIDE = "https://github.com/kubernetes/kubeadm/blob/main/docs/ha-considerations.md"

TOPICS: tuple[Topic, ...] = (
    Topic(
        "kube-proxy-replacement",
        Words("Why kube-proxy is skipped", "kube-proxy を入れない理由"),
        Words(
            "Cilium's eBPF datapath serves Services itself (kubeProxyReplacement), so kubeadm installs no kube-proxy: "
            "`proxy.disabled` stays in the kubeadm-config ConfigMap, which keeps `kubeadm upgrade` from bringing it back. "
            "Without kube-proxy nothing serves the `kubernetes` Service IP before the agent runs, so Cilium reaches the API "
            "through the VIP (k8sServiceHost/k8sServicePort).",
            "Cilium の eBPF データパスが Service を自分で処理する（kubeProxyReplacement）ため、kubeadm は kube-proxy を入れません。"
            "`proxy.disabled` は kubeadm-config ConfigMap に残り、`kubeadm upgrade` が kube-proxy を戻すことも防ぎます。"
            "kube-proxy がないとエージェントが動くまで `kubernetes` Service の IP に応答するものがないため、"
            "Cilium は VIP（k8sServiceHost/k8sServicePort）経由で API に接続します。",
        ),
        ("cilium.kubeProxyReplacement", "apiServer.vip", "apiServer.port"),
        (f"{CILIUM_DOCS}/network/kubernetes/kubeproxy-free/",),
        ("proxy:", "addon/kube-proxy", "kubeProxyReplacement", "k8sServiceHost", "k8sServicePort", "masquerade"),
    ),
    Topic(
        "vrrp-unicast",
        Words("Why VRRP is unicast and unauthenticated", "VRRP がユニキャストで認証なしの理由"),
        Words(
            "Hypervisor virtual switches often filter multicast, and multicast VRRP then leaves every load balancer "
            "believing it is alone: both hold the VIP. Unicast to the other load balancers' addresses always arrives. "
            "There is no authentication block: its password would be a secret in git, and VRRPv2 PASS authentication "
            "travels in clear text in every advertisement, so it protects nothing.",
            "ハイパーバイザーの仮想スイッチはマルチキャストを落とすことが多く、マルチキャストの VRRP では各ロードバランサーが"
            "自分しかいないと思い込み、両方が VIP を持ってしまいます。ほかのロードバランサーのアドレスへのユニキャストなら確実に届きます。"
            "認証ブロックは書きません。パスワードが git に入るうえ、VRRPv2 の PASS 認証は広告ごとに平文で流れるため何も守らないからです。",
        ),
        ("nodes[].ip (role loadbalancer)", "network.interface"),
        ("https://keepalived.readthedocs.io/en/latest/configuration_synopsis.html", KUBEADM_HA_GUIDE),
        ("unicast_src_ip", "unicast_peer", "authentication block", "interface ", "virtual_ipaddress", "advert_int"),
        requires="loadbalancers",
    ),
    Topic(
        "keepalived-checks",
        Words("How the load balancers decide who holds the VIP", "どのロードバランサーが VIP を持つかの決まり方"),
        Words(
            "As in kubeadm's HA guide: distinct priorities (101, 100, ...) so there is never a tie, and a check script every "
            "3 s (weight -2, fall 10, rise 2) that asks the load balancer's own HAProxy for a healthy API server. Every load "
            "balancer checks the same thing, so when no API server is healthy (before `kubeadm init`) all lose the same "
            "weight and the VIP stays put instead of flapping. A second check drops a load balancer whose HAProxy is not "
            "running below all others. The virtual_router_id is a hash of the cluster name: two clusters on one segment "
            "must not share it.",
            "kubeadm の HA ガイドのとおり、優先度は重ならないように 101、100… とし、3 秒ごと（weight -2、fall 10、rise 2）に"
            "自分の HAProxy 経由で健全な API サーバーがあるかを確かめます。全ロードバランサーが同じものを確認するので、"
            "健全な API サーバーがない間（`kubeadm init` の前）は全員が同じだけ優先度を下げ、VIP は行き来せずにとどまります。"
            "もう一つのチェックは HAProxy が動いていないロードバランサーの優先度を最下位まで下げます。"
            "virtual_router_id はクラスター名のハッシュです。同じセグメントの二つのクラスターが同じ値を使ってはいけないためです。",
        ),
        ("nodes[] (role loadbalancer)", "name", "apiServer.port"),
        (KUBEADM_HA_GUIDE,),
        ("vrrp_script", "track_script", "priority", "virtual_router_id", "weight", "check_apiserver", "chk_haproxy", "state MASTER", "state BACKUP"),
        requires="loadbalancers",
    ),
    Topic(
        "ip-nonlocal-bind",
        Words("Why net.ipv4.ip_nonlocal_bind is set on the load balancers", "ロードバランサーで net.ipv4.ip_nonlocal_bind を設定する理由"),
        Words(
            "HAProxy listens on VIP:port on every load balancer, but only one of them holds the VIP. Without "
            "ip_nonlocal_bind=1 the kernel refuses to bind an address the host does not have, HAProxy fails to start on "
            "the backups, and a failover then lands on a load balancer that serves nothing.",
            "HAProxy は全ロードバランサーで VIP:port を待ち受けますが、VIP を持つのは 1 台だけです。ip_nonlocal_bind=1 がないと"
            "カーネルは自分にないアドレスへの bind を拒否し、バックアップ側の HAProxy が起動せず、フェイルオーバー先が何も提供できません。",
        ),
        ("apiServer.vip", "apiServer.port"),
        ("https://docs.kernel.org/networking/ip-sysctl.html",),
        ("ip_nonlocal_bind",),
        requires="loadbalancers",
    ),
    Topic(
        "haproxy-health-check",
        Words("How HAProxy checks the API servers", "HAProxy による API サーバーの確認方法"),
        Words(
            "HAProxy forwards plain TCP (TLS stays end to end between client and API server) round robin to every control "
            "plane, and checks each with `GET /healthz` over TLS (`check-ssl verify none`). The HA guide's `ssl-hello-chk` "
            "only proves that something speaks TLS. The client and server timeouts are an hour because watches, "
            "`logs -f`, exec and port-forward keep idle connections open. HAProxy also listens on 127.0.0.1 for the "
            "keepalived check.",
            "HAProxy は TCP のまま（TLS はクライアントと API サーバーの間で終端）全コントロールプレーンへラウンドロビンで転送し、"
            "各サーバーを TLS 上の `GET /healthz`（`check-ssl verify none`）で確認します。HA ガイドの `ssl-hello-chk` は"
            "TLS を話す何かがいることしか確かめません。watch、`logs -f`、exec、port-forward は接続を長く開いたままにするので、"
            "client/server のタイムアウトは 1 時間です。keepalived のチェック用に 127.0.0.1 でも待ち受けます。",
        ),
        ("nodes[].ip (role control-plane)", "apiServer.vip", "apiServer.port"),
        (KUBEADM_HA_GUIDE, "https://docs.haproxy.org/2.6/configuration.html#4.2-option%20httpchk"),
        ("check-ssl", "httpchk", "http-check", "balance roundrobin", "mode tcp", "timeout", "bind "),
        requires="loadbalancers",
    ),
    Topic(
        "router-passive",
        Words("Why the router side is passive", "ルーター側がパッシブな理由"),
        Words(
            "Each node's Cilium agent dials out to the router on 179/tcp; it opens no listening port unless a local port "
            "is configured. So the router only waits for the nodes (passive), which also means no inbound firewall rule "
            "for BGP on the nodes. A router that insists on connecting itself gets refused by every node, and a session "
            "where both sides only wait never starts.",
            "各ノードの Cilium エージェントはルーターの 179/tcp へ自分から接続し、ローカルポートを設定しない限り待ち受けポートを開きません。"
            "そのためルーターはノードからの接続を待つだけ（パッシブ）で、ノード側に BGP 用の受信ルールも要りません。"
            "ルーターから接続しようとすると全ノードに拒否され、両側が待つだけのセッションはいつまでも始まりません。",
        ),
        ("bgp.peers[].address", "bgp.peers[].router"),
        (f"{CILIUM_DOCS}/network/bgp-control-plane/bgp-control-plane-v2/",),
        ("passive", "the router only listens"),
        requires="bgp",
    ),
    Topic(
        "bgp-sessions",
        Words("One BGP session per node and peer", "ノードとピアごとに一つの BGP セッション"),
        Words(
            "Every Kubernetes node runs a BGP speaker (AS bgp.localASN) inside its Cilium agent, so the router has one "
            "neighbor per node, from the node's own IP. With kube-proxy replacement any node can forward a LoadBalancer "
            "IP to its backends, so every node announces every Service IP (as /32); the router spreads traffic over them "
            "where it can do ECMP. The same AS on both sides makes the session iBGP, different ones eBGP.",
            "Kubernetes の各ノードは Cilium エージェント内で BGP スピーカー（AS は bgp.localASN）を動かすので、ルーターには"
            "ノードごとに一つ、ノード自身の IP からのネイバーがあります。kube-proxy 置き換えによりどのノードも LoadBalancer IP を"
            "バックエンドへ転送できるため、全ノードが全 Service IP を /32 で広告し、ルーターは ECMP ができればそれらに分散します。"
            "両側の AS が同じなら iBGP、違えば eBGP です。",
        ),
        ("bgp.localASN", "bgp.peers[].asn", "bgp.peers[].address", "nodes[].ip"),
        (f"{CILIUM_DOCS}/network/bgp-control-plane/bgp-control-plane-v2/",),
        ("neighbor", "bgp autonomous-system", "router bgp", "localASN", "peerASN", "peerAddress", "remote-as", "bgpInstances", "maximum-paths", "merge paths"),
        requires="bgp",
    ),
    Topic(
        "bgp-advertisements",
        Words("Why every advertisement has a label and a selector", "広告リソースにラベルとセレクターがある理由"),
        Words(
            "Cilium advertises nothing unless a CiliumBGPAdvertisement's labels match the peer config's "
            "`families[].advertisements` selector (here `advertise: bgp`), and a Service advertisement without a "
            "`selector` selects no Service. The always-true expression (key NotIn a value nobody uses) selects every "
            "Service. Note that `cilium bgp peers` counts Advertised routes even while a session is down: trust "
            "`established`, not the count.",
            "Cilium は、CiliumBGPAdvertisement のラベルがピア設定の `families[].advertisements` セレクター（ここでは `advertise: bgp`）に"
            "一致しない限り何も広告しません。また `selector` のない Service 広告はどの Service も選びません。"
            "常に真になる式（誰も使わない値に対する NotIn）で全 Service を選びます。`cilium bgp peers` はセッションが落ちていても"
            "Advertised の数を数えるので、数ではなく `established` を確認してください。",
        ),
        ("bgp.advertise.loadBalancerIPs", "bgp.advertise.podCIDRs"),
        (f"{CILIUM_DOCS}/network/bgp-control-plane/bgp-control-plane-v2/", "https://github.com/cilium/cilium/issues/39861"),
        ("advertise: bgp", "advertisementType", "NotIn", "never-used-value", "advertisements:", "CiliumBGPAdvertisement"),
        requires="bgp",
    ),
    Topic(
        "bgp-timers",
        Words("BGP timers and graceful restart", "BGP のタイマーとグレースフルリスタート"),
        Words(
            "Both sides get the same hold and keepalive times (Cilium's defaults are 90 s and 30 s), so neither side "
            "negotiates down unexpectedly. Graceful restart is on in the peer config: when an agent restarts (an "
            "upgrade), the router keeps its routes for the restart time instead of withdrawing them.",
            "両側に同じ hold と keepalive の時間（Cilium の既定は 90 秒と 30 秒）を設定し、どちらかが予想外に短い値で交渉しないようにします。"
            "ピア設定ではグレースフルリスタートが有効です。エージェントが再起動しても（アップグレードなど）、ルーターは経路を"
            "取り下げずに再起動時間のあいだ保持します。",
        ),
        ("bgp.timers", "bgp.peers[].timers"),
        (f"{CILIUM_DOCS}/network/bgp-control-plane/bgp-control-plane-operation/",),
        ("holdTimeSeconds", "keepAliveTimeSeconds", "connectRetryTimeSeconds", "gracefulRestart", "hold-time=", "hold time", "keepalive time", "timers "),
        requires="bgp",
    ),
    Topic(
        "bgp-passwords",
        Words("Where the BGP passwords are", "BGP パスワードの置き場所"),
        Words(
            "A peer's TCP-MD5 password lives only in the secrets file (bgpPasswords.NAME). The cluster gets it as the "
            "Kubernetes Secret NAME in kube-system from `clusterforge bgp-secrets | kubectl apply -f -`; on the router you "
            "type it by hand where the router file says. No password is ever in git.",
            "ピアの TCP-MD5 パスワードはシークレットファイル（bgpPasswords.NAME）にだけあります。クラスターには "
            "`clusterforge bgp-secrets | kubectl apply -f -` で kube-system の Secret NAME として渡し、ルーターにはルーター用ファイルに"
            "書かれた場所で手入力します。パスワードが git に入ることはありません。",
        ),
        ("bgp.peers[].authSecretRef",),
        (f"{CILIUM_DOCS}/network/bgp-control-plane/bgp-control-plane-v2/",),
        ("authSecretRef", "pre-shared-key", "<PASSWORD>", "TCP-MD5"),
        requires="bgp",
    ),
    Topic(
        "router-accepts",
        Words("What the router accepts and advertises", "ルーターが受け入れるものと広告するもの"),
        Words(
            "The router installs only prefixes inside the LoadBalancer pools (and the pod CIDR when per-node podCIDRs are "
            "advertised), at any length up to /32, and advertises nothing back: a node must not learn a default route or "
            "the LAN from BGP. On a Yamaha RTX the direction words are reversed from what they suggest: `bgp export` "
            "selects which RECEIVED routes are installed, `bgp import` what the router ADVERTISES, and nothing takes "
            "effect before `bgp configure refresh`.",
            "ルーターは LoadBalancer プール内（ノードごとの podCIDR を広告するときは Pod CIDR 内も）のプレフィックスだけを /32 まで"
            "どの長さでも導入し、クラスターへは何も広告しません。ノードが BGP でデフォルト経路や LAN を学ぶべきではないからです。"
            "Yamaha RTX では向きを表す語が見た目と逆です。`bgp export` は受信した経路のうちどれを導入するか、`bgp import` はルーターが"
            "何を広告するかを選び、`bgp configure refresh` まで何も反映されません。",
        ),
        ("loadBalancerPools[].cidr", "bgp.advertise.podCIDRs", "kubernetes.podCIDR"),
        ("https://www.rtpro.yamaha.co.jp/RT/manual/", "https://docs.frrouting.org/en/latest/bgp.html", "https://bird.network.cz/?get_doc&v=20&f=bird-6.html"),
        ("bgp export", "bgp import", "prefix-list", "CILIUM_PREFIXES", "cilium_in", "import filter", "export none", "export where", "bgp configure refresh", "Installed from the cluster", "Advertised to the cluster"),
        requires="bgp",
    ),
    Topic(
        "frr-ebgp-policy",
        Words("Why FRR gets route-maps in and out", "FRR に入出力の route-map がある理由"),
        Words(
            "FRR applies `bgp ebgp-requires-policy` by default: an eBGP neighbor without an inbound and an outbound policy "
            "exchanges nothing, and `show bgp summary` shows `(Policy)` instead of a prefix count. CILIUM-IN accepts the "
            "cluster's prefixes, CILIUM-OUT denies everything, so the policy is explicit for iBGP and eBGP alike.",
            "FRR は既定で `bgp ebgp-requires-policy` を適用します。入力と出力のポリシーがない eBGP ネイバーとは何も交換せず、"
            "`show bgp summary` にはプレフィックス数の代わりに `(Policy)` と表示されます。CILIUM-IN がクラスターのプレフィックスを受け入れ、"
            "CILIUM-OUT はすべてを拒否するので、iBGP でも eBGP でもポリシーが明示されます。",
        ),
        ("bgp.peers[].router", "bgp.peers[].asn", "bgp.localASN"),
        ("https://docs.frrouting.org/en/latest/bgp.html#require-policy-on-ebgp",),
        ("route-map", "ebgp-requires-policy"),
        requires="frr",
    ),
    Topic(
        "lb-pools",
        Words("How a LoadBalancer Service gets its IP", "LoadBalancer Service の IP の決まり方"),
        Words(
            "Cilium's LB IPAM gives each LoadBalancer Service an address from a CiliumLoadBalancerIPPool whose "
            "serviceSelector matches it. When several pools match, it picks one in Go map order, which is effectively "
            "random; so the pools' selectors never overlap: a labelled pool selects its label, and the default pool "
            "selects every Service that no other pool selects. A Service that no pool selects stays `<pending>`.",
            "Cilium の LB IPAM は、serviceSelector が一致する CiliumLoadBalancerIPPool から LoadBalancer Service にアドレスを割り当てます。"
            "複数のプールが一致すると Go の map の順で選ぶため、実質ランダムです。そこでプールのセレクターが重ならないようにしています。"
            "ラベル付きのプールはそのラベルを選び、既定のプールはほかのどのプールも選ばない Service を選びます。"
            "どのプールにも選ばれない Service は `<pending>` のままです。",
        ),
        ("loadBalancerPools[].cidr", "loadBalancerPools[].serviceSelector", "loadBalancerPools[].default"),
        (f"{CILIUM_DOCS}/network/lb-ipam/",),
        ("CiliumLoadBalancerIPPool", "serviceSelector", "blocks:", "- cidr:"),
        requires="pools",
    ),
    Topic(
        "routing-mode",
        Words("Pod traffic between nodes", "ノード間の Pod 通信"),
        Words(
            "In tunnel mode pods talk across nodes through VXLAN or Geneve, which needs no routes anywhere: that is why pods "
            "can talk although BGP is down. In native mode every node sits on one L2 segment, so Cilium installs direct "
            "routes to the other nodes' pod CIDRs (autoDirectNodeRoutes) and does not masquerade inside the pod CIDR.",
            "トンネルモードでは Pod はノード間を VXLAN または Geneve で通信し、どこにも経路が要りません。BGP が落ちていても Pod 同士が"
            "通信できるのはこのためです。ネイティブモードでは全ノードが一つの L2 セグメントにいるので、Cilium はほかのノードの Pod CIDR への"
            "直接経路を入れ（autoDirectNodeRoutes）、Pod CIDR 内ではマスカレードしません。",
        ),
        ("cilium.routingMode", "cilium.tunnelProtocol", "kubernetes.podCIDR"),
        (f"{CILIUM_DOCS}/network/concepts/routing/",),
        ("routingMode", "tunnelProtocol", "autoDirectNodeRoutes", "ipv4NativeRoutingCIDR", "overlay"),
    ),
    Topic(
        "cilium-ipam",
        Words("How pods get addresses", "Pod のアドレスの決まり方"),
        Words(
            "With ipam mode `kubernetes` the controller-manager hands every node a podCIDR from kubeadm's podSubnet; "
            "`cluster-pool` lets the Cilium operator do it from the same range. Only these two can advertise per-node "
            "pod CIDRs over BGP.",
            "ipam モード `kubernetes` では controller-manager が kubeadm の podSubnet から各ノードに podCIDR を割り当てます。"
            "`cluster-pool` では同じ範囲から Cilium オペレーターが割り当てます。ノードごとの Pod CIDR を BGP で広告できるのはこの二つだけです。",
        ),
        ("cilium.ipam", "kubernetes.podCIDR"),
        (f"{CILIUM_DOCS}/network/concepts/ipam/",),
        ("ipam:", "clusterPoolIPv4PodCIDRList", "autoCreateCiliumPodIPPools", "podSubnet", "PodCIDR"),
    ),
    Topic(
        "cilium-bootstrap",
        Words("Why Cilium is installed by hand before GitOps", "GitOps の前に Cilium を手で入れる理由"),
        Words(
            "No pod, not even Flux or Argo CD, starts without a CNI. So Cilium is installed once with plain Helm, using "
            "exactly the chart, version, release name, namespace and values file that the GitOps release then takes over. "
            "The bootstrap sets only what one tainted node can hold on top (one operator replica, no Hubble Relay); "
            "the GitOps release's first sync raises them.",
            "CNI がないと Flux や Argo CD を含めどの Pod も起動しません。そこで Cilium は一度だけ素の Helm で入れます。チャート、バージョン、"
            "リリース名、名前空間、values ファイルは、後で GitOps のリリースが引き継ぐものとまったく同じです。ブートストラップは"
            "テイントのあるノード 1 台が受け入れられる分だけを上書きし（オペレーター 1 レプリカ、Hubble Relay なし）、"
            "GitOps の最初の同期でそれを引き上げます。",
        ),
        ("cilium.version", "gitops.engine"),
        (f"{CILIUM_DOCS}/installation/k8s-install-helm/", "https://fluxcd.io/flux/components/helm/helmreleases/"),
        ("helm upgrade --install", "--set ", "rollout status", "releaseName", "valuesFrom", "valueFiles"),
    ),
    Topic(
        "systemd-cgroup",
        Words("Why containerd uses the systemd cgroup driver", "containerd が systemd cgroup ドライバーを使う理由"),
        Words(
            "The kubelet and the container runtime must use the same cgroup driver. kubeadm configures the kubelet with "
            "`systemd` (its default since 1.22, stated in the KubeletConfiguration), and Ubuntu 22.04 runs cgroup v2 under "
            "systemd, so containerd's runc runtime gets `SystemdCgroup = true`.",
            "kubelet とコンテナランタイムは同じ cgroup ドライバーを使う必要があります。kubeadm は kubelet を `systemd` で設定し"
            "（1.22 以降の既定。KubeletConfiguration に明記）、Ubuntu 22.04 は systemd のもとで cgroup v2 を使うので、"
            "containerd の runc ランタイムには `SystemdCgroup = true` を設定します。",
        ),
        ("kubernetes.version",),
        (f"{K8S_DOCS}/setup/production-environment/container-runtimes/#systemd-cgroup-driver",),
        ("SystemdCgroup", "cgroupDriver", "KubeletConfiguration", "runtime_type"),
    ),
    Topic(
        "containerd",
        Words("Which containerd the nodes run", "ノードで動く containerd"),
        Words(
            "containerd comes pinned from Docker's apt repository (`containerd.io`), because Ubuntu 22.04's own package "
            "has no fixed patch and Kubernetes 1.34/1.35 want containerd 1.7.28 or newer; Kubernetes 1.36 and later need "
            "containerd 2.x, which reads another config format. The sandbox (pause) image is pinned to the one kubeadm "
            "expects for the minor, or the node pulls two and kubeadm's preflight warns.",
            "containerd は Docker の apt リポジトリの `containerd.io` を固定バージョンで入れます。Ubuntu 22.04 自身のパッケージは"
            "パッチが固定されず、Kubernetes 1.34/1.35 は containerd 1.7.28 以上を求め、1.36 以降は設定形式の違う containerd 2.x が必要だからです。"
            "sandbox（pause）イメージはそのマイナーで kubeadm が期待するものに固定します。そうしないとノードが二つ取得し、"
            "kubeadm の事前チェックが警告します。",
        ),
        ("kubernetes.version",),
        ("https://github.com/containerd/containerd/blob/main/RELEASES.md", "https://docs.docker.com/engine/install/ubuntu/"),
        ("containerd.io", "download.docker.com", "docker.gpg", "sandbox", "pause", "version = ", "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"),
    ),
    Topic(
        "kubernetes-packages",
        Words("Where kubelet, kubeadm and kubectl come from", "kubelet・kubeadm・kubectl の入手元"),
        Words(
            "From pkgs.k8s.io's repository for the cluster's minor (one repository per minor), at the exact version, then "
            "held with `apt-mark hold` so that an unattended upgrade never moves them: kubeadm upgrades the cluster in "
            "its own order (the upgrade runbook).",
            "クラスターのマイナーバージョン用の pkgs.k8s.io リポジトリ（マイナーごとに一つ）から正確なバージョンで入れ、`apt-mark hold` で固定します。"
            "自動更新で動かないようにするためです。アップグレードは kubeadm が決まった順序で行います（アップグレードの手順書）。",
        ),
        ("kubernetes.version",),
        (f"{K8S_DOCS}/setup/production-environment/tools/kubeadm/install-kubeadm/",),
        ("pkgs.k8s.io", "kubernetes-apt-keyring", "apt-mark", "- kubelet", "- kubeadm", "- kubectl", "Release.key"),
    ),
    Topic(
        "node-prep",
        Words("Kernel modules, sysctls and swap", "カーネルモジュール・sysctl・スワップ"),
        Words(
            "kubeadm's prerequisites on Ubuntu 22.04: swap off (and commented out of fstab so it stays off), the overlay and "
            "br_netfilter modules, IP forwarding and bridged traffic through iptables. The inotify limits are raised because "
            "Ubuntu's 128 instances run out with many pods tailing logs or watching files.",
            "Ubuntu 22.04 での kubeadm の前提条件です。スワップを止め（再起動後も止まるよう fstab でコメントアウト）、overlay と br_netfilter の"
            "モジュール、IP 転送、ブリッジ通信の iptables 経由を有効にします。多くの Pod がログを追ったりファイルを監視したりすると"
            "Ubuntu の既定 128 インスタンスでは足りないので、inotify の上限を上げます。",
        ),
        (),
        (f"{K8S_DOCS}/setup/production-environment/container-runtimes/#install-and-configure-prerequisites",),
        ("swapoff", "swap", "br_netfilter", "overlay", "ip_forward", "bridge-nf-call", "inotify", "modprobe", "sysctl"),
    ),
    Topic(
        "networkd-foreign-routes",
        Words("Why systemd-networkd leaves foreign routes alone", "systemd-networkd が外部の経路を管理しない理由"),
        Words(
            "Otherwise systemd-networkd deletes the routes and rules Cilium installs whenever it reconfigures a link, "
            "which Cilium's system requirements call out for Ubuntu 22.04.",
            "そうしないと systemd-networkd はリンクを再設定するたびに Cilium が入れた経路とルールを消してしまいます。"
            "Cilium のシステム要件が Ubuntu 22.04 について指摘している点です。",
        ),
        (),
        (f"{CILIUM_DOCS}/operations/system_requirements/#systemd-based-distributions",),
        ("ManageForeignRoutes", "networkd"),
    ),
    Topic(
        "kernel-check",
        Words("The kernel check", "カーネルの確認"),
        Words(
            "Cilium needs certain kernel options (BPF, the tunnel protocol, WireGuard when enabled). The seed's last "
            "command checks the running kernel's config and marks cloud-init's run as failed if one is missing, so a "
            "wrong image shows up before kubeadm runs.",
            "Cilium には特定のカーネルオプション（BPF、トンネルプロトコル、有効なら WireGuard）が必要です。シードの最後のコマンドが"
            "実行中のカーネルの設定を確認し、足りなければ cloud-init の実行を失敗にするので、kubeadm の前に誤ったイメージが分かります。",
        ),
        ("cilium.routingMode", "cilium.tunnelProtocol", "cilium.encryption"),
        (f"{CILIUM_DOCS}/operations/system_requirements/#linux-kernel",),
        ("kernel-check", "CONFIG_", "kernel option"),
    ),
    Topic(
        "firewall",
        Words("Why these firewall ports", "このファイアウォールのポートの理由"),
        Words(
            "Incoming traffic is denied except what each role needs: Kubernetes' ports (API 6443, etcd 2379-2380 between "
            "control planes, kubelet 10250, controller-manager 10257, scheduler 10259, NodePorts on the nodes that run "
            "workloads) and Cilium's (health 4240, the VXLAN 8472 or Geneve 6081 overlay, Hubble 4244, WireGuard 51871), "
            "from the node subnet and the pod CIDR. SSH and the API accept only the node subnet and the allowedSources. "
            "BGP needs no inbound rule (the agents dial out), metrics ports stay closed, and VRRP (IP protocol 112) is "
            "allowed from the other load balancers in ufw's before.rules because ufw's own syntax cannot express it.",
            "受信は各役割に必要なものを除いて拒否します。Kubernetes のポート（API 6443、コントロールプレーン間の etcd 2379-2380、kubelet 10250、"
            "controller-manager 10257、scheduler 10259、ワークロードを動かすノードの NodePort）と Cilium のポート（ヘルス 4240、VXLAN 8472 "
            "または Geneve 6081 のオーバーレイ、Hubble 4244、WireGuard 51871）を、ノードのサブネットと Pod CIDR から許可します。"
            "SSH と API はノードのサブネットと allowedSources からだけ受け付けます。BGP は受信ルール不要（エージェントから接続）、"
            "メトリクスのポートは閉じたまま、VRRP（IP プロトコル 112）は ufw の構文で書けないため ufw の before.rules でほかの"
            "ロードバランサーから許可します。",
        ),
        ("network.subnet", "kubernetes.podCIDR", "ssh.allowedSources", "apiServer.allowedSources", "cilium.routingMode", "cilium.hubble", "cilium.encryption"),
        (f"{K8S_DOCS}/reference/networking/ports-and-protocols/", f"{CILIUM_DOCS}/operations/system_requirements/#firewall-rules"),
        ("ufw", "before.rules", "ufw-before-input", "clusterforge-firewall"),
    ),
    Topic(
        "kubeadm-config",
        Words("What the kubeadm configs say", "kubeadm の設定の内容"),
        Words(
            "kubeadm.k8s.io/v1beta4: the first control plane runs `kubeadm init`, every other node `kubeadm join`, all "
            "through controlPlaneEndpoint = the VIP. Each node registers with its own IP (`node-ip`, or the kubelet picks "
            "the default route's interface), the API certificate carries the VIP, its DNS name and every control plane, "
            "and without workers the control planes keep no NoSchedule taint. The committed files hold no secret: the "
            "token, the certificate key and the CA hash are added only when a node's seed is built.",
            "kubeadm.k8s.io/v1beta4 を使います。最初のコントロールプレーンは `kubeadm init`、ほかのノードはすべて `kubeadm join` で、"
            "いずれも controlPlaneEndpoint = VIP を経由します。各ノードは自分の IP で登録し（`node-ip`。ないと kubelet はデフォルト経路の"
            "インターフェースを選びます）、API 証明書には VIP とその DNS 名と全コントロールプレーンが入り、ワーカーがなければ"
            "コントロールプレーンに NoSchedule テイントを付けません。コミットするファイルにシークレットはなく、トークン・証明書の鍵・"
            "CA ハッシュはノードのシードを作るときにだけ加えます。",
        ),
        ("kubernetes.version", "apiServer.vip", "apiServer.port", "apiServer.dnsName", "apiServer.extraCertSANs", "nodes[].ip", "nodes[].name"),
        (f"{K8S_DOCS}/reference/config-api/kubeadm-config.v1beta4/", f"{K8S_DOCS}/setup/production-environment/tools/kubeadm/high-availability/"),
        ("controlPlaneEndpoint", "node-ip", "certSANs", "taints", "InitConfiguration", "JoinConfiguration", "ClusterConfiguration", "apiServerEndpoint", "localAPIEndpoint", "criSocket", "kubernetesVersion", "networking:", "serviceSubnet", "dnsDomain"),
    ),
    Topic(
        "join-secrets",
        Words("Join tokens, the certificate key and the CA", "参加用トークン・証明書の鍵・CA"),
        Words(
            "render makes the cluster's CAs into the secrets file; the first control plane's seed installs them before "
            "`kubeadm init`, so every join seed already carries the CA certificate hash. The bootstrap token lasts 24 hours. "
            "`kubeadm init --upload-certs` hands the control-plane certificates to the other control planes, encrypted "
            "with the certificate key, through a Secret that kubeadm deletes after 2 hours: join the other control planes "
            "within that time or upload them again.",
            "render はクラスターの CA をシークレットファイルに作り、最初のコントロールプレーンのシードが `kubeadm init` の前にそれを置くので、"
            "参加用のシードはすべて CA 証明書のハッシュを持っています。ブートストラップトークンの有効期間は 24 時間です。"
            "`kubeadm init --upload-certs` はコントロールプレーンの証明書を証明書の鍵で暗号化して Secret でほかのコントロールプレーンに渡し、"
            "kubeadm はその Secret を 2 時間後に削除します。その間にほかのコントロールプレーンを参加させるか、再アップロードしてください。",
        ),
        ("nodes[] (role control-plane)",),
        (f"{K8S_DOCS}/reference/setup-tools/kubeadm/kubeadm-join/", f"{K8S_DOCS}/reference/setup-tools/kubeadm/kubeadm-init-phase/#cmd-phase-upload-certs"),
        ("bootstrapToken", "discovery", "upload-certs"),
    ),
    Topic(
        "bootstrap-auto",
        Words("How the nodes bootstrap themselves", "ノードが自分で構築する仕組み"),
        Words(
            "With bootstrap.mode auto a oneshot systemd unit, started at the end of cloud-init, runs `kubeadm init` (and "
            "the Cilium install) on the first control plane, and on every other node waits until the API answers on the "
            "VIP, then joins, retrying a failed join a few times. It runs outside cloud-init so that `cloud-init status "
            "--wait` does not hang on the joins, logs every step, and stops after bounded waits, because the token "
            "(24 h) and the uploaded certificates (2 h) expire.",
            "bootstrap.mode が auto のとき、cloud-init の最後に起動する oneshot の systemd ユニットが、最初のコントロールプレーンでは "
            "`kubeadm init`（と Cilium のインストール）を実行し、ほかのノードでは VIP の API が応答するまで待ってから参加し、失敗した参加は"
            "数回やり直します。`cloud-init status --wait` が参加待ちで止まらないよう cloud-init の外で動き、各手順をログに書き、"
            "トークン（24 時間）とアップロードした証明書（2 時間）が期限切れになるので、待ち時間には上限があります。",
        ),
        ("bootstrap.mode",),
        (f"{K8S_DOCS}/reference/setup-tools/kubeadm/kubeadm-join/",),
        ("clusterforge-bootstrap", "bootstrap-done", "kubeadm join", "kubeadm init"),
        requires="auto",
    ),
    Topic(
        "cloud-init-seed",
        Words("The NoCloud seeds", "NoCloud シード"),
        Words(
            "Each VM boots an Ubuntu 22.04 cloud image with a NoCloud seed (user-data, meta-data, network-config): a static "
            "address, the hostname, the SSH user with keys only (no login by password, no root), the packages and files of its "
            "role. cloud-init applies a seed at first boot only; the instance-id changes whenever the seed does, so a "
            "rebuilt seed is applied again. The repository's seeds hold no secret: `clusterforge seed` adds them.",
            "各 VM は Ubuntu 22.04 のクラウドイメージを NoCloud シード（user-data、meta-data、network-config）付きで起動します。"
            "静的アドレス、ホスト名、鍵だけでログインする SSH ユーザー（パスワードログインなし、root なし）、役割ごとのパッケージとファイルです。"
            "cloud-init がシードを適用するのは初回起動時だけで、シードが変わると instance-id も変わるので、作り直したシードは再び適用されます。"
            "リポジトリのシードにシークレットはなく、`clusterforge seed` が加えます。",
        ),
        ("nodes[]", "network", "ssh"),
        ("https://docs.cloud-init.io/en/latest/reference/datasources/nocloud.html",),
        ("instance-id", "local-hostname", "ssh_pwauth", "ssh_authorized_keys", "lock_passwd", "disable_root", "hostname", "fqdn", "nameservers", "addresses:", "routes:", "dhcp4", "macaddress", "set-name", "#cloud-config", "package_update", "write_files", "runcmd", "bootcmd"),
    ),
    Topic(
        "etcd-snapshot",
        Words("The etcd snapshots on the control planes", "コントロールプレーンの etcd スナップショット"),
        Words(
            "A systemd timer on every control plane saves an etcd snapshot every day with etcdctl from the running etcd "
            "container, into /var/backups/etcd, keeping the newest few. A snapshot is what the restore runbook needs when "
            "etcd's data is lost; copy them off the node as well, since a lost VM loses its snapshots too.",
            "各コントロールプレーンの systemd タイマーが、動いている etcd コンテナの etcdctl で毎日 etcd のスナップショットを /var/backups/etcd に保存し、"
            "新しいものをいくつか残します。etcd のデータを失ったとき復元の手順書が使うのがこのスナップショットです。VM を失えば"
            "スナップショットも失うので、ノードの外にもコピーしてください。",
        ),
        ("nodes[] (role control-plane)",),
        (f"{K8S_DOCS}/tasks/administer-cluster/configure-upgrade-etcd/#backing-up-an-etcd-cluster",),
        ("etcd-snapshot", "/var/backups/etcd", "OnCalendar"),
    ),
    Topic(
        "gitops-order",
        Words("In what order GitOps applies the repository", "GitOps が適用する順序"),
        Words(
            "Cilium (the controller) is reconciled before the objects that use its CRDs (the BGP and LoadBalancer IP "
            "configs). Flux orders them with `dependsOn` and `wait: true`; Argo CD with sync waves, which only wait for the "
            "previous wave's health when argocd-cm carries the health check of child Applications (Argo CD removed the "
            "built-in one). Argo CD renders the chart itself and never reads Helm's release records.",
            "Cilium（コントローラー）を、その CRD を使うオブジェクト（BGP と LoadBalancer IP の設定）より先に同期します。Flux は "
            "`dependsOn` と `wait: true` で順序を付け、Argo CD は同期ウェーブで付けます。ウェーブが前のウェーブの健全性を待つのは、"
            "argocd-cm に子 Application のヘルスチェックがあるときだけです（Argo CD は組み込みのものを削除しました）。"
            "Argo CD はチャートを自分でレンダリングし、Helm のリリース記録を読みません。",
        ),
        ("gitops.engine", "gitops.repository", "gitops.branch"),
        ("https://fluxcd.io/flux/components/kustomize/kustomizations/#dependencies", "https://argo-cd.readthedocs.io/en/stable/operator-manual/health/#argocd-app"),
        ("dependsOn", "wait: true", "sync-wave", "resource.customizations", "syncPolicy", "sourceRef", "repoURL", "targetRevision", "kustomization", "Kustomization", "HelmRepository", "HelmRelease", "AppProject", "Application"),
    ),
    Topic(
        "hubble",
        Words("Hubble and its certificates", "Hubble とその証明書"),
        Words(
            "Hubble shows the flows of each node; Relay collects them cluster-wide. Its TLS certificates are made by the "
            "chart: Helm and Flux reuse the live ones, but Argo CD renders the chart anew each time, so its Application "
            "ignores changes to those Secrets instead of replacing them on every sync.",
            "Hubble は各ノードの通信フローを示し、Relay がクラスター全体から集めます。その TLS 証明書はチャートが作ります。Helm と Flux は"
            "既存のものを使い続けますが、Argo CD は毎回チャートを新たにレンダリングするので、Application はそれらの Secret の変更を無視し、"
            "同期のたびに置き換えないようにしています。",
        ),
        ("cilium.hubble", "cilium.hubbleRelay"),
        (f"{CILIUM_DOCS}/observability/hubble/",),
        ("hubble", "ignoreDifferences"),
        requires="hubble",
    ),
    Topic(
        "repository-files",
        Words("The repository's own files", "リポジトリ自身のファイル"),
        Words(
            "cluster.yaml is the only file to edit; its first line gives editors the JSON Schema. .gitignore keeps the "
            "secrets file, the seeds and ISO images out of git. `.clusterforge/lock` records which files clusterforge "
            "wrote (and their hashes), so a hand edit is refused instead of overwritten; "
            "`.clusterforge/inventory.json` is the inventory the files were rendered from, which `clusterforge plan` "
            "compares with the edited cluster.yaml to write the runbooks of a change.",
            "編集するのは cluster.yaml だけで、その 1 行目がエディターに JSON Schema を教えます。.gitignore はシークレットファイル、"
            "シード、ISO イメージを git から外します。`.clusterforge/lock` は clusterforge が書いたファイル（とそのハッシュ）を記録し、"
            "手で編集されたファイルを上書きせずに拒否できるようにします。`.clusterforge/inventory.json` はファイルを生成したときの"
            "インベントリで、`clusterforge plan` は編集後の cluster.yaml と比べて変更の手順書を書きます。",
        ),
        (),
        ("https://github.com/redhat-developer/yaml-language-server#using-inlined-schema",),
        ("yaml-language-server", "$schema", ".clusterforge"),
    ),
)

BY_ID: dict[str, Topic] = {topic.id: topic for topic in TOPICS}
