"""The rehearsal's assertions, each a report line: read from the live API server after
the engine has converged."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ..model import Inventory
from ..validate.base import Result
from ..simulate.speakers import selects

ADOPTED = "5. HelmRelease adopted the bootstrap release"
ADOPTED_BY_APPLICATION = "5. Application adopted the bootstrap release"
LB_IPS = "6. LoadBalancer IPs from their pools"
POOLS = "6. LoadBalancer pools"
ADVERTISED = "7. BGP advertisements select Services"
NODE_CONFIGS = "7. CiliumBGPNodeConfig per node"
POOL_CONFLICT = "cilium.io/PoolConflict"
PROBE_LABEL = "rehearse.clusterforge.dev/pool"


def _name(obj: dict[str, Any]) -> str:
    m = obj["metadata"]
    return f"{obj['kind']} {m['namespace']}/{m['name']}" if m.get("namespace") else f"{obj['kind']} {m['name']}"


def helm_history(helm: list[dict[str, Any]], release: str, namespace: str, values_file: dict[str, Any],
                 adopted_values: dict[str, Any], elapsed: float) -> Result:
    """The bootstrap installed revision 1; the HelmRelease's first sync must be revision 2,
    an upgrade of the same release with the values file's values (no uninstall, no second install)."""
    shown = [f"  revision {h['revision']}: {h['status']}, {h.get('description', '')}" for h in helm]
    problems = []
    if [h["revision"] for h in helm] != [1, 2]:
        problems.append(f"expected revisions 1 (the bootstrap's install) and 2 (Flux's upgrade), found {[h['revision'] for h in helm]}")
    elif not helm[0].get("description", "").startswith("Install complete") or not helm[1].get("description", "").startswith("Upgrade complete"):
        problems.append("revision 1 must be the bootstrap's install and revision 2 an upgrade")
    if adopted_values != values_file:
        problems.append("the upgraded release's values differ from the values file")
    where = f"release {release} in namespace {namespace}"
    message = "\n".join([f"{where}, after {elapsed:.1f} s:", *shown, *problems])
    return Result(ADOPTED, "infrastructure/controllers/cilium/helmrelease.yaml", not problems, message)


def _identity(obj: dict[str, Any]) -> tuple[str, str, str]:
    m = obj["metadata"]
    return obj["kind"], m.get("namespace", ""), m["name"]


def application_adoption(installed: list[dict[str, Any]], live: list[dict[str, Any]], helm: list[dict[str, Any]],
                         application: str, tracking: str, elapsed: float) -> Result:
    """Argo CD applies the chart's objects itself and never reads Helm's release records, so
    adoption is: every object the bootstrap installed is still there with the same UID (not
    deleted and made again) and now carries the Application's tracking annotation, and the Helm
    release is as the bootstrap left it (revision 1 only: no uninstall, no upgrade).
    `installed`: the release's objects before Argo CD started; `live`: the same ones now."""
    now = {_identity(o): o for o in live}
    problems = []
    for before in installed:
        kind, namespace, name = _identity(before)
        shown = f"{kind} {namespace + '/' if namespace else ''}{name}"
        after = now.get(_identity(before))
        if after is None:
            problems.append(f"{shown} was deleted")
        elif after["metadata"]["uid"] != before["metadata"]["uid"]:
            problems.append(f"{shown} was deleted and created again (new UID)")
        elif not after["metadata"].get("annotations", {}).get(tracking, "").startswith(f"{application}:"):
            problems.append(f"{shown} is not tracked by Application {application}")
    kept = len(installed) - len(problems)
    if [h["revision"] for h in helm] != [1]:
        problems.append(f"expected the Helm release to keep only revision 1 (the bootstrap's install), found {[h['revision'] for h in helm]}")
    shown_history = [f"  revision {h['revision']}: {h['status']}, {h.get('description', '')}" for h in helm]
    lines = [f"{kept} of the {len(installed)} objects the bootstrap's Helm release installed kept with their UIDs and tracked by "
             f"Application {application}, after {elapsed:.1f} s; the Helm release:", *shown_history, *problems]
    return Result(ADOPTED_BY_APPLICATION, "argocd/apps/cilium.yaml", not problems, "\n".join(lines))


def probe_services(inv: Inventory) -> list[dict[str, Any]]:
    """One LoadBalancer Service per pool, labelled so that exactly that pool's selector picks it."""
    out = []
    for pool in inv.load_balancer_pools:
        labels = {PROBE_LABEL: pool.name, **pool.service_selector}
        out.append({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"rehearse-{pool.name}", "namespace": "default", "labels": labels},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "protocol": "TCP"}]},
        })
    return out


def lb_addresses(inv: Inventory, services: list[dict[str, Any]], elapsed: float, check: str = LB_IPS) -> list[Result]:
    by_pool = {s["metadata"]["labels"].get(PROBE_LABEL): s for s in services}
    results = []
    for pool in inv.load_balancer_pools:
        service = by_pool.get(pool.name)
        ingress = (service or {}).get("status", {}).get("loadBalancer", {}).get("ingress", [])
        ips = [i["ip"] for i in ingress if "ip" in i]
        ok = bool(ips) and all(IPv4Address(ip) in IPv4Network(pool.cidr) for ip in ips)
        got = ", ".join(ips) or "no address"
        labelled = "".join(f" {k}={v}" for k, v in sorted(pool.service_selector.items()))
        message = f"Service default/rehearse-{pool.name}{' labelled' + labelled if labelled else ''}: {got}, pool {pool.name} is {pool.cidr} (after {elapsed:.1f} s)"
        results.append(Result(check, "infrastructure/configs/lb-ippools.yaml", ok, message))
    return results


def pools(pool_objects: list[dict[str, Any]]) -> list[Result]:
    """Cilium's own verdict on each pool: a pool whose blocks overlap another's is marked conflicting."""
    results = []
    for pool in pool_objects:
        conditions = {c["type"]: c for c in pool.get("status", {}).get("conditions", [])}
        conflict = conditions.get(POOL_CONFLICT, {})
        ok = conflict.get("status") != "True"
        message = f"{_name(pool)}: " + ("no conflict" if ok else f"conflicting: {conflict.get('message', '')}")
        results.append(Result(POOLS, "infrastructure/configs/lb-ippools.yaml", ok, message))
    return results


def advertisements(adverts: list[dict[str, Any]], services: list[dict[str, Any]]) -> list[Result]:
    """Every Service advertisement must select at least one of the LoadBalancer Services: one
    that selects none announces nothing (Cilium accepts it silently)."""
    results = []
    lb = [s for s in services if s["spec"].get("type") == "LoadBalancer"]
    for advert in adverts:
        for entry in advert["spec"].get("advertisements", []):
            if entry.get("advertisementType") != "Service":
                continue
            # As Cilium reads it: no selector selects nothing, an empty one everything.
            picked = [s["metadata"]["name"] for s in lb if selects(entry.get("selector"), s["metadata"].get("labels", {}))]
            ok = bool(picked)
            message = f"{_name(advert)} selects " + (", ".join(sorted(picked)) if ok else "no LoadBalancer Service")
            results.append(Result(ADVERTISED, "infrastructure/configs/cilium-bgp.yaml", ok, message))
    return results


def node_configs(inv: Inventory, nodes: list[dict[str, Any]], cluster_configs: list[dict[str, Any]],
                 node_configs_found: list[dict[str, Any]], elapsed: float) -> list[Result]:
    """A CiliumBGPNodeConfig for each node a cluster config selects, with the inventory's local
    ASN and peers (name, address, ASN, peer config), and none for any other node."""
    assert inv.bgp is not None
    found = {c["metadata"]["name"]: c for c in node_configs_found}
    wanted_peers = sorted((p.name, str(p.address), p.asn, p.name) for p in inv.bgp.peers)
    results = []
    for node in nodes:
        name = node["metadata"]["name"]
        # An absent nodeSelector selects every node (Cilium's default).
        selected = any(selects(c["spec"].get("nodeSelector", {}), node["metadata"].get("labels", {})) for c in cluster_configs)
        config = found.get(name)
        if not selected:
            ok = config is None
            message = f"node {name} is not selected: " + ("no CiliumBGPNodeConfig" if ok else "yet it has a CiliumBGPNodeConfig")
        elif config is None:
            ok, message = False, f"node {name} is selected but has no CiliumBGPNodeConfig (after {elapsed:.1f} s)"
        else:
            problems = []
            instances = config["spec"].get("bgpInstances", [])
            if [i.get("localASN") for i in instances] != [inv.bgp.local_asn]:
                problems.append(f"local ASNs {[i.get('localASN') for i in instances]}, want [{inv.bgp.local_asn}]")
            peers = sorted(
                (p["name"], p.get("peerAddress"), p.get("peerASN"), p.get("peerConfigRef", {}).get("name"))
                for i in instances for p in i.get("peers", [])
            )
            if peers != wanted_peers:
                problems.append(f"peers {peers}, want {wanted_peers}")
            ok = not problems
            shown = ", ".join(f"{p[0]} {p[1]} AS{p[2]}" for p in peers)
            message = f"node {name}: local AS{inv.bgp.local_asn}, peers {shown}" + ("" if ok else "; " + "; ".join(problems))
        results.append(Result(NODE_CONFIGS, "infrastructure/configs/cilium-bgp.yaml", ok, message))
    return results


def release_upgraded(helm: list[dict[str, Any]], release: str, namespace: str, version: str,
                     values_before: dict[str, Any], values_after: dict[str, Any], check: str) -> Result:
    """The bump is one more revision of the same release: an upgrade to the new chart (no
    uninstall, no second install), with the values of the revision before."""
    shown = [f"  revision {h['revision']}: {h['status']}, {h.get('chart', '')}, {h.get('description', '')}" for h in helm]
    problems = []
    revisions = [h["revision"] for h in helm]
    if revisions != list(range(1, len(helm) + 1)) or len(helm) < 3:
        problems.append(f"expected one more revision than the bootstrap's install and Flux's upgrade, found {revisions}")
    else:
        last = helm[-1]
        if last["status"] != "deployed" or not last.get("description", "").startswith("Upgrade complete") or last.get("chart") != f"{release}-{version}":
            problems.append(f"the last revision must be a deployed upgrade to the chart {release}-{version}")
        if any(h["status"] != "superseded" for h in helm[:-1]):
            problems.append("every earlier revision must be superseded")
    if values_after != values_before:
        problems.append("the upgrade changed the release's values")
    message = "\n".join([f"release {release} in namespace {namespace} upgraded to the chart {version} with the same values:", *shown, *problems])
    return Result(check, "infrastructure/controllers/cilium/helmrelease.yaml", not problems, message)


def _images(pod_spec: dict[str, Any]) -> list[str]:
    return [c["image"] for key in ("initContainers", "containers") for c in pod_spec.get(key, [])]


def rollouts(workloads: list[dict[str, Any]], rendered: list[dict[str, Any]], pods: list[dict[str, Any]], version: str,
             check: str, source: str) -> list[Result]:
    """Each DaemonSet and Deployment the new chart changed runs its images (as the chart renders
    them), every replica updated, and every one of its pods (kwok's) runs them and is Ready."""
    wanted = {(o["kind"], o["metadata"]["name"]): _images(o["spec"]["template"]["spec"]) for o in rendered if o.get("kind") in ("DaemonSet", "Deployment")}
    results = []
    for obj in workloads:
        kind, meta, status = obj["kind"], obj["metadata"], obj.get("status", {})
        images = _images(obj["spec"]["template"]["spec"])
        selector = obj["spec"]["selector"]
        live = [p for p in pods if p["metadata"]["namespace"] == meta["namespace"] and not p["metadata"].get("deletionTimestamp")
                and selects(selector, p["metadata"].get("labels", {}))]
        ready = [p for p in live if _images(p["spec"]) == images and _pod_ready(p)]
        desired = status.get("desiredNumberScheduled") if kind == "DaemonSet" else obj["spec"].get("replicas", 1)
        updated = status.get("updatedNumberScheduled") if kind == "DaemonSet" else status.get("updatedReplicas")
        problems = []
        if images != wanted.get((kind, meta["name"])):
            problems.append(f"the chart {version} renders {', '.join(wanted.get((kind, meta['name']), []))}")
        if status.get("observedGeneration", 0) < meta.get("generation", 0) or updated != desired:
            problems.append(f"{updated} of {desired} updated")
        if len(ready) != desired or len(live) != desired:
            problems.append(f"{len(ready)} of {len(live)} pods run these images and are Ready")
        shown = ", ".join(dict.fromkeys(images))
        message = f"{kind} {meta['namespace']}/{meta['name']}: {len(ready)} of {desired} pods updated and Ready under kwok, image{'s' if len(set(images)) > 1 else ''} {shown}"
        results.append(Result(check, source, not problems, message + "".join(f"; {p}" for p in problems)))
    return results


def _pod_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))
