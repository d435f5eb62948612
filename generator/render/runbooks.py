"""Day-2 runbooks in docs/runbooks/: the steps of one operation in order, with the
exact commands for each node and a check after each step.

Two kinds, both pure functions of inventories:
- standing runbooks, rendered with the repository (`render`, here): renewing the
  certificates, restoring etcd from the daily snapshot, rotating the BGP passwords;
- runbooks of a change (change_runbooks.py), which `clusterforge plan` writes.

This module also holds what both share: the runbook as data and as Markdown, and
the checks they repeat. English always, Japanese too when docs.language is ja.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from ..explain.catalog import Language, Words
from ..model import BgpPeer, Inventory, Node
from . import cilium, cloudinit, etcdbackup, guide, layout, routers
from .verification import Check, code, nodes_table
from .verification import render as render_checks

DOCS_PREFIX = "../"  # from docs/runbooks/ to docs/
KUBEADM_CONFIG = cloudinit.KUBEADM_CONFIG
MANIFESTS = "/etc/kubernetes/manifests"
MANIFESTS_OFF = "/etc/kubernetes/manifests-off"
# kubeadm's own docs: a static pod is restarted by moving its manifest away for this long.
STATIC_POD_WAIT = 20
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


def on(node: Node) -> Words:
    return ON.format(node=node.name)


def markdown(runbook: Runbook, inv: Inventory, language: Language) -> str:
    lines = [f"# {runbook.title(language)}", ""]
    if inv.docs.language == "ja":
        other: Language = "ja" if language == "en" else "en"
        name = posixpath.basename(layout.runbook(runbook.name, other))
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
    return layout.page(lines)


def files(runbooks: list[Runbook], inv: Inventory) -> dict[str, str]:
    return {layout.runbook(r.name, language): markdown(r, inv, language) for r in runbooks for language in guide.languages(inv)}


def render(inv: Inventory) -> dict[str, str]:
    """The standing runbooks, rendered with the repository."""
    standing = [renew_certificates(inv), restore_etcd(inv)]
    if any(p.auth_secret_ref for p in (inv.bgp.peers if inv.bgp else [])):
        standing.append(rotate_bgp_passwords(inv))
    return files(standing, inv)


# --- shared pieces -------------------------------------------------------------------------


def nodes_check(inv: Inventory, nodes: list[Node], trouble: str | None = "node-not-ready") -> Check:
    """`nodes` Ready on the inventory's Kubernetes version."""
    return Check(
        [f"kubectl get nodes {' '.join(n.name for n in nodes)}"],
        nodes_table(inv, nodes, ready=True),
        Words("`Ready` and VERSION v{version}.", "`Ready` で VERSION が v{version}。").format(version=inv.kubernetes.version),
        trouble,
    )


def etcd_members_check(on_node: Node, members: list[Node]) -> Check:
    return Check(
        [*etcdbackup.find_container(), etcdbackup.etcdctl("member list --write-out=table")],
        ["+------------------+---------+------+-----------------------------+-----------------------------+------------+",
         "|        ID        | STATUS  | NAME |         PEER ADDRS          |        CLIENT ADDRS         | IS LEARNER |",
         "+------------------+---------+------+-----------------------------+-----------------------------+------------+",
         *(f"| {'...':<16} | started | {n.name:<4} | https://{n.ip}:2380 | https://{n.ip}:2379 | {'false':<10} |" for n in members)],
        Words("One `started` member per control plane: {names}.", "コントロールプレーンごとに `started` のメンバーが一つ: {names}。").format(names=", ".join(n.name for n in members)),
        where=Words("On {node} (etcdctl inside the etcd container):", "{node} で（etcd コンテナ内の etcdctl）:").format(node=on_node.name),
    )


def sessions_check(inv: Inventory) -> list[Check]:
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
                    nodes_check(inv, cps),
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
            [etcd_members_check(first, [first]), Check(["kubectl get nodes"], [], Words("The API answers again.", "API が再び応答すること。"), "vip-down")],
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
                [etcd_members_check(first, inv.control_planes), nodes_check(inv, inv.control_planes, "join-fails")],
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
                sessions_check(inv),
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
