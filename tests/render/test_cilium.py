from __future__ import annotations

import json
import os
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ruamel.yaml import YAML

from generator import tools
from generator.errors import ToolFailed
from generator.loader import check_file, check_text
from generator.model import Inventory
from generator.render import cilium, layout

EXAMPLE = Path("generator/data/cluster.example.yaml")
VARIANT = Path("tests/data/variant.yaml")  # native, cluster-pool, wireguard, eBGP + iBGP, PodCIDRs
FULL = Path("tests/data/full.yaml")  # Cilium 1.20, per-peer timers, multihop, pool selectors
CHARTS = Path("/work/shared/charts")
CHART_VERSIONS = ("1.18.12", "1.19.6", "1.20.0")
CRD_SCHEMAS = Path("/work/shared/schemas/crds")
KUBECONFORM_SCHEMAS = f"{CRD_SCHEMAS}/{{{{.Group}}}}/{{{{.ResourceKind}}}}_{{{{.ResourceAPIVersion}}}}.json"
NeedTool = Callable[..., Path]


def load(text: str) -> Any:
    return YAML(typ="safe").load(text)


def load_all(text: str) -> list[Any]:
    return list(YAML(typ="safe").load_all(text))


def edit(path: Path, *changes: tuple[str, str]) -> Inventory:
    text = path.read_text()
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return check_text(text).inventory


@pytest.fixture(scope="module")
def inv() -> Inventory:
    return check_file(EXAMPLE).inventory


def variants() -> dict[str, Inventory]:
    """Every combination of Cilium features the renderer branches on."""
    return {
        "example": check_file(EXAMPLE).inventory,
        "variant": check_file(VARIANT).inventory,
        "full": check_file(FULL).inventory,
        "multi-pool": edit(EXAMPLE, ("routingMode: tunnel ", "routingMode: native "), ("  hubble: true\n", "  hubble: false\n  ipam: multi-pool\n")),
        "no-kpr-geneve": edit(EXAMPLE, ("  kubeProxyReplacement: true\n", "  kubeProxyReplacement: false\n  tunnelProtocol: geneve\n")),
    }


@pytest.fixture(scope="module", params=sorted(variants()))
def any_inv(request: pytest.FixtureRequest) -> Inventory:
    return variants()[request.param]


@pytest.fixture(scope="session")
def charts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each chart version extracted once: {version: chart directory}."""
    out = {}
    for version in CHART_VERSIONS:
        target = tmp_path_factory.mktemp(f"cilium-{version}")
        with tarfile.open(CHARTS / f"cilium-{version}.tgz") as archive:
            archive.extractall(target, filter="data")
        out[version] = target / "cilium"
    return out


# --- values ------------------------------------------------------------------


def test_reference_values(inv: Inventory) -> None:
    v = cilium.values(inv)
    assert v["kubeProxyReplacement"] is True
    assert (v["k8sServiceHost"], v["k8sServicePort"]) == ("192.168.100.4", 6443)
    assert v["ipam"] == {"mode": "kubernetes"}
    assert (v["routingMode"], v["tunnelProtocol"]) == ("tunnel", "vxlan")
    assert "ipv4NativeRoutingCIDR" not in v and "autoDirectNodeRoutes" not in v
    assert v["bpf"] == {"masquerade": True}
    assert v["bgpControlPlane"] == {"enabled": True}
    assert v["l2announcements"] == {"enabled": False}
    assert v["hubble"] == {"enabled": True, "relay": {"enabled": True}}  # relay follows hubble
    assert "encryption" not in v
    assert v["operator"] == {"replicas": 2}
    assert "bgp" not in v  # the MetalLB-era keys, ignored since 1.17


def test_values_file_is_the_values(inv: Inventory) -> None:
    tree = cilium.render(inv)
    assert load(tree[layout.CILIUM_VALUES]) == cilium.values(inv)
    assert cilium.render(inv) == tree


def test_native_routing_cluster_pool_wireguard() -> None:
    v = cilium.values(check_file(VARIANT).inventory)
    assert v["routingMode"] == "native" and "tunnelProtocol" not in v
    assert v["ipv4NativeRoutingCIDR"] == "10.32.0.0/16"
    assert v["autoDirectNodeRoutes"] is True
    assert v["ipam"] == {"mode": "cluster-pool", "operator": {"clusterPoolIPv4PodCIDRList": ["10.32.0.0/16"]}}
    assert v["encryption"] == {"enabled": True, "type": "wireguard"}
    assert v["k8sServiceHost"] == "198.51.100.10"


def test_multi_pool_and_hubble_off() -> None:
    v = cilium.values(variants()["multi-pool"])
    assert v["ipam"]["operator"]["autoCreateCiliumPodIPPools"]["default"]["ipv4"]["cidrs"] == ["10.244.0.0/16"]
    assert v["hubble"] == {"enabled": False, "relay": {"enabled": False}}


def test_without_kube_proxy_replacement() -> None:
    v = cilium.values(variants()["no-kpr-geneve"])
    assert v["kubeProxyReplacement"] is False and "bpf" not in v
    assert v["tunnelProtocol"] == "geneve"


def test_hubble_relay_can_be_turned_off(inv: Inventory) -> None:
    off = inv.model_copy(update={"cilium": inv.cilium.model_copy(update={"hubble_relay": False})})
    assert cilium.values(off)["hubble"] == {"enabled": True, "relay": {"enabled": False}}


def test_operator_replicas_fit_the_nodes() -> None:
    text = EXAMPLE.read_text()
    single = "".join(line for line in text.splitlines(keepends=True) if not any(n in line for n in ("cp2", "cp3", "worker")))
    assert cilium.values(check_text(single).inventory)["operator"]["replicas"] == 1


def _paths(values: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every key path of a values tree (lists are leaves: they are replaced whole)."""
    for key, value in values.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))


def _in_chart(defaults: dict[str, Any], path: tuple[str, ...]) -> bool:
    """A path exists in the chart's values.yaml, or runs into a map the chart leaves
    empty for the user to fill (such as ipam.operator.autoCreateCiliumPodIPPools)."""
    node: Any = defaults
    for key in path:
        if node == {}:
            return True
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


@pytest.mark.parametrize("version", CHART_VERSIONS)
def test_every_value_is_a_chart_value(version: str, charts: dict[str, Path], any_inv: Inventory) -> None:
    chart = charts[version]
    defaults = load((chart / "values.yaml").read_text())
    ours = cilium.values(any_inv)
    missing = [".".join(p) for p in _paths(ours) if not _in_chart(defaults, p)]
    assert missing == [], f"not in cilium {version} values.yaml"
    # The chart's own schema also checks the types (kubeProxyReplacement: bool or string, ...).
    jsonschema.validate(ours, json.loads((chart / "values.schema.json").read_text()))


def test_chart_value_check_catches_removed_keys(charts: dict[str, Path]) -> None:
    defaults = load((charts["1.18.12"] / "values.yaml").read_text())
    assert not _in_chart(defaults, ("bgp", "announce", "loadbalancerIP"))  # removed in 1.17
    assert not _in_chart(defaults, ("hubble", "relay", "enable"))
    assert _in_chart(defaults, ("hubble", "relay", "enabled"))


def _helm_template(chart: Path, values_file: Path) -> list[dict[str, Any]]:
    out = tools.helm("template", cilium.RELEASE_NAME, str(chart), "--namespace", cilium.NAMESPACE, "--kube-version", "1.35.4", "-f", str(values_file))
    return [d for d in load_all(out) if d]


@pytest.mark.tools
@pytest.mark.parametrize("version", CHART_VERSIONS)
def test_helm_template_applies_the_values(version: str, charts: dict[str, Path], inv: Inventory, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("helm")
    values_file = tmp_path / "values.yaml"
    values_file.write_text(cilium.render(inv)[layout.CILIUM_VALUES])
    docs = _helm_template(charts[version], values_file)
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    config = by_kind[("ConfigMap", "cilium-config")]["data"]
    assert config["kube-proxy-replacement"] == "true"
    assert config["enable-bgp-control-plane"] == "true"
    assert config["routing-mode"] == "tunnel" and config["tunnel-protocol"] == "vxlan"
    assert config["ipam"] == "kubernetes"
    assert config["enable-bpf-masquerade"] == "true"
    # The bootstrap script waits for these by name and execs into this container.
    agent = by_kind[("DaemonSet", cilium.AGENT_DAEMONSET)]
    assert "cilium-agent" in [c["name"] for c in agent["spec"]["template"]["spec"]["containers"]]
    operator = by_kind[("Deployment", cilium.OPERATOR_DEPLOYMENT)]
    assert operator["spec"]["replicas"] == 2
    env = {e["name"]: e.get("value") for e in agent["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("192.168.100.4", "6443")


# --- bootstrap -------------------------------------------------------------------


def test_bootstrap_matches_the_gitops_release(inv: Inventory) -> None:
    script = cilium.render(inv)[layout.CILIUM_BOOTSTRAP]
    assert script.startswith("#!/usr/bin/env bash\n") and "\nset -euo pipefail\n" in script
    assert script.endswith("\n") and not script.endswith("\n\n")
    command = " ".join(line.strip().rstrip("\\").strip() for line in script.split("helm upgrade", 1)[1].split("\n\n")[0].splitlines())
    assert command.startswith(f"--install {cilium.RELEASE_NAME} {cilium.CHART} ")
    for option in (f"--repo {cilium.CHART_REPOSITORY}", "--version 1.19.6", f"--namespace {cilium.NAMESPACE}"):
        assert option in command
    # helm's --wait would wait for every object, Relay and the second operator included.
    assert "--wait" not in command


def _bootstrap_sets(script: str) -> list[str]:
    """The `--set KEY=VALUE` options of the script's helm command."""
    words = script.split("helm upgrade", 1)[1].split("\n\n")[0].replace("\\\n", " ").split()
    return [f"{words[i + 1]}" for i, word in enumerate(words) if word == "--set"]


def test_bootstrap_fits_the_first_control_plane_alone(inv: Inventory) -> None:
    """On cp1 alone a second operator (required anti-affinity) and Relay (no
    control-plane toleration) would stay Pending: the bootstrap sets them off."""
    assert cilium.values(inv)["operator"]["replicas"] == 2 and cilium.values(inv)["hubble"]["relay"]["enabled"]
    script = cilium.render(inv)[layout.CILIUM_BOOTSTRAP]
    assert _bootstrap_sets(script) == ["operator.replicas=1", "hubble.relay.enabled=false"]
    assert "one operator per node" in script and "no control-plane taint" in script
    # Nothing to override when the cluster is one node (one operator) without Relay.
    text = EXAMPLE.read_text()
    single = "".join(line for line in text.splitlines(keepends=True) if not any(n in line for n in ("cp2", "cp3", "worker")))
    alone = check_text(single.replace("  hubble: true\n", "  hubble: true\n  hubbleRelay: false\n")).inventory
    assert _bootstrap_sets(cilium.render(alone)[layout.CILIUM_BOOTSTRAP]) == []


@pytest.mark.tools
def test_gitops_release_reaches_the_intended_replicas(charts: dict[str, Path], inv: Inventory, tmp_path: Path, need_tool: NeedTool) -> None:
    """The bootstrap and the GitOps release render the same chart from the same values
    file; only the bootstrap's --set differ: the GitOps sync is an upgrade to 2 operators and Relay."""
    need_tool("helm")
    values_file = tmp_path / "values.yaml"
    values_file.write_text(cilium.render(inv)[layout.CILIUM_VALUES])
    sets = [arg for s in _bootstrap_sets(cilium.render(inv)[layout.CILIUM_BOOTSTRAP]) for arg in ("--set", s)]
    chart = str(charts["1.19.6"])
    common = ("template", cilium.RELEASE_NAME, chart, "--namespace", cilium.NAMESPACE, "--kube-version", "1.35.4", "-f", str(values_file))
    boot = {(d["kind"], d["metadata"]["name"]): d for d in load_all(tools.helm(*common, *sets)) if d}
    gitops = {(d["kind"], d["metadata"]["name"]): d for d in load_all(tools.helm(*common)) if d}
    assert boot[("Deployment", cilium.OPERATOR_DEPLOYMENT)]["spec"]["replicas"] == 1
    assert gitops[("Deployment", cilium.OPERATOR_DEPLOYMENT)]["spec"]["replicas"] == 2
    assert ("Deployment", "hubble-relay") not in boot and ("Deployment", "hubble-relay") in gitops
    # Everything else the bootstrap creates, the GitOps release keeps (no reinstall, no rename).
    assert set(boot) <= set(gitops)


def _fake(bin_dir: Path, name: str, log: Path) -> None:
    path = bin_dir / name
    path.write_text(f'#!/usr/bin/env bash\nprintf "{name} %s\\n" "$*" >> "{log}"\n')
    path.chmod(0o755)


def test_bootstrap_reads_the_repo_values_file(inv: Inventory, tmp_path: Path) -> None:
    """Run the script from elsewhere with recording helm/kubectl: --values must be the rendered file."""
    repo = tmp_path / "repo"
    for rel, text in cilium.render(inv).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    for name in ("helm", "kubectl"):
        _fake(bin_dir, name, log)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(repo / layout.CILIUM_BOOTSTRAP)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()
    helm = calls[0].split()
    values_file = Path(helm[helm.index("--values") + 1])
    assert values_file.resolve() == (repo / layout.CILIUM_VALUES).resolve()
    assert helm[helm.index("--values") + 2 :] == ["--set", "operator.replicas=1", "--set", "hubble.relay.enabled=false"]
    assert calls[1:] == [
        f"kubectl --namespace kube-system rollout status daemonset/{cilium.AGENT_DAEMONSET} --timeout=10m",
        f"kubectl --namespace kube-system rollout status deployment/{cilium.OPERATOR_DEPLOYMENT} --timeout=10m",
    ]
    assert "cilium-dbg bgp peers" in done.stdout


@pytest.mark.tools
def test_bootstrap_passes_shellcheck(any_inv: Inventory, tmp_path: Path, need_tool: NeedTool) -> None:
    script = tmp_path / "install-cilium.sh"
    script.write_text(cilium.render(any_inv)[layout.CILIUM_BOOTSTRAP])
    tools.run([need_tool("shellcheck"), script])


# --- BGP and LB pools ------------------------------------------------------------


def _by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def test_bgp_reference(inv: Inventory) -> None:
    docs = load_all(cilium.render(inv)[layout.CILIUM_BGP])
    assert docs == cilium.bgp_resources(inv)
    assert {d["apiVersion"] for d in docs} == {"cilium.io/v2"}
    [cluster] = _by_kind(docs, "CiliumBGPClusterConfig")
    assert cluster["spec"]["nodeSelector"] == {"matchLabels": {"kubernetes.io/os": "linux"}}
    [instance] = cluster["spec"]["bgpInstances"]
    assert instance["localASN"] == 64512
    assert instance["peers"] == [{"name": "rtx1220", "peerASN": 64513, "peerAddress": "192.168.100.1", "peerConfigRef": {"name": "rtx1220"}}]
    [peer] = _by_kind(docs, "CiliumBGPPeerConfig")
    assert peer["spec"]["timers"] == {"holdTimeSeconds": 90, "keepAliveTimeSeconds": 30, "connectRetryTimeSeconds": 120}
    assert peer["spec"]["gracefulRestart"] == {"enabled": True}
    assert "authSecretRef" not in peer["spec"] and "ebgpMultihop" not in peer["spec"]
    [advert] = _by_kind(docs, "CiliumBGPAdvertisement")  # podCIDRs: false
    [service] = advert["spec"]["advertisements"]
    assert service["advertisementType"] == "Service"
    assert service["service"] == {"addresses": ["LoadBalancerIP"]}
    assert service["selector"]["matchExpressions"][0]["operator"] == "NotIn"


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def test_bgp_references_resolve(any_inv: Inventory) -> None:
    """Every peerConfigRef names a peer config and every family selects every advertisement."""
    docs = cilium.bgp_resources(any_inv)
    assert any_inv.bgp is not None
    peer_configs = {d["metadata"]["name"]: d for d in _by_kind(docs, "CiliumBGPPeerConfig")}
    [cluster] = _by_kind(docs, "CiliumBGPClusterConfig")
    refs = [p["peerConfigRef"]["name"] for p in cluster["spec"]["bgpInstances"][0]["peers"]]
    assert refs == [p.name for p in any_inv.bgp.peers] and set(refs) == set(peer_configs)
    adverts = _by_kind(docs, "CiliumBGPAdvertisement")
    assert adverts
    for config in peer_configs.values():
        for family in config["spec"]["families"]:
            assert all(_selects(family["advertisements"], a["metadata"]["labels"]) for a in adverts)


def test_bgp_per_peer_settings() -> None:
    full = check_file(FULL).inventory
    docs = cilium.bgp_resources(full)
    peers = {d["metadata"]["name"]: d["spec"] for d in _by_kind(docs, "CiliumBGPPeerConfig")}
    assert peers["core-frr"]["timers"] == {"holdTimeSeconds": 9, "keepAliveTimeSeconds": 3, "connectRetryTimeSeconds": 5}
    assert peers["edge-bird"]["timers"] == {"holdTimeSeconds": 30, "keepAliveTimeSeconds": 10, "connectRetryTimeSeconds": 60}
    assert peers["core-frr"]["authSecretRef"] == "bgp-core-frr"
    assert peers["edge-bird"]["ebgpMultihop"] == 2
    assert "ebgpMultihop" not in peers["core-frr"]
    types = sorted(a["advertisementType"] for d in _by_kind(docs, "CiliumBGPAdvertisement") for a in d["spec"]["advertisements"])
    assert types == ["PodCIDR", "Service"]


def test_no_bgp_no_bgp_file(inv: Inventory) -> None:
    without = inv.model_copy(update={"bgp": None})
    tree = cilium.render(without)
    assert layout.CILIUM_BGP not in tree and cilium.bgp_resources(without) == []
    assert cilium.values(without)["bgpControlPlane"] == {"enabled": False}
    assert cilium.config_files(without) == [layout.LB_IPPOOLS]
    assert "bgp peers" not in tree[layout.CILIUM_BOOTSTRAP]


def test_ip_pools() -> None:
    full = check_file(FULL).inventory
    docs = load_all(cilium.render(full)[layout.LB_IPPOOLS])
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [("CiliumLoadBalancerIPPool", p.name) for p in full.load_balancer_pools]
    assert docs[0]["spec"] == {"blocks": [{"cidr": "10.50.0.0/24"}], "serviceSelector": {"matchLabels": {"pool": "public"}}}
    assert docs[1]["spec"]["serviceSelector"]["matchLabels"] == {"pool": "internal"}
    # The default pool takes exactly the Services no other pool selects.
    assert docs[2]["spec"]["serviceSelector"] == {"matchExpressions": [{"key": "pool", "operator": "NotIn", "values": ["internal", "public"]}]}
    example = cilium.ip_pools(check_file(EXAMPLE).inventory)
    assert example[0]["spec"] == {"blocks": [{"cidr": "192.168.101.0/24"}]}


def _config_docs(inv: Inventory) -> list[dict[str, Any]]:
    tree = cilium.render(inv)
    return [d for path in cilium.config_files(inv) for d in load_all(tree[path])]


def _schema(doc: dict[str, Any]) -> dict[str, Any]:
    group, version = doc["apiVersion"].split("/")
    return json.loads((CRD_SCHEMAS / group / f"{doc['kind'].lower()}_{version}.json").read_text())


def _unknown_keys(value: Any, schema: dict[str, Any], where: str = "") -> list[str]:
    """Keys of `value` that the JSON schema does not define (maps with
    additionalProperties, such as labels, take any key)."""
    if isinstance(value, list):
        return [k for i, item in enumerate(value) for k in _unknown_keys(item, schema.get("items", {}), f"{where}[{i}]")]
    if not isinstance(value, dict):
        return []
    props = schema.get("properties")
    if props is None:
        return []  # a free-form map (metadata, labels, matchLabels)
    out = []
    for key, item in value.items():
        if key in props:
            out += _unknown_keys(item, props[key], f"{where}.{key}")
        else:
            out.append(f"{where}.{key}")
    return out


def test_every_crd_key_is_in_the_schema(any_inv: Inventory) -> None:
    docs = _config_docs(any_inv)
    assert docs
    for doc in docs:
        assert _unknown_keys(doc, _schema(doc)) == [], doc["kind"]
        jsonschema.validate(doc, _schema(doc))


def test_schema_walk_catches_a_typo(inv: Inventory) -> None:
    [peer] = _by_kind(cilium.bgp_resources(inv), "CiliumBGPPeerConfig")
    peer["spec"]["timers"]["keepaliveTimeSeconds"] = 30  # the model's spelling, not the CRD's
    assert _unknown_keys(peer, _schema(peer)) == [".spec.timers.keepaliveTimeSeconds"]


def kubeconform(need_tool: NeedTool, files: list[Path]) -> None:
    tools.run([need_tool("kubeconform"), "-strict", "-summary", "-schema-location", KUBECONFORM_SCHEMAS, *files])


@pytest.mark.tools
def test_kubeconform_accepts_the_crd_objects(any_inv: Inventory, tmp_path: Path, need_tool: NeedTool) -> None:
    tree = cilium.render(any_inv)
    files = []
    for path in cilium.config_files(any_inv):
        files.append(tmp_path / Path(path).name)
        files[-1].write_text(tree[path])
    kubeconform(need_tool, files)
    bad = tmp_path / "bad.yaml"
    bad.write_text(tree[layout.LB_IPPOOLS].replace("blocks:", "cidrs:"))  # the field removed in 1.16
    with pytest.raises(ToolFailed):
        kubeconform(need_tool, [bad])
