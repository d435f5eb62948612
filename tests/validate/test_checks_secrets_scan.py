"""The secrets scan over every file meant for git, with and without a git work tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator import repo
from generator.render import layout
from generator.validate.checks import _common, secrets_scan
from support import copy

from . import failures, run

TOKEN = "k3x9qa." + "8h2m4n6p0r1s3t5v"  # FAKE, made up for this test (built in two parts)
BEGIN = "-----BEGIN "  # FAKE key headers are assembled so no tracked line looks like a key


def test_the_reference_has_no_secret_in_git(reference: Path) -> None:
    results = run(reference, secrets_scan.jobs)
    scanned = {r.file for r in results}
    assert {layout.README, layout.INVENTORY, "kubeadm/cp1-init.yaml", "nodes/cp1/user-data"} <= scanned
    assert layout.SECRETS_FILE not in scanned  # git-ignored: it is where secrets belong
    assert failures(results) == {}


def test_a_token_pasted_into_the_readme(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    with (root / layout.README).open("a") as f:
        f.write(f"\nJoin with `kubeadm join 192.168.100.4:6443 --token {TOKEN}`\n")
    failed = failures(run(root, secrets_scan.jobs))
    assert list(failed) == [layout.README]
    assert "a kubeadm bootstrap token" in failed[layout.README]
    assert TOKEN not in failed[layout.README]  # a report must not spread the secret


def test_a_secrets_file_value_pasted_anywhere(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    key = repo.read_secrets(root).certificate_key
    with (root / "loadbalancers/haproxy1/haproxy.cfg").open("a") as f:
        f.write(f"# key {key}\n")
    failed = failures(run(root, secrets_scan.jobs))
    assert list(failed) == ["loadbalancers/haproxy1/haproxy.cfg"]
    assert f"the value of certificateKey from {layout.SECRETS_FILE}" in failed["loadbalancers/haproxy1/haproxy.cfg"]
    assert key not in failed["loadbalancers/haproxy1/haproxy.cfg"]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (f"token: {TOKEN}", "a kubeadm bootstrap token"),
        (BEGIN + "OPENSSH PRIVATE KEY-----", "a private key"),
        (BEGIN + "RSA PRIVATE KEY-----", "a private key"),
        ("certificateKey: " + "3f" * 32, "a kubeadm certificate key"),
        ("--certificate-key " + "3f" * 32, "a kubeadm certificate key"),
        ("- sha256:" + "3f" * 32, "a CA certificate hash"),
    ],
)
def test_patterns_find(line: str, kind: str) -> None:
    assert secrets_scan.scan(f"x\n{line}\n", {}) == [f"line 2: {kind}"]


@pytest.mark.parametrize("line", ["see values." + "schemafilenamesx", "image: quay.io/cilium/cilium@sha256:" + "3f" * 32, "api.koedo-lab.home.arpa"])
def test_patterns_leave_alone(line: str) -> None:
    assert secrets_scan.scan(line, {}) == []


def test_ignored_files_are_not_scanned(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / "seeds/cp1").mkdir(parents=True)
    (root / "seeds/cp1/user-data").write_text(f"token: {TOKEN}\n")
    (root / "cp1.iso").write_text(TOKEN)
    results = run(root, secrets_scan.jobs)
    assert not any(r.file.startswith("seeds/") or r.file.endswith(".iso") for r in results)
    assert failures(results) == {}


def test_git_and_our_gitignore_reading_agree(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    for extra in ("seeds/cp1/user-data", "cp1.iso", ".nox/x/y", ".clusterforge/cache/a", "docs/notes.md"):
        (root / extra).parent.mkdir(parents=True, exist_ok=True)
        (root / extra).write_text("x\n")
    ours = _common.committed_files(root)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert (root / ".git").is_dir()
    assert _common.committed_files(root) == ours
    assert "docs/notes.md" in ours and layout.SECRETS_FILE not in ours and "cp1.iso" not in ours
