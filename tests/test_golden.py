"""Golden files: the whole rendered tree of each scenario, kept as plain files in
tests/golden/<case>/, and the runbooks `clusterforge plan` writes for each change
in tests/golden/changes/<change>/, so a change to a renderer shows up as a
reviewable diff.

Regenerate after an intended change with:
    CLUSTERFORGE_UPDATE_GOLDEN=1 pytest tests/test_golden.py
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from generator import loader
from generator.model import Inventory
from generator.render import change_runbooks, tree

TESTS = Path(__file__).parent
GOLDEN = TESTS / "golden"
EXAMPLE = (TESTS.parent / "generator" / "data" / "cluster.example.yaml").read_text()
VARIANT = (TESTS / "data" / "variant.yaml").read_text()
FULL = (TESTS / "data" / "full.yaml").read_text()
EBGP = (TESTS / "data" / "ebgp.yaml").read_text()
MINIMAL = (TESTS / "data" / "minimal.yaml").read_text()

CASES = {
    # The reference home lab as shipped (Flux), and the same lab on Argo CD.
    "koedo-lab-flux": EXAMPLE,
    "koedo-lab-argocd": EXAMPLE.replace("engine: flux ", "engine: argocd"),
    # The same lab bootstrapping itself: kubeadm and the Cilium install run from the seeds.
    "koedo-lab-auto": EXAMPLE + "\nbootstrap:\n  mode: auto\n",
    # eBGP to FRR, iBGP to BIRD, native routing, five control planes, two pools.
    "office-rack": VARIANT,
    # Every optional field set (BGP passwords on all three router kinds, among others).
    "rack-full": FULL,
    # eBGP through a BIRD router off the nodes' segment (multihop), with a password.
    "ebgp-multihop": EBGP,
    # No load balancers (the operator serves the API endpoint), no BGP, no pools.
    "mini-lab": MINIMAL,
}


# Edits of an inventory's text: (old, new) pairs, each of which must be found.
Edit = tuple[str, str]
AUTO = "\nbootstrap:\n  mode: auto\n"
JA = EXAMPLE + "\ndocs:\n  language: ja\n"  # every runbook in English and Japanese
WORKER3 = "  - {name: worker3,  role: worker,        ip: 192.168.100.98, host: nuc3}\n"
WORKER4 = "  - {name: worker4,  role: worker,        ip: 192.168.100.99, host: nuc3}\n"
CP4_CP5 = "  - {name: cp4, role: control-plane, ip: 192.168.100.14, host: nuc3}\n  - {name: cp5, role: control-plane, ip: 192.168.100.15, host: nuc2}\n"
LB2 = "  - {name: haproxy2, role: loadbalancer,  ip: 192.168.100.3,  host: nuc2}\n"
LB3 = "  - {name: haproxy3, role: loadbalancer,  ip: 192.168.100.5,  host: nuc3}\n"
RACK_CP4 = "  - {name: cp4, role: control-plane, ip: 198.51.100.24, host: pve4}\n"
RACK_CP5 = "  - {name: cp5, role: control-plane, ip: 198.51.100.25, host: pve5}\n"
RACK_W3 = "  - {name: w3, role: worker, ip: 198.51.100.33, host: pve3, vm: {cpus: 8, memoryGiB: 32, diskGiB: 200}}\n"
K8S_1_35_4, CILIUM_1_19_6 = 'version: "1.35.4"', "version: 1.19.6"

# change -> (inventory text, edits making the old inventory, edits making the new one): every kind
# of runbook `plan` writes (Kubernetes minor and patch upgrades, a containerd major change, Cilium
# upgrades across minors, nodes added and removed in each role and bootstrap mode, each router),
# in both languages but for one.
CHANGES: dict[str, tuple[str, list[Edit], list[Edit]]] = {
    "kubernetes-minor": (JA, [(K8S_1_35_4, 'version: "1.34.4"')], []),
    "kubernetes-patch": (JA, [], [(K8S_1_35_4, 'version: "1.35.9"')]),
    "kubernetes-and-cilium-minor": (JA, [], [(K8S_1_35_4, 'version: "1.36.4"'), (CILIUM_1_19_6, "version: 1.20.0")]),
    "cilium-two-minors": (JA, [(CILIUM_1_19_6, "version: 1.18.12"), (K8S_1_35_4, 'version: "1.33.9"')], [(CILIUM_1_19_6, "version: 1.20.0"), (K8S_1_35_4, 'version: "1.33.9"')]),
    "add-worker": (EXAMPLE, [], [(WORKER3, WORKER3 + WORKER4)]),
    "add-worker-auto": (JA + AUTO, [], [(WORKER3, WORKER3 + WORKER4)]),
    "add-control-planes": (JA, [], [("3 control planes", ""), (WORKER3, WORKER3 + CP4_CP5)]),
    "remove-worker-rtx": (JA, [], [(WORKER3, "")]),
    "add-loadbalancer": (JA, [], [(LB2, LB2 + LB3)]),
    "remove-loadbalancer": (JA, [(LB2, LB2 + LB3)], []),
    "rack-remove-control-planes": (VARIANT, [], [(RACK_CP4, ""), (RACK_CP5, "")]),
    "rack-upgrade-and-swap-worker": (
        VARIANT,
        [('version: "1.34.4"', 'version: "1.33.9"'), (CILIUM_1_19_6, "version: 1.18.12")],
        [(RACK_W3, "  - {name: w4, role: worker, ip: 198.51.100.34, host: pve3, vm: {cpus: 4, memoryGiB: 16, diskGiB: 100}}\n")],
    ),
}


def edited(text: str, edits: list[Edit]) -> Inventory:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return loader.check_text(text, "cluster.yaml").inventory


def runbooks(change: str) -> dict[str, str]:
    text, old, new = CHANGES[change]
    return change_runbooks.for_change(edited(text, old), edited(text, new))


def rendered(case: str) -> dict[str, str]:
    return tree.render(loader.check_text(CASES[case], "cluster.yaml").inventory)


def on_disk(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_tree_matches_golden(case):
    assert CASES[case] != EXAMPLE or case == "koedo-lab-flux"  # the engine swap really happened
    matches_golden(rendered(case), GOLDEN / case)


def matches_golden(files: dict[str, str], root: Path) -> None:
    if os.environ.get("CLUSTERFORGE_UPDATE_GOLDEN"):
        shutil.rmtree(root, ignore_errors=True)
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    golden = on_disk(root)
    assert sorted(files) == sorted(golden), "files added or removed: regenerate the golden files if intended"
    for rel, text in files.items():
        assert text == golden[rel], f"{root.relative_to(GOLDEN)}/{rel} differs from its golden file"


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_change_runbooks_match_golden(change):
    files = runbooks(change)
    assert files, f"{change} makes no runbook"
    matches_golden(files, GOLDEN / "changes" / change)


@pytest.mark.parametrize("case", sorted(CASES))
def test_render_is_deterministic(case):
    first, second = rendered(case), rendered(case)
    assert first == second
    assert list(first) == sorted(first)


# What kubeadm tokens, certificate keys, CA hashes, private keys and passwords look like.
SECRET_PATTERNS = {
    "bootstrap token": re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b"),
    "certificate key": re.compile(r"(?i)certificate[-_]?key\"?'?\s*[:=]\s*\"?'?[0-9a-f]{64}"),
    "private key": re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----"),
    "CA cert hash": re.compile(r"sha256:[0-9a-f]{64}"),
    "password": re.compile(r"(?i)\b(password|pre-shared-key\s+\d+\s+text)\s*[:=]?\s+(?!\"?<)[^\s#]{6,}"),  # not a <PLACEHOLDER>
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_no_secret_in_any_committed_file(case):
    for rel, text in rendered(case).items():
        for what, pattern in SECRET_PATTERNS.items():
            match = pattern.search(text)
            assert match is None, f"{rel} contains what looks like a {what}: {match.group(0)!r}"


def test_secret_scan_catches_secrets():
    """The scan above can fail: each pattern matches a planted secret (all FAKE, made up here)."""
    planted = {
        "bootstrap token": "token: abcdef." + "0123456789abcdef",
        "certificate key": "certificateKey: " + "ab" * 32,
        "private key": "-----BEGIN " + "EC PRIVATE KEY-----",
        "CA cert hash": "caCertHashes: [sha256:" + "0" * 64 + "]",
        "password": "neighbor CILIUM password s3cretpass",
    }
    for what, text in planted.items():
        assert SECRET_PATTERNS[what].search(text), what
    # BIRD quotes its password; the runbooks' <PASSWORD> placeholder, quoted or not, is no secret.
    assert SECRET_PATTERNS["password"].search('  password "s3cretpass";')
    assert not SECRET_PATTERNS["password"].search('  password "<PASSWORD>";\nbgp neighbor pre-shared-key 1 text <PASSWORD>')
