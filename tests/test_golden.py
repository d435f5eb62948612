"""Golden files: the whole rendered tree of each scenario, kept as plain files in
tests/golden/<case>/ so a change to a renderer shows up as a reviewable diff.

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
from generator.render import tree

TESTS = Path(__file__).parent
GOLDEN = TESTS / "golden"
EXAMPLE = (TESTS.parent / "generator" / "data" / "cluster.example.yaml").read_text()
VARIANT = (TESTS / "data" / "variant.yaml").read_text()

CASES = {
    # The reference home lab as shipped (Flux), and the same lab on Argo CD.
    "koedo-lab-flux": EXAMPLE,
    "koedo-lab-argocd": EXAMPLE.replace("engine: flux ", "engine: argocd"),
    # The same lab bootstrapping itself: kubeadm and the Cilium install run from the seeds.
    "koedo-lab-auto": EXAMPLE + "\nbootstrap:\n  mode: auto\n",
    # eBGP to FRR, iBGP to BIRD, native routing, five control planes, two pools.
    "office-rack": VARIANT,
}


def rendered(case: str) -> dict[str, str]:
    return tree.render(loader.check_text(CASES[case], "cluster.yaml").inventory)


def on_disk(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_tree_matches_golden(case):
    assert CASES[case] != EXAMPLE or case == "koedo-lab-flux"  # the engine swap really happened
    files = rendered(case)
    root = GOLDEN / case
    if os.environ.get("CLUSTERFORGE_UPDATE_GOLDEN"):
        shutil.rmtree(root, ignore_errors=True)
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    golden = on_disk(root)
    assert sorted(files) == sorted(golden), "files added or removed: regenerate the golden files if intended"
    for rel, text in files.items():
        assert text == golden[rel], f"{case}/{rel} differs from its golden file"


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
    "password": re.compile(r"(?i)\b(password|pre-shared-key\s+\d+\s+text)\s*[:=]?\s+(?!<)[^\s#]{6,}"),
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
