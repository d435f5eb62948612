"""Write the reference pages of the project's documentation from the code itself,
before `mkdocs build --strict` (nox -s docs):

- docs/reference/inventory.md: every cluster.yaml field from the JSON Schema
  (generator/render/meta.py inventory_schema): type, default, required,
  description and the value in the reference inventory;
- docs/reference/cli.md: every command and option from the argparse parser
  (generator/cli.py build_parser);
- docs/reference/validation.md: every validation check, from its module's docstring.

Each also as *.ja.md with Japanese headings (the descriptions come from the code,
in English). docs/reference/ is git-ignored: these pages are always regenerated.

    python tools/docs/generate.py [--out docs/reference]
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
from pathlib import Path
from typing import Any

from generator import cli, yamlio
from generator.render import meta
from generator.validate import checks

ROOT = Path(__file__).resolve().parents[2]
LABELS = {
    "en": {
        "inventory": "cluster.yaml reference",
        "inventory_intro": "Every field of the inventory, generated from its JSON Schema (`clusterforge schema`). "
        "`[]` stands for each item of a list; the example column is the reference home lab (`clusterforge example`).",
        "field": "Field",
        "type": "Type",
        "default": "Default",
        "required": "required",
        "description": "Description",
        "example": "Example",
        "cli": "Command-line reference",
        "cli_intro": "Every command and option of `clusterforge`, generated from its argument parser.",
        "usage": "Usage",
        "options": "Arguments and options",
        "validation": "Validation checks",
        "validation_intro": "What `clusterforge validate` runs, one module per check (generator/validate/checks/), "
        "each an adapter around a real tool or a cross-file rule, and what it catches.",
        "top": "Top level",
    },
    "ja": {
        "inventory": "cluster.yaml リファレンス",
        "inventory_intro": "インベントリのすべてのフィールドです。JSON Schema（`clusterforge schema`）から生成しています。"
        "`[]` はリストの各要素、例の列は参照用ホームラボ（`clusterforge example`）の値です。",
        "field": "フィールド",
        "type": "型",
        "default": "既定値",
        "required": "必須",
        "description": "説明",
        "example": "例",
        "cli": "コマンドラインリファレンス",
        "cli_intro": "`clusterforge` のすべてのコマンドとオプションです。引数パーサーから生成しています（説明文は英語）。",
        "usage": "使い方",
        "options": "引数とオプション",
        "validation": "検証の項目",
        "validation_intro": "`clusterforge validate` が実行するもので、検証ごとに一つのモジュール（generator/validate/checks/）です。"
        "それぞれ実際のツールの薄いアダプターかファイル間の規則で、何を見つけるかを示します。",
        "top": "最上位",
    },
}

# The field descriptions in Japanese, by field path (the English ones are the model's docstrings).
# A field missing here shows its English description on the Japanese page.
JA_DESCRIPTIONS = {
    "name": "クラスター名（RFC 1123 のラベル）。",
    "kubernetes.version": "Kubernetes の正確なバージョン（\"1.35.4\" のように引用符付き）。kubeadm・kubelet・kubectl をこれに固定します。",
    "kubernetes.podCIDR": "Pod のアドレス（kubeadm の networking.podSubnet）。ほかのどの範囲とも重なってはいけません。",
    "kubernetes.serviceCIDR": "ClusterIP の Service のアドレス（kubeadm の networking.serviceSubnet）。",
    "kubernetes.clusterDomain": "クラスター内の Service の DNS ドメイン。",
    "network.subnet": "全 VM の L2 セグメント。ノードの IP、VIP、ゲートウェイはこの中にあります。",
    "network.gateway": "VM のデフォルト経路（BGP ルーターを兼ねることが多い）。",
    "network.dns": "VM のリゾルバー。",
    "network.domain": "検索ドメイン。ノードの FQDN は NAME.DOMAIN です。",
    "network.interface": "VM 内の NIC の名前（ESXi の vmxnet3 なら ens160、Proxmox の virtio なら ens18）。",
    "network.mtu": "VM の NIC の MTU。",
    "apiServer.vip": "keepalived がロードバランサー間で移す仮想 IP。クラスターの controlPlaneEndpoint です。",
    "apiServer.port": "VIP 上の HAProxy と各 API サーバーのポート。",
    "apiServer.dnsName": "API 証明書に入れる VIP の DNS 名。既定は api.CLUSTER.DOMAIN。",
    "apiServer.extraCertSans": "API サーバーの証明書に加える名前やアドレス。",
    "apiServer.allowedSources": "ノードのサブネットのほかに API に届いてよいネットワーク（管理用の端末、CI ランナー）。",
    "hosts[].name": "VM を動かす物理マシン。1 台の故障でクォーラムを失う配置を警告するのに使います。",
    "nodes[].name": "VM のホスト名（RFC 1123 のラベル）で、Kubernetes のノード名。",
    "nodes[].role": "control-plane（1、3、5、7 台）、worker、または loadbalancer（HAProxy + keepalived、0 台か 2 台以上）。",
    "nodes[].ip": "network.subnet 内の静的アドレス。",
    "nodes[].host": "この VM が動く hosts[] の項目。",
    "nodes[].mac": "NIC の MAC アドレス。シードは NIC を MAC で特定し、network.interface の名前を付けます。",
    "nodes[].vm": "VM の大きさの目安。",
    "ssh.user": "全 VM に作るログインユーザー（sudo 可、パスワードなし）。",
    "ssh.authorizedKeys": "そのユーザーの OpenSSH 公開鍵。パスワードでのログインはできません。",
    "ssh.allowedSources": "ノードのサブネットのほかに VM へ SSH してよいネットワーク。",
    "cilium.version": "Cilium のチャートのバージョン（1.18 以上: BGP コントロールプレーンが cilium.io/v2）。",
    "cilium.routingMode": "tunnel: ノード間の Pod 通信を VXLAN/Geneve で運ぶ。native: そのまま経路で運ぶ（ノードが一つの L2 にある）。",
    "cilium.tunnelProtocol": "トンネルモードでのカプセル化。",
    "cilium.kubeProxyReplacement": "Cilium が kube-proxy を置き換えます（kubeadm は kube-proxy を入れません）。",
    "cilium.ipam": "Pod のアドレスの割り当て方。PodCIDR の広告には kubernetes か cluster-pool が必要です。",
    "cilium.hubble": "Hubble による通信フローの可視化。",
    "cilium.hubbleRelay": "Hubble Relay（クラスター全体のフロー）。既定は hubble と同じ。",
    "cilium.encryption": "ノード間の Pod 通信の透過的な暗号化。",
    "bgp": "全ノードとルーターの間の BGP。なければ BGP を使いません。",
    "bgp.localASN": "クラスターの AS。全ノードがこれで話します。",
    "bgp.peers": "全ノードがピアを張るルーター。",
    "bgp.peers[].name": "ルーターの名前。その設定は routers/NAME/ に生成されます。",
    "bgp.peers[].address": "各ノードの Cilium エージェントが接続するアドレス。",
    "bgp.peers[].asn": "ルーターの AS。bgp.localASN と同じなら iBGP、違えば eBGP。",
    "bgp.peers[].router": "ルーターで動くもの。セッションのルーター側をそれ用に生成します。",
    "bgp.peers[].authSecretRef": "TCP-MD5 パスワードを持つ Kubernetes の Secret の名前（キーは `password`）。値はシークレットファイルにだけあります。",
    "bgp.peers[].timers": "このピアについて bgp.timers を上書きします。",
    "bgp.peers[].ebgpMultihop": "ノードのサブネット上にない eBGP ピアへの TTL。",
    "bgp.timers": "セッションのタイマー（Cilium の既定: hold 90 秒、keepalive 30 秒）。",
    "bgp.advertise": "クラスターが広告するもの。",
    "bgp.advertise.loadBalancerIPs": "loadBalancerPools の LoadBalancer Service の IP を（/32 で）広告します。",
    "bgp.advertise.podCIDRs": "各ノードの Pod CIDR を広告します。",
    "loadBalancerPools": "LoadBalancer の IP プール（最大 100。重なりの規則を軽く保つため）。",
    "loadBalancerPools[].cidr": "LoadBalancer Service のアドレス（Cilium LB IPAM）。BGP でクラスターへ経路が向きます。",
    "loadBalancerPools[].serviceSelector": "これらのラベルを持つ Service だけがこのプールから割り当てを受けます。空ならすべての Service。",
    "loadBalancerPools[].default": "プールが複数あるとき、ほかのどのプールにも選ばれない Service をすべて受け持ちます（serviceSelector なし、default は一つまで）。",
    "gitops.engine": "リポジトリを適用する GitOps コントローラー。",
    "gitops.repository": "このリポジトリの git の URL（コントローラーが clone するもの）。",
    "docs.language": "生成する README の言語（ja なら README.ja.md も加えます）。",
    "secrets.ageRecipients": "age の公開鍵。シークレットファイルはこれらに向けて SOPS で暗号化されます。",
    "bootstrap": "ノードで kubeadm と Cilium のインストールを誰が実行するか。",
    "bootstrap.mode": "manual: README の手順を手で（kubeadm init、Cilium、参加）。auto: 最初のコントロールプレーンの cloud-init が kubeadm init と Cilium のインストールを行い、ほかのノードは自分で参加します。",
}

# What each check catches, in Japanese (the English page shows the check module's docstring).
JA_CHECKS = {
    "apiversions": "クラスターの Cilium がもう提供しない kind/apiVersion のオブジェクト。CRD スキーマのカタログには過去のすべての版が残るため kubeconform では見つからず、アップグレード後の Cilium は黙って無視します（1.19 の CiliumBGPPeeringPolicy は何も広告しません）。削除した Cilium のバージョンと置き換え先を示して失敗にします。",
    "bgp": "BGP セッションをネットワークなしで静的に: 生成された Cilium のオブジェクト（`clusterforge simulate` が GoBGP 向けに読むのと同じ読み方）を各ルーターのファイルと突き合わせます。どの CiliumBGPAdvertisement もいずれかのピア設定のファミリーのセレクターに選ばれること（選ばれなければ誰にも何も広告しません）、Service の広告には Service のセレクターがあること（なければ Cilium は Service を一つも広告しません）、ルーターとピアを組むようクラスター設定が選ぶノードが、そのルーターのファイルのネイバーとちょうど一致すること、AS 番号・ルーターのアドレス・タイマー・ノードのサブネット外のルーターへの eBGP マルチホップ・TCP-MD5 パスワード（両側で同じシークレットを指すこと）が両側で合うこと。",
    "cloudinit": "各 VM の NoCloud シード。user-data は `cloud-init schema` と最上位キーの確認（cloud-init のスキーマは未知のキーを許すので、`runcmdd` のような誤字は起動時に黙って無視されます）、network-config は `netplan generate` と、ノードのネットワークがインベントリのとおりかの確認。",
    "consistency": "ツールを使わないファイル間の整合: 各ルーターのファイルが Kubernetes ノードごとのネイバーとクラスターの AS を持ち、クラスターが広告するプレフィックスだけを受け入れること、各ノードに三つのシードがあること、全コントロールプレーンが各 haproxy.cfg のバックエンドにあること、API の VIP が keepalived・HAProxy・kubeadm・Cilium で同じこと、GitOps のリリースがブートストラップと同じ values ファイルとチャートのバージョンを読むこと。",
    "daemons": "ロードバランサーのデーモンとすべてのシェルスクリプトを、それぞれのツールで: `haproxy -c`、`keepalived --config-test`（一時的なネットワーク名前空間の中で）、`shellcheck`（リポジトリの *.sh と cloud-init が書く・実行するスクリプト）。",
    "helm": "各 Helm リリースの `helm template` を、GitOps エンジンが渡すとおりの values でキャッシュしたチャートから。出力は kubeconform に通し、values のすべてのキーがチャートにあることも確かめます（Helm は知らないキーを黙って無視します。1.19 のチャートでの Cilium 1.12 の `bgp.announce` など）。",
    "kubeadm": "各 kubeadm 設定を、クラスター自身のマイナーの kubeadm の `kubeadm config validate` で。コミットしたファイルにはシークレットがないので、明らかに偽のシークレットを埋めて検証します（再レンダリングではないので、手で壊したファイルは失敗します）。",
    "kubeconform": "GitOps エンジンが適用するすべてを kubeconform で: Flux の Kustomization と Argo CD の Application のディレクトリ（kustomization なら kustomize で構築）、入口そのもの、（helm の確認を通して）各チャートの出力。スキーマのない kind は失敗にし、黙って検証を飛ばすことはありません。",
    "owned": "ロックが持つすべてのファイルが存在し、clusterforge が書いた内容のまま（ロックが記録する sha256）であること、ロック自体があること。ほかの確認はそこにあるファイルしか見ないので、消えた README.md、kubeadm 設定、haproxy.cfg、kustomization はそれらをすべて通ってしまい、clusterforge が書いたものでないファイルはレンダラーのテストで確かめられていません。",
    "routers": "各 BGP ピアのルーター側: FRR は `vtysh --dryrun`、BIRD は `bird -p`、Yamaha RTX は clusterforge が出すコマンドの範囲を自前の確認で（ルーターの外に RTX のパーサーはありません）。",
    "secrets_scan": "git に入るファイルにシークレットがないこと: kubeadm のトークン、秘密鍵、証明書の鍵、CA 証明書のハッシュ、シークレットファイルの実際の値。見つけたものはファイル・行・種類で示し、値は決して示しません。",
}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


# --- the inventory -------------------------------------------------------------------


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in node:
        return schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _type(schema: dict[str, Any], node: dict[str, Any]) -> str:
    if "anyOf" in node:
        kinds = [_type(schema, option) for option in node["anyOf"] if option.get("type") != "null"]
        return " or ".join(kinds)
    if "$ref" in node:
        return "mapping"
    if "enum" in node:
        return " \\| ".join(f"`{value}`" for value in node["enum"])
    kind = node.get("type", "any")
    if kind == "array":
        return f"list of {_type(schema, node.get('items', {}))}"
    if kind == "object" and "additionalProperties" in node and isinstance(node["additionalProperties"], dict):
        return "mapping of string"
    if "format" in node:
        return f"{kind} ({node['format']})"
    return kind


def _children(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema below a field (through lists and optional values), if any."""
    for option in node.get("anyOf", [node]):
        option = option.get("items", option) if option.get("type") == "array" else option
        resolved = _resolve(schema, option)
        if resolved.get("type") == "object" and "properties" in resolved:
            return resolved
    return None


def _example(data: Any, path: list[str]) -> Any:
    for part in path:
        if isinstance(data, list):
            data = data[0] if data else None
        if part == "[]" or data is None:
            continue
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _rows(schema: dict[str, Any], obj: dict[str, Any], prefix: list[str], example: Any, language: str = "en") -> list[list[str]]:
    rows = []
    required = set(obj.get("required", []))
    for name, node in obj["properties"].items():
        path = [*prefix, name]
        is_list = node.get("type") == "array" or any(o.get("type") == "array" for o in node.get("anyOf", []))
        shown = ".".join(path).replace(".[]", "[]")
        value = _example(example, path)
        default = "" if "default" not in node or node["default"] in (None, [], {}) else json.dumps(node["default"])
        sample = "" if value is None or isinstance(value, (dict, list)) else json.dumps(value) if not isinstance(value, str) else value
        description = node.get("description", _resolve(schema, node).get("description", ""))
        if language == "ja":
            description = JA_DESCRIPTIONS.get(shown, description)
        rows.append([f"`{shown}`", _type(schema, node), "required" if name in required else default, description, f"`{sample}`" if sample else ""])
        child = _children(schema, node)
        if child is not None:
            rows += _rows(schema, child, [*path, "[]"] if is_list else path, example, language)
    return rows


def inventory_page(language: str) -> str:
    label = LABELS[language]
    schema = meta.inventory_schema()
    example = yamlio.loader().load(cli.example_text())
    lines = [f"# {label['inventory']}", "", label["inventory_intro"], ""]
    for name, node in schema["properties"].items():
        lines += [f"## `{name}`", ""]
        description = node.get("description") or _resolve(schema, node.get("anyOf", [node])[0]).get("description", "")
        if language == "ja":
            description = JA_DESCRIPTIONS.get(name, description)
        if description:
            lines += [description, ""]
        header = [label["field"], label["type"], label["default"], label["description"], label["example"]]
        rows = _rows(schema, {"properties": {name: node}, "required": schema.get("required", [])}, [], example, language)
        rows = [[row[0], row[1], label["required"] if row[2] == "required" else row[2], row[3], row[4]] for row in rows]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# --- the command line ----------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:  # argparse keeps its subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _subcommands(sub)
                if nested:
                    found |= {f"{name} {inner}": parser_ for inner, parser_ in nested.items()}
                else:
                    found[name] = sub
    return found


def cli_page(language: str) -> str:
    label = LABELS[language]
    parser = cli.build_parser()
    lines = [f"# {label['cli']}", "", label["cli_intro"], "", "```text", *parser.format_usage().strip().splitlines(), "```", ""]
    for name, sub in _subcommands(parser).items():
        lines += [f"## `clusterforge {name}`", "", sub.description or "", "", f"{label['usage']}:", "", "```text"]
        lines += sub.format_usage().strip().splitlines()
        lines += ["```", ""]
        options = [a for a in sub._actions if not isinstance(a, argparse._HelpAction)]
        if options:
            lines += [f"{label['options']}:", ""]
            for action in options:
                names = ", ".join(action.option_strings) or (action.metavar or action.dest)
                listed = " \\| ".join(action.choices) if action.choices and not isinstance(action.choices, dict) else ""
                choices = f" ({listed})" if listed else ""
                lines.append(f"- `{names}`{choices}: {action.help or ''}")
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# --- validation ------------------------------------------------------------------------------


def validation_page(language: str) -> str:
    label = LABELS[language]
    lines = [f"# {label['validation']}", "", label["validation_intro"], ""]
    for module in sorted(m.name for m in pkgutil.iter_modules(checks.__path__) if not m.name.startswith("_")):
        doc = (importlib.import_module(f"{checks.__name__}.{module}").__doc__ or "").strip()
        lines += [f"## `{module}`", ""]
        if language == "ja" and module in JA_CHECKS:
            lines += [JA_CHECKS[module], ""]
        else:
            lines += [_paragraph(paragraph) + "\n" for paragraph in doc.split("\n\n")]
    return "\n".join(lines).rstrip("\n") + "\n"


def _paragraph(text: str) -> str:
    """A docstring paragraph as Markdown: a list keeps its items, prose becomes one line."""
    if not text.lstrip().startswith("- "):
        return " ".join(text.split())
    items = [" ".join(item.split()) for item in text.strip().removeprefix("- ").split("\n- ")]
    return "\n".join(f"- {item}" for item in items)


PAGES = {"inventory": inventory_page, "cli": cli_page, "validation": validation_page}


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--out", type=Path, default=ROOT / "docs" / "reference")
    out = options.parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    for name, page in PAGES.items():
        for language, suffix in (("en", ".md"), ("ja", ".ja.md")):
            (out / f"{name}{suffix}").write_text(page(language), encoding="utf-8")
    print(f"wrote {len(PAGES) * 2} pages into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
