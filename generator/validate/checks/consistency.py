"""Cross-file agreement, no tool: what one file says another must say too.

- every BGP peer's router file has one neighbor per Kubernetes node, with the
  cluster's AS, its own AS = the peer's ASN, and accepts exactly the prefixes
  the cluster announces;
- every node has its three seed files;
- every control plane is a backend of every haproxy.cfg;
- the API VIP is the same in keepalived.conf, haproxy.cfg, the kubeadm configs
  and Cilium's values;
- the GitOps release reads the values file (and chart version) the bootstrap
  install used, so it adopts that release without a change.

Whether the committed files equal a fresh render is `render --check`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from ...model import BgpPeer, Inventory
from ...render import layout, loadbalancer
from .. import gitops
from ..base import Context, Job, Result
from . import _common

BGP = "bgp peers"
SEEDS = "seeds"
BACKENDS = "haproxy backends"
VIP = "api vip"
GITOPS = "gitops values"

SEED_FILES = ("user-data", "meta-data", "network-config")
HAPROXY_FILES = f"loadbalancers/*/{loadbalancer.HAPROXY_CFG}"
KEEPALIVED_FILES = f"loadbalancers/*/{loadbalancer.KEEPALIVED_CONF}"
KUBEADM_FILES = "kubeadm/*.yaml"
FIX = f"edit {layout.INVENTORY} (not the generated files) and run `clusterforge render`"

# The files are hostile input: these match only what ipaddress and int() take (ASCII
# digits, not \d; octets 0-255 without leading zeros; at most 10 digits), never a part
# of a longer number.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
IPV4 = rf"(?<![0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?!\.?[0-9])"
PREFIX = IPV4 + r"/(?:3[0-2]|[12]?[0-9])(?![0-9])"
NUMBER = r"(?<![0-9])[0-9]{1,10}(?![0-9])"


def jobs(ctx: Context) -> list[Job]:
    return [*bgp_jobs(ctx), seeds_job(ctx), *backend_jobs(ctx), vip_job(ctx), gitops_job(ctx)]


def _job(ctx: Context, check: str, paths: list[str], run: Callable[[], list[Result]]) -> Job:
    """A Job over `paths` and the inventory; a missing path is part of the key, not an input."""
    present = tuple(p for p in paths if (ctx.repo / p).is_file())
    missing = ",".join(p for p in paths if p not in present)
    return Job(check, (layout.INVENTORY, *present), run, extra_key=f"missing={missing}")


def _result(check: str, path: str, problems: list[str], hint: str = FIX) -> Result:
    return Result(check, path, not problems, "\n".join(problems), hint if problems else "")


def _lines(text: str, comment: str) -> list[str]:
    """Lines with comments removed (whole-line comments starting with `comment`)."""
    return [line for line in text.splitlines() if not line.lstrip().startswith(comment)]


# --- BGP: cluster side vs router side ----------------------------------------------


class RouterView:
    """What a router file says: its own AS, its neighbors (address -> AS), accepted prefixes."""

    def __init__(self, local_as: int | None, neighbors: dict[IPv4Address, int], prefixes: set[IPv4Network]):
        self.local_as, self.neighbors, self.prefixes = local_as, neighbors, prefixes


def parse_rtx(text: str) -> RouterView:
    body = "\n".join(_lines(text, "#"))
    local = re.search(rf"^bgp autonomous-system ({NUMBER})", body, re.M)
    neighbors = {IPv4Address(a): int(asn) for asn, a in re.findall(rf"^bgp neighbor [0-9]+ ({NUMBER}) ({IPV4})\b", body, re.M)}
    prefixes = {IPv4Network(p, strict=False) for line in re.findall(r"^bgp export filter [0-9]+ include (.*)$", body, re.M) for p in re.findall(PREFIX, line)}
    return RouterView(int(local.group(1)) if local else None, neighbors, prefixes)


def parse_frr(text: str) -> RouterView:
    body = "\n".join(_lines(text, "!"))
    local = re.search(rf"^router bgp ({NUMBER})", body, re.M)
    local_as = int(local.group(1)) if local else None
    remote = dict(re.findall(r"^\s*neighbor (\S+) remote-as (\S+)", body, re.M))

    def asn(name: str) -> int:
        value = remote.get(name, "")
        return local_as if value == "internal" and local_as is not None else int(value) if re.fullmatch(NUMBER, value) else -1

    neighbors: dict[IPv4Address, int] = {}
    for address, group in re.findall(rf"^\s*neighbor ({IPV4}) peer-group (\S+)", body, re.M):
        neighbors[IPv4Address(address)] = asn(group)
    for address in remote:
        if re.fullmatch(IPV4, address):
            neighbors[IPv4Address(address)] = asn(address)
    prefixes = {IPv4Network(p, strict=False) for p in re.findall(rf"^ip prefix-list \S+ (?:seq [0-9]+ )?permit ({PREFIX})", body, re.M)}
    return RouterView(local_as, neighbors, prefixes)


def parse_bird(text: str) -> RouterView:
    body = "\n".join(_lines(text, "#"))
    local = re.search(rf"^\s*local (?:\S+ )?as ({NUMBER});", body, re.M)
    neighbors = {IPv4Address(a): int(asn) for a, asn in re.findall(rf"^\s*neighbor ({IPV4}) as ({NUMBER});", body, re.M)}
    prefixes = {IPv4Network(p, strict=False) for s in re.findall(r"\[([^\]]*)\]", body) for p in re.findall(PREFIX, s)}
    return RouterView(int(local.group(1)) if local else None, neighbors, prefixes)


PARSERS: dict[str, Callable[[str], RouterView]] = {"yamaha-rtx": parse_rtx, "frr": parse_frr, "bird": parse_bird}


def expected_prefixes(inv: Inventory) -> set[IPv4Network]:
    """What the cluster announces: the LoadBalancer pools, and the pod CIDR when podCIDRs are advertised."""
    assert inv.bgp is not None
    nets = {pool.cidr for pool in inv.load_balancer_pools} if inv.bgp.advertise.load_balancer_ips else set()
    return nets | ({inv.kubernetes.pod_cidr} if inv.bgp.advertise.pod_cidrs else set())


def router_problems(inv: Inventory, peer: BgpPeer, view: RouterView) -> list[str]:
    assert inv.bgp is not None
    problems = []
    if view.local_as != peer.asn:
        problems.append(f"the router's own AS is {view.local_as}, bgp.peers[{peer.name}].asn is {peer.asn}")
    want = {node.ip: inv.bgp.local_asn for node in inv.kubernetes_nodes}
    names = {node.ip: node.name for node in inv.kubernetes_nodes}
    for address, asn in sorted(want.items()):
        if address not in view.neighbors:
            problems.append(f"no neighbor {address} (node {names[address]})")
        elif view.neighbors[address] != asn:
            problems.append(f"neighbor {address} (node {names[address]}) has AS {view.neighbors[address]}, bgp.localASN is {asn}")
    problems += [f"neighbor {a} is not a Kubernetes node's IP" for a in sorted(view.neighbors.keys() - want.keys())]
    expected = expected_prefixes(inv)
    problems += [f"does not accept {net}, which the cluster announces" for net in sorted(expected - view.prefixes)]
    problems += [f"accepts {net}, which the cluster does not announce" for net in sorted(view.prefixes - expected)]
    return problems


def bgp_jobs(ctx: Context) -> list[Job]:
    inv = ctx.inventory
    if inv.bgp is None:
        return []

    def job(peer: BgpPeer) -> Job:
        path = layout.router_file(peer)

        def run() -> list[Result]:
            if not (ctx.repo / path).is_file():
                return [_result(BGP, path, [f"missing: bgp.peers[{peer.name}] needs its router configuration here"])]
            view = PARSERS[peer.router](_common.read(ctx, path))
            return [_result(BGP, path, router_problems(inv, peer, view), f"the router and the cluster must agree on the BGP sessions; {FIX}")]

        return _job(ctx, BGP, [path], run)

    return [job(peer) for peer in inv.bgp.peers]


# --- seeds -----------------------------------------------------------------------


def seeds_job(ctx: Context) -> Job:
    inv = ctx.inventory
    paths = [f"{layout.seed_dir(node)}/{name}" for node in inv.nodes for name in SEED_FILES]

    def run() -> list[Result]:
        results = []
        for node in inv.nodes:
            missing = [name for name in SEED_FILES if not (ctx.repo / layout.seed_dir(node) / name).is_file()]
            problems = [f"node {node.name} has no seed file {name}" for name in missing]
            results.append(_result(SEEDS, layout.seed_dir(node), problems, f"run `clusterforge render` to write the seeds; {FIX}"))
        return results

    return _job(ctx, SEEDS, paths, run)


# --- HAProxy backends -------------------------------------------------------------


def haproxy_servers(text: str) -> set[tuple[IPv4Address, int]]:
    return {(IPv4Address(a), int(p)) for a, p in re.findall(rf"^\s*server \S+ ({IPV4}):({NUMBER})", "\n".join(_lines(text, "#")), re.M)}


def backend_jobs(ctx: Context) -> list[Job]:
    inv = ctx.inventory
    want = {(cp.ip, inv.api_server.port): cp.name for cp in inv.control_planes}

    def job(path: str) -> Job:
        def run() -> list[Result]:
            servers = haproxy_servers(_common.read(ctx, path))
            problems = [f"control plane {name} ({a}:{p}) is not a backend server" for (a, p), name in sorted(want.items()) if (a, p) not in servers]
            problems += [f"backend server {a}:{p} is not a control plane's API server" for a, p in sorted(servers - want.keys())]
            return [_result(BACKENDS, path, problems)]

        return _job(ctx, BACKENDS, [path], run)

    return [job(path) for path in _common.repo_files(ctx, HAPROXY_FILES)]


# --- the API VIP ---------------------------------------------------------------------


def keepalived_vips(text: str) -> list[str]:
    blocks = re.findall(r"virtual_ipaddress\s*\{([^}]*)\}", "\n".join(_lines(text, "!")))
    return [line.split()[0].split("/")[0] for block in blocks for line in block.splitlines() if line.split()]


def haproxy_binds(text: str) -> list[str]:
    return re.findall(r"^\s*bind (\S+)", "\n".join(_lines(text, "#")), re.M)


def _yaml_documents(text: str) -> list[Any]:
    """The mapping documents, or none when the text is not YAML (the kubeconform check says so)."""
    try:
        return gitops.load_docs(text)
    except gitops.ManifestError:
        return []


def kubeadm_endpoints(text: str) -> list[str]:
    """controlPlaneEndpoint of ClusterConfigurations, apiServerEndpoint of token discovery."""
    found = []
    for doc in _yaml_documents(text):
        if "controlPlaneEndpoint" in doc:
            found.append(str(doc["controlPlaneEndpoint"]))
        token = _map(_map(doc.get("discovery")).get("bootstrapToken"))
        if "apiServerEndpoint" in token:
            found.append(str(token["apiServerEndpoint"]))
    return found


def vip_job(ctx: Context) -> Job:
    inv = ctx.inventory
    endpoint = inv.api_endpoint
    vip = str(inv.api_server.vip)
    keepalived = _common.repo_files(ctx, KEEPALIVED_FILES)
    haproxy = _common.repo_files(ctx, HAPROXY_FILES)
    kubeadm = _common.repo_files(ctx, KUBEADM_FILES)

    def problems_of(path: str) -> list[str]:
        text = _common.read(ctx, path)
        if path in keepalived:
            return [] if keepalived_vips(text) == [vip] else [f"virtual_ipaddress is {keepalived_vips(text)}, apiServer.vip is {vip}"]
        if path in haproxy:
            return [] if endpoint in haproxy_binds(text) else [f"no `bind {endpoint}` (binds: {haproxy_binds(text)})"]
        if path in kubeadm:
            return [f"API endpoint {e} is not {endpoint}" for e in kubeadm_endpoints(text) if e != endpoint]
        values = next(iter(_yaml_documents(text)), {})
        found = (str(values.get("k8sServiceHost")), str(values.get("k8sServicePort")))
        return [] if found == (vip, str(inv.api_server.port)) else [f"k8sServiceHost:k8sServicePort is {':'.join(found)}, the API endpoint is {endpoint}"]

    paths = [*keepalived, *haproxy, *kubeadm, layout.CILIUM_VALUES]

    def run() -> list[Result]:
        hint = f"every client of the API must use the one VIP; {FIX}"
        return [_result(VIP, p, problems_of(p) if (ctx.repo / p).is_file() else ["missing"], hint) for p in paths]

    return _job(ctx, VIP, paths, run)


# --- GitOps release vs bootstrap install ---------------------------------------------


def bootstrap_install(text: str) -> tuple[str | None, str | None]:
    """The values file (repository path) and chart version the bootstrap's helm command uses."""
    values = re.search(r'--values\s+"?\$\{repo_root\}/([^"\s]+)"?', text)
    version = re.search(r"--version\s+(\S+)", text)
    return (values.group(1) if values else None, version.group(1) if version else None)


def _map(value: Any) -> dict[str, Any]:
    """A field that should be a mapping; {} in a hand-broken file (kubeconform reports that)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _yaml_files(ctx: Context, directory: str) -> dict[str, list[Any]]:
    return {p: _yaml_documents(_common.read(ctx, p)) for p in _common.repo_files(ctx, f"{directory}/**/*.yaml")}


def flux_release(ctx: Context) -> tuple[set[str], set[str], list[str]]:
    """(values files, chart versions, files read) of the HelmReleases: the ConfigMaps their
    valuesFrom name, resolved through the configMapGenerators of the kustomizations."""
    files = _yaml_files(ctx, layout.CONTROLLERS_DIR)
    docs = [(p, d) for p, ds in files.items() for d in ds]
    specs = [_map(d.get("spec")) for _, d in docs if d.get("kind") == "HelmRelease"]
    wanted = {_map(v).get("name") for spec in specs for v in _list(spec.get("valuesFrom")) if _map(v).get("kind") == "ConfigMap"}
    values = set()
    for path, doc in docs:
        for generator in map(_map, _list(doc.get("configMapGenerator"))):
            if generator.get("name") in wanted:
                for entry in _list(generator.get("files")):
                    source = str(entry).split("=", 1)[-1]  # `key=path` or `path`
                    values.add((Path(path).parent / source).as_posix())
    versions = {str(_map(_map(spec.get("chart")).get("spec")).get("version")) for spec in specs}
    return values, versions, list(files)


def argocd_release(ctx: Context) -> tuple[set[str], set[str], list[str]]:
    """(values files, chart versions, files read) of the Helm sources of the Applications."""
    files = _yaml_files(ctx, layout.ARGOCD_DIR)
    values, versions = set(), set()
    for doc in (d for ds in files.values() for d in ds if d.get("kind") == "Application"):
        spec = _map(doc.get("spec"))
        for source in map(_map, [*_list(spec.get("sources")), *([spec["source"]] if "source" in spec else [])]):
            if "chart" in source:
                versions.add(str(source.get("targetRevision")))
                values |= {str(f).removeprefix("$values/") for f in _list(_map(source.get("helm")).get("valueFiles"))}
    return values, versions, list(files)


def gitops_job(ctx: Context) -> Job:
    inv = ctx.inventory
    release = flux_release if inv.gitops.engine == "flux" else argocd_release
    directory = layout.CONTROLLERS_DIR if inv.gitops.engine == "flux" else layout.ARGOCD_DIR
    paths = [layout.CILIUM_BOOTSTRAP, *_common.repo_files(ctx, f"{directory}/**/*.yaml")]

    def run() -> list[Result]:
        if not (ctx.repo / layout.CILIUM_BOOTSTRAP).is_file():
            return [_result(GITOPS, layout.CILIUM_BOOTSTRAP, ["missing"])]
        boot_values, boot_version = bootstrap_install(_common.read(ctx, layout.CILIUM_BOOTSTRAP))
        values, versions, _ = release(ctx)
        problems = []
        if values != {boot_values}:
            problems.append(f"the {inv.gitops.engine} release reads values from {sorted(values)}, the bootstrap install from {boot_values}")
        if boot_values and not (ctx.repo / boot_values).is_file():
            problems.append(f"the values file {boot_values} does not exist")
        if versions != {boot_version}:
            problems.append(f"the {inv.gitops.engine} release installs chart version {sorted(versions)}, the bootstrap install {boot_version}")
        hint = f"a release that differs from the bootstrap install changes Cilium when GitOps adopts it; {FIX}"
        return [_result(GITOPS, directory, problems, hint)]

    return _job(ctx, GITOPS, paths, run)
