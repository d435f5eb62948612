"""Properties of the whole pipeline, on generated inventories:

- any inventory `check` accepts renders a repository that `validate` passes
  (variations of the reference lab: node counts and roles, names, addresses,
  hosts, pools, BGP peers of every router kind, engine, language, bootstrap
  mode, Cilium versions, routing options);
- `check FILE` and `new DIR --inventory FILE` agree on every input: both accept
  it, or both refuse it with the same messages (valid variations, and the fuzzers'
  broken ones).

validate runs the real tools (seconds per repository), so the number of examples
is small: CLUSTERFORGE_PROPERTY_EXAMPLES (5 by default; the nox `tests` session in
CI runs 10, about 3-4 minutes for both). The agreement property is cheaper and
runs four times as many.
"""

from __future__ import annotations

import io
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from generator import toolpins, versions, yamlio
from generator.model import MAX_CLUSTER_NODES
from generator.toolpins import DEBIAN_TOOLS, GO_TOOLS
from generator.validate import caches, commands

from test_fuzz import SEED_DATA, STRUCTURED, edited_bytes
from validate import CHARTS, NeedTool, fill_cache

EXAMPLES = int(os.environ.get("CLUSTERFORGE_PROPERTY_EXAMPLES", "5"))
PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
AGREEMENT = settings(PROPERTY, max_examples=4 * EXAMPLES)

EXAMPLE = SEED_DATA["example"]
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTheExampleOnlyDoNotUse000000"
# Cilium versions the offline chart cache holds, for the Kubernetes minor whose kubeadm CI builds.
KUBERNETES = toolpins.KUBERNETES_VERSION
CHART_VERSIONS = sorted(re.fullmatch(r"cilium-(.*)\.tgz", p.name)[1] for p in CHARTS.glob("cilium-*.tgz"))
CILIUM = [v for v in CHART_VERSIONS if versions.minor(KUBERNETES) in versions.CILIUM_TESTED_KUBERNETES.get(versions.minor(v), ())]

LABELS = st.from_regex(r"[a-z]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)


# --- valid variations of the reference lab ---------------------------------------------


@st.composite
def lab(draw: st.DrawFn) -> dict[str, Any]:
    """The reference lab with its shape drawn: every value is valid on its own, and
    the rules that relate values (unique names and addresses, disjoint ranges, role
    counts, router limits) are kept by construction."""
    data = json.loads(json.dumps(EXAMPLE))
    names = iter(draw(st.lists(LABELS, min_size=MAX_CLUSTER_NODES + 20, max_size=MAX_CLUSTER_NODES + 20, unique=True), label="names"))
    data["name"] = next(names)

    subnet = ipaddress.IPv4Network(f"192.168.{draw(st.integers(0, 255), label='subnet')}.0/24")
    control_planes = draw(st.sampled_from([1, 3, 5]), label="control planes")
    workers = draw(st.integers(0, 4), label="workers")
    balancers = draw(st.sampled_from([0, 2, 3]), label="load balancers")
    peers = draw(st.integers(0, 3), label="BGP peers")
    count = control_planes + workers + balancers
    hosts = draw(st.lists(st.integers(1, 254), min_size=count + peers + 2, max_size=count + peers + 2, unique=True), label="host numbers")
    address = iter(str(subnet[h]) for h in hosts)
    data["network"] |= {"subnet": str(subnet), "gateway": next(address), "dns": [str(subnet[1])]}
    data["network"]["interface"] = draw(st.sampled_from(["ens160", "ens18", "enp1s0", "eth0"]), label="interface")
    data["apiServer"]["vip"] = next(address)

    machines = [next(names) for _ in range(draw(st.integers(1, 4), label="hosts"))]
    data["hosts"] = [{"name": machine} for machine in machines]
    roles = ["control-plane"] * control_planes + ["worker"] * workers + ["loadbalancer"] * balancers
    data["nodes"] = [
        {"name": next(names), "role": role, "ip": next(address), "host": draw(st.sampled_from(machines), label="placement")} for role in roles
    ]
    data["ssh"]["authorizedKeys"] = [f"{KEY} {next(names)}@desktop" for _ in range(draw(st.integers(1, 3), label="keys"))]

    data["cilium"] |= {
        "version": draw(st.sampled_from(CILIUM or [EXAMPLE["cilium"]["version"]]), label="Cilium"),
        "routingMode": draw(st.sampled_from(["tunnel", "native"]), label="routing"),
        "kubeProxyReplacement": draw(st.booleans(), label="kube-proxy replacement"),
        "hubble": draw(st.booleans(), label="hubble"),
    }

    pool_count = draw(st.integers(1 if peers else 0, 3), label="pools")
    pool_nets = draw(st.lists(st.integers(0, 255), min_size=pool_count, max_size=pool_count, unique=True), label="pool networks")
    pools = [{"name": next(names), "cidr": f"172.16.{n}.0/{draw(st.sampled_from([24, 26, 28]), label='prefix')}"} for n in pool_nets]
    if len(pools) > 1:  # Cilium picks among pools that select the same Service at random
        for pool in pools:
            pool["serviceSelector"] = {"app.example.org/pool": pool["name"]}
        if draw(st.booleans(), label="a default pool"):
            pools[0] = {"name": pools[0]["name"], "cidr": pools[0]["cidr"], "default": True}
    data["loadBalancerPools"] = pools
    if not pools:
        del data["loadBalancerPools"]

    if peers:
        local_asn = draw(st.sampled_from([64512, 65001]), label="local AS")
        kinds = [draw(st.sampled_from(["yamaha-rtx", "frr", "bird"]), label="router") for _ in range(peers)]
        data["bgp"] = {
            "localASN": local_asn,
            "peers": [
                {"name": next(names), "address": next(address), "asn": draw(st.sampled_from([local_asn, 65100]), label="peer AS"), "router": kind}
                for kind in kinds
            ],
            "advertise": {"loadBalancerIPs": True, "podCIDRs": draw(st.booleans(), label="advertise pod CIDRs")},
        }
    else:
        del data["bgp"]

    engine = draw(st.sampled_from(["flux", "argocd"]), label="engine")
    urls = ["ssh://git@github.com/example/{}.git", "https://git.example.org/ops/{}.git"] + (["git@github.com:example/{}.git"] if engine == "argocd" else [])
    data["gitops"] = {
        "engine": engine,
        "repository": draw(st.sampled_from(urls), label="repository").format(data["name"]),
        "branch": draw(st.sampled_from(["main", "production", "clusters/lab", "release-1.35"]), label="branch"),
    }
    data["docs"] = {"language": draw(st.sampled_from(["en", "ja"]), label="language")}
    data["bootstrap"] = {"mode": draw(st.sampled_from(["manual", "auto"]), label="bootstrap")}
    return data


# --- running the commands --------------------------------------------------------------


def run(argv: list[str]) -> tuple[int, list[str]]:
    """A clusterforge command in a process of its own (`new` runs the template's hooks
    in processes too): its exit code and stderr lines."""
    done = subprocess.run([sys.executable, "-m", "generator", *argv], capture_output=True, text=True, timeout=600)
    return done.returncode, done.stderr.splitlines()


def check_and_new(raw: bytes, folder: Path) -> tuple[tuple[int, list[str]], tuple[int, list[str]]]:
    """`check` and `new --inventory` on the same file, named cluster.yaml as `new` names it."""
    path = folder / "cluster.yaml"
    path.write_bytes(raw)
    return run(["check", str(path)]), run(["new", str(folder / "lab"), "--inventory", str(path)])


def warnings_and_errors(lines: list[str]) -> list[str]:
    """What `check` says about an inventory: `new` adds its own progress lines."""
    return [line for line in lines if line.startswith(("warning: ", "cluster.yaml")) or re.fullmatch(r"[0-9]+ errors?", line)]


# --- the properties -----------------------------------------------------------------------


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shared CRD schemas and every Cilium chart the strategy draws from, as validate's cache."""
    cache = fill_cache(tmp_path / "cache", charts=tuple(f"cilium-{v}.tgz" for v in CILIUM))
    monkeypatch.setenv(caches.CACHE_ENV, str(cache))
    return cache


@pytest.mark.tools
def test_accepted_inventories_validate(need_tool: NeedTool, offline_cache: Path) -> None:
    for name in [*GO_TOOLS, *(name for name, tool in DEBIAN_TOOLS.items() if not tool.optional)]:
        need_tool(name)
    need_tool("kubeadm", kubernetes_version=KUBERNETES)
    assert CILIUM, f"no Cilium chart in {CHARTS} is tested with Kubernetes {KUBERNETES}"

    # Fixtures stay outside the property: hypothesis runs it many times within one test.
    @PROPERTY
    @given(data=lab())
    def accepted_inventory_validates(data: dict[str, Any]) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cluster.yaml"
            path.write_text(yamlio.dump(data), encoding="utf-8")
            assume(run(["check", str(path)])[0] == 0)  # the strategy keeps the rules; what it misses is no example
            code, err = run(["new", str(Path(tmp) / "repo"), "--inventory", str(path)])
            assert code == 0, err
            out = io.StringIO()
            code = commands.validate_command(Path(tmp) / "repo", "text", False, out)
            assert code == 0, "\n".join(line for line in out.getvalue().splitlines() if not line.startswith("PASS"))
            event(f"{data['gitops']['engine']}, {len(data.get('bgp', {}).get('peers', []))} BGP peers")

    accepted_inventory_validates()


@AGREEMENT
@given(data=st.data())
def test_check_and_new_agree(data: st.DataObject) -> None:
    """On valid labs and on the fuzzers' broken inventories (edited text and edited data)."""
    kind = data.draw(st.sampled_from(["lab", "edited text", "edited data"]), label="input")
    if kind == "lab":
        raw = yamlio.dump(data.draw(lab(), label="lab")).encode()
    elif kind == "edited text":
        raw = data.draw(edited_bytes(), label="text")
    else:
        doc = json.loads(json.dumps(SEED_DATA[data.draw(st.sampled_from(sorted(SEED_DATA)), label="seed")]))
        for _ in range(data.draw(st.integers(1, 3), label="mutations")):
            doc = data.draw(st.sampled_from(STRUCTURED), label="mutation")(data, doc)
        raw = yamlio.dump(doc).encode()
    with tempfile.TemporaryDirectory() as tmp:
        (check_code, check_err), (new_code, new_err) = check_and_new(raw, Path(tmp))
        event(f"{kind}: exit {check_code}")
        assert new_code == check_code, (check_err, new_err)
        assert warnings_and_errors(new_err) == check_err
        assert (Path(tmp) / "lab" / "cluster.yaml").is_file() == (check_code == 0)
