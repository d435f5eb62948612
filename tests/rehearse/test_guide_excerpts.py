"""The guide's kubectl excerpts against the real kubectl and API server: one rehearsal of the
reference lab kept running (`--keep`), then the README's own commands for the states it
reaches, each excerpt held line for line and column by column against what kubectl prints.

Not compared here: `kubectl get nodes` right after `kubeadm init` (kwok keeps every node
Ready, so NotReady never shows), the cilium-dbg and flux CLIs (not run by the rehearsal)."""

from __future__ import annotations

import io
import os
import re
import shutil
import shlex
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from generator import cli, repo
from generator.model import Inventory
from generator.rehearse.kube import Kubectl
from generator.rehearse.run import Rehearsal
from generator.render.verification import kubectl_table
from generator.validate import caches

from .test_rehearse import rehearsal_tools  # noqa: F401  (the fixture: every binary the rehearsal runs)

pytestmark = pytest.mark.tools
# kubectl's relative AGE; any column past an excerpt's `...`.
VARIABLE = {"AGE"}
NODE_PORTS = range(30000, 32768)  # the API server's default --service-node-port-range


@dataclass(frozen=True)
class Kept:
    readme: str
    inv: Inventory
    kubectl: Kubectl


def _stop(err: str) -> None:
    """What `--keep` says to run to remove it all: each daemon's process group, then the folder."""
    found = re.search(r"remove it all: kill -- ((?:-[0-9]+ ?)+); rm -rf (\S+)", err)
    if found is None:
        return
    for group in found.group(1).split():
        pid = int(group.removeprefix("-"))
        try:
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)  # they are this process's children: reap them
        except (ProcessLookupError, ChildProcessError):
            pass
    shutil.rmtree(found.group(2), ignore_errors=True)


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Kept]:
    request.getfixturevalue("rehearsal_tools")
    root = tmp_path_factory.mktemp("reference") / "lab"
    repo.new(root, cli.example_text())
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(caches.CACHE_ENV, str(tmp_path_factory.mktemp("cache")))  # its record for `simulate`
        rehearsal = Rehearsal(root, keep=True, update=False)
        try:
            results = rehearsal.run(err)
            assert [r for r in results if not r.ok] == [], err.getvalue()
            assert rehearsal.kubectl is not None
            yield Kept((root / "README.md").read_text(), repo.load(root).inventory, rehearsal.kubectl)
        finally:
            _stop(err.getvalue())
    assert rehearsal.folder is not None and not rehearsal.folder.exists()



def guide_checks(readme: str) -> list[tuple[list[str], list[str]]]:
    """Each ```sh block of the guide with the ```text excerpt right after it."""
    blocks = re.findall(r"```(sh|text)\n(.*?)```", readme, flags=re.DOTALL)
    return [(a[1].splitlines(), b[1].splitlines()) for a, b in zip(blocks, blocks[1:]) if a[0] == "sh" and b[0] == "text"]


def excerpt_after(readme: str, first_command: str) -> tuple[list[str], list[str]]:
    found = [check for check in guide_checks(readme) if check[0][0] == first_command]
    assert found, f"no excerpt after {first_command!r} in the guide"
    return found[-1]


def cells(line: str) -> list[str]:
    # kubectl pads cells with 3 or more spaces; the excerpts with 2 or more; no cell holds two.
    return re.split(r" {2,}", line.rstrip())


def assert_table(excerpt: list[str], real: list[str], variable: set[str] = VARIABLE) -> None:
    """Each excerpt line is the real line, with the variable columns' sample values and the
    columns from `...` on left out; both laid out as kubectl lays out a table."""
    assert kubectl_table([cells(line) for line in real]) == real, "kubectl's own table layout changed"
    assert len(excerpt) == len(real), real
    header = cells(real[0])
    shown = []
    for excerpt_line, real_line in zip(excerpt, real, strict=True):
        want, got = cells(excerpt_line), cells(real_line)
        cut = want.index("...") if "..." in want else len(got)
        assert len(want) == (cut + 1 if "..." in want else cut), f"{excerpt_line!r} has not the columns of {real_line!r}"
        row = [w if header[i] in variable else g for i, (w, g) in enumerate(zip(want[:cut], got[:cut]))]
        shown.append(row + (["..."] if "..." in want else []))
    assert kubectl_table(shown) == excerpt


def test_the_joined_nodes_excerpt_is_kubectls(kept: Kept) -> None:
    """After the joins: every node, its role, Ready, the cluster's version, its address.
    (kwok stands in for the kubelets: VERSION is the one a node of that version reports;
    OS-IMAGE, KERNEL-VERSION and CONTAINER-RUNTIME are kwok's, which the excerpt leaves out.)"""
    commands, excerpt = excerpt_after(kept.readme, "kubectl get nodes -o wide")
    assert commands == ["kubectl get nodes -o wide"]
    real = kept.kubectl("get", "nodes", "-o", "wide").stdout.splitlines()
    assert_table(excerpt, real)


def test_the_first_node_ready_excerpt_is_kubectls(kept: Kept) -> None:
    """After Cilium: the first control plane alone, Ready (`kubectl get nodes` then lists only
    it; here the others have joined, so it is asked for by name)."""
    first = kept.inv.control_planes[0].name
    (commands, excerpt), = [c for c in guide_checks(kept.readme) if c[0][0] == "kubectl get nodes" and len(c[1]) == 3 and c[1][2] == "OK"]
    real = kept.kubectl("get", "nodes", first).stdout.splitlines()
    assert_table(excerpt[:2], real)


def test_the_loadbalancer_excerpt_is_kubectls(kept: Kept) -> None:
    """The last step's commands as the guide gives them, with the Cilium operator's LB IPAM:
    each Service's EXTERNAL-IP from its pool. CLUSTER-IP and the node port are picked at random
    by the API server: only their range is held."""
    commands, excerpt = [c for c in guide_checks(kept.readme) if any(" expose " in line for line in c[0])][-1]
    # The rehearsal's own probe Services would hold the pools' first addresses: the guide's cluster has none.
    for service in kept.kubectl.items("services", "default"):
        if service["spec"]["type"] == "LoadBalancer":
            kept.kubectl("delete", "service", service["metadata"]["name"], "--namespace", "default")
    (watch,) = [line for line in commands if line.endswith(" --watch")]
    for line in commands[: commands.index(watch)]:
        assert line.startswith("kubectl "), line
        kept.kubectl(*shlex.split(line)[1:])
    real: list[str] = []
    for _ in range(600):  # the operator assigns within seconds; bounded, not timed
        real = kept.kubectl(*shlex.split(watch.removesuffix(" --watch"))[1:]).stdout.splitlines()
        if "<pending>" not in "".join(real[1:]):
            break
        time.sleep(0.1)
    for line in [*real[1:], *excerpt[1:]]:
        _name, _type, cluster_ip, _external, ports, _age = cells(line)
        assert IPv4Address(cluster_ip) in kept.inv.kubernetes.service_cidr, line
        node_port = re.fullmatch(r"80:([0-9]+)/TCP", ports)
        assert node_port and int(node_port.group(1)) in NODE_PORTS, line
    assert_table(excerpt, real, VARIABLE | {"CLUSTER-IP", "PORT(S)"})
