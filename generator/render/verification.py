"""How to verify each bootstrap step: the command, an excerpt of what it prints
when the step worked (in the tool's own format), what to look for in it, and the
troubleshooting entry to read when it differs. The README renders these after
each step, in both languages from the same data.

Where a tool runs here the tests hold the excerpts against it (haproxy -c,
kubeadm, cloud-init, the strings compiled into keepalived, FRR and BIRD, and
kubectl's node and Service tables against the rehearsal's API server); the cilium
CLI and the routers' own outputs follow their upstream documentation (named next
to each).
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Network
from shlex import quote

from ..explain import troubles
from ..explain.catalog import Language, Words
from ..model import BgpPeer, Inventory, Node
from . import bootstrap, cilium, gitops, layout, loadbalancer, routers

# kubectl's relative AGE column and cilium's Uptime vary; the excerpts use one sample value.
SAMPLE_AGE = "5m"
SAMPLE_UPTIME = "4m12s"


@dataclass(frozen=True)
class Check:
    commands: list[str]
    expected: list[str]
    look_for: Words
    trouble: str | None = None  # troubleshooting id (explain/troubles.py) to read when it differs
    where: Words | None = None  # whose machine the commands run on, when not the operator's


LABELS = {
    "check": Words("Check:", "確認:"),
    "expected": Words("Expected output (excerpt):", "期待される出力（抜粋）:"),
    "if_not": Words("If it differs: [{title}]({link}).", "異なる場合: [{title}]({link})。"),
}


def code(lines: list[str], language: str) -> list[str]:
    return [f"```{language}", *lines, "```", ""]


def expected_lines(inv: Inventory, language: Language, lines: list[str], look_for: str, trouble: str | None, docs_prefix: str = "") -> list[str]:
    """An expected-output excerpt, what to look for in it, and the troubleshooting entry to read
    when it differs; `docs_prefix` is the way from a page under docs/ to docs/ ("../")."""
    out = [LABELS["expected"](language), "", *code(lines, "text")] if lines else []
    entry = troubles.BY_ID.get(trouble) if trouble else None
    if entry is not None and entry.applies(inv):
        page = layout.localized(layout.TROUBLESHOOTING, language)
        link = (docs_prefix + page.removeprefix(f"{layout.DOCS_DIR}/") if docs_prefix else page) + f"#{entry.id}"
        space = "" if language == "ja" else " "  # Japanese sentences follow each other without one
        look_for = f"{look_for}{space}{LABELS['if_not'](language).format(title=entry.title(language), link=link)}"
    return [*out, look_for, ""]


def render(checks: list[Check], inv: Inventory, language: Language, docs_prefix: str = "") -> list[str]:
    """The checks as Markdown: where, the commands, the excerpt, what to look for."""
    lines: list[str] = []
    for check in checks:
        if check.commands:  # none: the excerpt is of the commands just before
            where = check.where(language) if check.where else LABELS["check"](language)
            lines += [where, "", *code(check.commands, "sh")]
        lines += expected_lines(inv, language, check.expected, check.look_for(language), check.trouble, docs_prefix)
    return lines


def _names(nodes: list[Node]) -> str:
    return ", ".join(n.name for n in nodes)


# --- step 1: the first VMs ----------------------------------------------------------


def vms(inv: Inventory) -> list[Check]:
    first = inv.control_planes[0]
    checks = [
        Check(
            ["cloud-init status --wait"],
            ["status: done"],
            Words(
                "`status: done` once the seed is applied (dots are printed while it waits). `status: error` means a step "
                "failed: `sudo cloud-init status --long` names it and `/var/log/cloud-init-output.log` has its output; "
                "on a Kubernetes node the last step is the kernel check, which names every kernel option Cilium lacks.",
                "シードの適用が終わると `status: done`（待っている間は点が表示されます）。`status: error` はどこかの手順が失敗したことを示します。"
                "`sudo cloud-init status --long` がその手順を示し、`/var/log/cloud-init-output.log` に出力があります。Kubernetes ノードでは"
                "最後の手順がカーネルの確認で、Cilium に足りないカーネルオプションをすべて示します。",
            ),
            where=Words("On {nodes}, once each has booted:", "{nodes} の起動後、それぞれで:").format(nodes=_names([*inv.loadbalancers, first])),
        )
    ]
    if inv.loadbalancers:
        checks.append(
            Check(
                [f"sudo haproxy -c -f {loadbalancer.INSTALL_PATHS[loadbalancer.HAPROXY_CFG]}", "systemctl is-active haproxy keepalived"],
                ["Configuration file is valid", "active", "active"],
                Words(
                    "`Configuration file is valid`, and both services `active`.",
                    "`Configuration file is valid` と、両サービスが `active`。",
                ),
                "vip-down",
                Words("On {nodes}:", "{nodes} で:").format(nodes=_names(inv.loadbalancers)),
            )
        )
    return checks


# --- step 2: the VIP ---------------------------------------------------------------


def vip_holder_lines(inv: Inventory, lb: Node, holds: bool) -> list[str]:
    """`ip -brief address show dev IFACE` on a load balancer, as iproute2 prints it (IPv6 link-local omitted)."""
    addresses = [f"{lb.ip}/{inv.network.subnet.prefixlen}"]
    if holds:
        addresses.append(f"{inv.api_server.vip}/{inv.network.subnet.prefixlen}")
    return [f"{inv.network.interface:<16} UP             {' '.join(addresses)} ..."]


def vip(inv: Inventory) -> list[Check]:
    vip_address, port = inv.api_server.vip, inv.api_server.port
    # Without load balancers of ours, whatever serves the endpoint is the operator's own: say nothing of HAProxy.
    haproxy, haproxy_ja = (
        ("HAProxy accepts connections on the VIP even before any API server runs. ", "API サーバーがまだなくても HAProxy は VIP で接続を受け付けます。")
        if inv.loadbalancers
        else ("", "")
    )
    connect = Check(
        [f"ping -c 3 {quote(str(vip_address))}", f"nc -vz {quote(str(vip_address))} {port}"],
        ["3 packets transmitted, 3 received, 0% packet loss, time 2003ms", f"Connection to {vip_address} {port} port [tcp/*] succeeded!"],
        Words(
            f"No packet loss, and `succeeded`: {haproxy}A timeout from a machine outside the allowed networks is the host firewall.",
            f"パケットロスがなく `succeeded` であること。{haproxy_ja}許可されたネットワークの外のマシンからのタイムアウトはホストのファイアウォールによるものです。",
        ),
        "vip-down",
    )
    if not inv.loadbalancers:
        return [connect]
    first, *others = inv.loadbalancers
    lines = [f"# {first.name}", *vip_holder_lines(inv, first, True)]
    for lb in others:
        lines += [f"# {lb.name}", *vip_holder_lines(inv, lb, False)]
    holder = Check(
        [f"ip -brief address show dev {quote(inv.network.interface)}", "sudo journalctl -u keepalived | grep -E 'Entering (MASTER|BACKUP) STATE' | tail -n 1"],
        [*lines, f"# keepalived on {first.name}:", f"... Keepalived_vrrp[...]: ({loadbalancer.VRRP_INSTANCE}) Entering MASTER STATE"],
        Words(
            "The VIP {vip} on exactly one load balancer ({first} while it is healthy: it has the highest priority), and that "
            "one's keepalived last entered MASTER, the others BACKUP. The VIP on two of them means they do not hear each "
            "other's VRRP.",
            "VIP {vip} がちょうど 1 台のロードバランサーにあり（健全なら優先度の最も高い {first}）、その keepalived が最後に MASTER に、"
            "ほかは BACKUP になっていること。2 台に VIP があるなら、互いの VRRP が届いていません。",
        ).format(vip=vip_address, first=first.name),
        "vip-down",
        Words("On {nodes}:", "{nodes} で:").format(nodes=_names(inv.loadbalancers)),
    )
    return [connect, holder]


# --- steps 3-5: kubeadm and Cilium ---------------------------------------------------------


def kubectl_table(rows: list[list[str]]) -> list[str]:
    """Rows laid out as kubectl prints them (cli-runtime's text/tabwriter: each column as wide
    as its widest cell plus 3 spaces, at least 6; the last column unpadded)."""
    widths = [max(6, max(len(row[i]) for row in rows) + 3) for i in range(len(rows[0]) - 1)]
    return ["".join(cell.ljust(width) for cell, width in zip(row, widths)) + row[-1] for row in rows]


def nodes_table(inv: Inventory, nodes: list[Node], ready: bool, wide: bool = False) -> list[str]:
    """`kubectl get nodes` (`-o wide`: up to INTERNAL-IP, the rest as `...`)."""
    header = ["NAME", "STATUS", "ROLES", "AGE", "VERSION", *(["INTERNAL-IP", "..."] if wide else [])]
    rows = [
        [n.name, "Ready" if ready else "NotReady", "control-plane" if n.role == "control-plane" else "<none>", SAMPLE_AGE,
         f"v{inv.kubernetes.version}", *([str(n.ip), "..."] if wide else [])]
        for n in nodes
    ]
    return kubectl_table([header, *rows])


def init(inv: Inventory) -> list[Check]:
    first = inv.control_planes[0]
    return [
        Check(
            ["kubeadm version -o short", f"curl -k {quote(f'https://{inv.api_endpoint}/healthz')}", "kubectl get nodes"],
            [f"v{inv.kubernetes.version}", "ok", *nodes_table(inv, [first], ready=False)],
            Words(
                "`kubeadm init` ends with `Your Kubernetes control-plane has initialized successfully!`; then the API answers "
                "`ok` through the VIP and {node} is listed. `NotReady` is right at this point: there is no CNI until the next step.",
                "`kubeadm init` は `Your Kubernetes control-plane has initialized successfully!` で終わります。その後 API は VIP 経由で "
                "`ok` を返し、{node} が表示されます。この時点では `NotReady` が正常です。CNI は次の手順で入ります。",
            ).format(node=first.name),
            "vip-down",
        )
    ]


def cilium_install(inv: Inventory) -> list[Check]:
    first = inv.control_planes[0]
    status = f"kubectl --namespace {cilium.NAMESPACE} exec daemonset/{cilium.AGENT_DAEMONSET} -c cilium-agent -- cilium-dbg status --brief"
    return [
        Check(
            ["kubectl get nodes", status],
            [*nodes_table(inv, [first], ready=True), "OK"],
            Words(
                "The script ends with `Cilium {version} is running.`; {node} turns `Ready` within a minute and the agent reports `OK`.",
                "スクリプトは `Cilium {version} is running.` で終わります。{node} は 1 分ほどで `Ready` になり、エージェントは `OK` を返します。",
            ).format(version=inv.cilium.version, node=first.name),
            "node-not-ready",
        )
    ]


def joined(inv: Inventory) -> list[Check]:
    nodes = inv.kubernetes_nodes
    return [
        Check(
            ["kubectl get nodes -o wide"],
            nodes_table(inv, nodes, ready=True, wide=True),
            Words(
                "Each `kubeadm join` ends with `This node has joined the cluster` (a control plane: `... and a new control plane "
                "instance was created`). Then all {count} nodes are listed `Ready`, each with its own address as INTERNAL-IP and "
                "v{version}. A node that stays `NotReady` has no running Cilium agent.",
                "各 `kubeadm join` は `This node has joined the cluster` で終わります（コントロールプレーンは `... and a new control plane "
                "instance was created`）。その後 {count} 台すべてが `Ready` で、INTERNAL-IP にそれぞれのアドレス、v{version} と表示されます。"
                "`NotReady` のままのノードでは Cilium エージェントが動いていません。",
            ).format(count=len(nodes), version=inv.kubernetes.version),
            "join-fails",
        )
    ]


def auto(inv: Inventory) -> list[Check]:
    first = inv.control_planes[0]
    return [
        Check(
            [f"sudo tail -n 1 {bootstrap.LOG_FILE}"],
            ["2026-01-01T10:06:40+00:00 done"],
            Words(
                "Each node's log ends with `done` (its date and time first). `FAILED:` names the step that failed; the lines "
                "before it have the tool's own message. {node} logs `kubeadm init` and the Cilium install, the others their "
                "wait for the API and each `kubeadm join` attempt.",
                "各ノードのログは `done`（先頭に日時）で終わります。`FAILED:` は失敗した手順を示し、その前の行にツール自身のメッセージがあります。"
                "{node} は `kubeadm init` と Cilium のインストールを、ほかのノードは API を待つ様子と各 `kubeadm join` の試行を記録します。",
            ).format(node=first.name),
            "join-fails",
            Words("On each node:", "各ノードで:"),
        ),
        *joined(inv),
    ]


# --- step 6: GitOps -----------------------------------------------------------------


def gitops_synced(inv: Inventory) -> list[Check]:
    branch = inv.gitops.branch
    if inv.gitops.engine == "flux":
        names = ["flux-system", gitops.CONTROLLERS, gitops.CONFIGS]
        rows = [f"{name:<18} {branch}@sha1:...  False      True   Applied revision: {branch}@sha1:..." for name in names]
        return [
            Check(
                ["flux get kustomizations"],
                [f"{'NAME':<18} {'REVISION':<{len(branch) + 9}}  SUSPENDED  READY  MESSAGE", *rows],
                Words(
                    "READY `True` on all three, `{configs}` last: it waits for `{controllers}` (Cilium) because its objects need "
                    "Cilium's CRDs. `False` with `dependency ... is not ready` is the wait; any other message is the reason.",
                    "3 つすべてが READY `True` で、`{configs}` は最後です。そのオブジェクトには Cilium の CRD が必要なので、`{controllers}`"
                    "（Cilium）を待ちます。`dependency ... is not ready` の `False` は待っている状態で、それ以外のメッセージが原因を示します。",
                ).format(configs=gitops.CONFIGS, controllers=gitops.CONTROLLERS),
            )
        ]
    names = ["cilium", "cilium-config", "root"]
    return [
        Check(
            [f"kubectl --namespace {gitops.ARGOCD_NAMESPACE} get applications"],
            [f"{'NAME':<14} SYNC STATUS   HEALTH STATUS", *(f"{name:<14} Synced        Healthy" for name in names)],
            Words(
                "`Synced` and `Healthy` for every Application. `cilium-config` stays `OutOfSync` until `cilium` is Healthy: "
                "that is the sync waves working.",
                "すべての Application が `Synced` かつ `Healthy`。`cilium-config` は `cilium` が Healthy になるまで `OutOfSync` です。"
                "同期ウェーブが働いている状態です。",
            ),
        )
    ]


# --- step 7: routers ----------------------------------------------------------------------


def router_file_checked(inv: Inventory) -> list[Check]:
    checks = []
    kinds = {p.router for p in inv.bgp.peers} if inv.bgp else set()
    if "frr" in kinds:
        checks.append(
            Check(
                [f"sudo vtysh --dryrun -f {routers.FRR_CONF} && echo parsed"],
                ["parsed"],
                Words("No message before `parsed`; an error names the line (`line N: % Unknown command`).", "`parsed` の前に何も出ないこと。エラーなら行番号が示されます（`line N: % Unknown command`）。"),
                where=Words("On the FRR routers:", "FRR のルーターで:"),
            )
        )
    if "bird" in kinds:
        checks.append(
            Check(
                [f"sudo bird -p -c {routers.BIRD_CONF} && echo parsed"],
                ["parsed"],
                Words("No message before `parsed`; an error names the file, line and column.", "`parsed` の前に何も出ないこと。エラーならファイル・行・桁が示されます。"),
                where=Words("On the BIRD routers:", "BIRD のルーターで:"),
            )
        )
    return checks


# --- step 8: BGP and a LoadBalancer Service ------------------------------------------------


def router_expected(inv: Inventory, peer: BgpPeer) -> tuple[list[str], Words]:
    """What the peer's router prints for its session check (router_checks' first command) with
    every session up, before any LoadBalancer Service exists."""
    assert inv.bgp is not None
    nodes = inv.kubernetes_nodes
    router = peer.router
    received = 1 if inv.bgp.advertise.pod_cidrs else 0  # each node's own podCIDR
    if router == "frr":
        header = f"{'Neighbor':<15} V         AS   MsgRcvd   MsgSent   TblVer  InQ OutQ  Up/Down State/PfxRcd   PfxSnt Desc"
        rows = [frr_neighbor_line(str(n.ip), inv.bgp.local_asn, 15, 12, "00:04:12", str(received)) for n in nodes]
        return (
            ["IPv4 Unicast Summary (VRF default):", f"BGP router identifier {peer.address}, local AS number {peer.asn} vrf-id 0", "...", header, *rows],
            Words(
                "One line per node; a number (not `Active`, `Idle` or `(Policy)`) under State/PfxRcd, and PfxSnt `0`: the "
                "router sends the cluster nothing. (FRR's `show bgp summary` format.)",
                "ノードごとに 1 行。State/PfxRcd が数字（`Active`、`Idle`、`(Policy)` ではない）で、PfxSnt は `0`。ルーターはクラスターに何も送りません"
                "（FRR の `show bgp summary` の形式）。",
            ),
        )
    if router == "bird":
        rows = [bird_protocol_line(routers.bird_protocol(n.name), "BGP", "---", "up", "10:04:12.000", "Established") for n in nodes]
        return (
            [
                bird_protocol_line("Name", "Proto", "Table", "State", "Since", "Info"),
                bird_protocol_line("device1", "Device", "---", "up", "10:00:00.000", ""),
                bird_protocol_line("kernel1", "Kernel", "master4", "up", "10:00:00.000", ""),
                *rows,
            ],
            Words(
                "`up` and `Established` for every `{template}_*` protocol (BIRD's `show protocols` format); `start` with "
                "`Active` or `Passive` means that node has not connected.",
                "すべての `{template}_*` プロトコルが `up` かつ `Established`（BIRD の `show protocols` の形式）。`start` と `Active` や `Passive` は"
                "そのノードが接続していないことを示します。",
            ).format(template=routers.BIRD_TEMPLATE),
        )
    return (
        [],
        Words(
            "Every node's address ({first} ... {last}) listed as a neighbor in state Established, and in `show ip route` a BGP "
            "route for each LoadBalancer IP in use.",
            "全ノードのアドレス（{first} … {last}）がネイバーとして Established の状態で表示され、`show ip route` に使用中の各 LoadBalancer IP への"
            "BGP 経路があること。",
        ).format(first=nodes[0].ip, last=nodes[-1].ip),
    )


def frr_neighbor_line(address: str, asn: int, received: int, sent: int, up_down: str, state: str) -> str:
    """A neighbor line of FRR 8's `show bgp summary`, padded as bgpd pads it."""
    return f"{address:<15} 4 {asn:>10} {received:>9} {sent:>9} {0:>8} {0:>4} {0:>4} {up_down:>8} {state:>12} {0:>8} N/A"


def bird_protocol_line(name: str, proto: str, table: str, state: str, since: str, info: str) -> str:
    """A line of `birdc show protocols` as BIRD 2 pads it (trailing blanks dropped)."""
    return f"{name:<10} {proto:<10} {table:<10} {state:<6} {since:<12}  {info}".rstrip()


def peers_expected(inv: Inventory) -> list[str]:
    """`cilium bgp peers` with every session up, before any LoadBalancer Service exists
    (docs.cilium.io, BGP Control Plane Operation Guide, "Peers")."""
    assert inv.bgp is not None
    advertised = 1 if inv.bgp.advertise.pod_cidrs else 0  # each node's own podCIDR
    header = f"{'Node':<10} {'Local AS':<10} {'Peer AS':<9} {'Peer Address':<15} {'Session State':<15} {'Uptime':<8} {'Family':<14} Received   Advertised"
    rows = [
        f"{n.name:<10} {inv.bgp.local_asn:<10} {p.asn:<9} {str(p.address):<15} {'established':<15} {SAMPLE_UPTIME:<8} {'ipv4/unicast':<14} {'0':<10} {advertised}"
        for n in inv.kubernetes_nodes
        for p in inv.bgp.peers
    ]
    return [header, *rows]


def peers_look_for(inv: Inventory) -> Words:
    assert inv.bgp is not None
    return Words(
        "`established` in Session State for every node and every peer ({sessions} lines). Do not judge by Advertised: it is "
        "counted even while a session is down. Received is 0 because the routers send the cluster nothing; Advertised grows "
        "by one for every LoadBalancer IP.",
        "すべてのノードとピアの組（{sessions} 行）で Session State が `established` であること。Advertised で判断しないでください。"
        "セッションが落ちていても数えられます。ルーターはクラスターに何も送らないので Received は 0 で、Advertised は LoadBalancer IP ごとに"
        "1 つずつ増えます。",
    ).format(sessions=len(inv.kubernetes_nodes) * len(inv.bgp.peers))


def service_expected(services: list[tuple[str, IPv4Network]]) -> tuple[list[str], Words]:
    """`kubectl get services NAME...` once each test Service has its address: (name, pool cidr)."""
    rows = [
        [name, "LoadBalancer", f"10.96.0.{10 + i}", cidr_sample(cidr), f"80:3{i:04d}/TCP", SAMPLE_AGE]
        for i, (name, cidr) in enumerate(services)
    ]
    return (
        kubectl_table([["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"], *rows]),
        Words(
            "An EXTERNAL-IP from the Service's pool within seconds (`<pending>` means no pool selected it), and "
            "`curl http://EXTERNAL-IP/` from outside the cluster answers with nginx's `Welcome to nginx!` page.",
            "数秒で Service のプールの EXTERNAL-IP が付くこと（`<pending>` ならどのプールにも選ばれていません）。クラスターの外からの "
            "`curl http://EXTERNAL-IP/` は nginx の `Welcome to nginx!` のページを返します。",
        ),
    )


def cidr_sample(cidr: IPv4Network) -> str:
    """The address LB IPAM hands out first from `cidr`: its first one, as the pools leave
    allowFirstLastIPs unset (= Yes), so a /24's network address too."""
    return str(cidr.network_address)
