"""The secrets scan over every file meant for git, with and without a git work tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from generator import loader, repo, tools
from generator.render import layout
from generator.validate.base import Context, Result
from generator.validate.checks import _common, secrets_scan
from support import copy

from . import failures, run

TOKEN = "k3x9qa." + "8h2m4n6p0r1s3t5v"  # FAKE, made up for this test (built in two parts)
SECRET_PART = "ghijklmnopqrstuv"  # FAKE: a token's 16-character second half, joined in the cases below
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


# --- patterns at their edges, findings per line, results whole ------------------------------------


@pytest.mark.parametrize(
    ("line", "kinds"),
    [
        (f"{TOKEN}", ["a kubeadm bootstrap token"]),
        (f"x{TOKEN}", []),  # part of a longer word
        (f"{TOKEN}x", []),
        (f"-{TOKEN}", []),
        (f"{TOKEN}.", ["a kubeadm bootstrap token"]),  # the end of a sentence
        ("abcdef." + SECRET_PART, []),  # letters only: two words
        ("abcde1." + SECRET_PART, ["a kubeadm bootstrap token"]),
        (("abcde1." + SECRET_PART).upper(), []),  # kubeadm's tokens are lower case
        (BEGIN + "PRIVATE KEY-----", ["a private key"]),
        (BEGIN + "ENCRYPTED PRIVATE KEY-----", ["a private key"]),
        (BEGIN + "PUBLIC KEY-----", []),
        (BEGIN + "CERTIFICATE-----", []),
        ('"certificate_key": "' + "ab" * 32 + '"', ["a kubeadm certificate key"]),
        ("CERTIFICATEKEY=" + "ab" * 32, ["a kubeadm certificate key"]),
        ("certificateKey: " + "ab" * 32 + "c", []),  # 65 hex digits: not a 32-byte key
        ("certificateKey: " + "ab" * 31, []),
        ("sha256:" + "ab" * 32 + "0", []),
        ("@sha256:" + "ab" * 32, []),
        (f"token: {TOKEN} and sha256:" + "ab" * 32, ["a kubeadm bootstrap token", "a CA certificate hash"]),
    ],
)
def test_patterns_at_their_edges(line: str, kinds: list[str]) -> None:
    assert secrets_scan.scan(f"{line}\n", {}) == [f"line 1: {kind}" for kind in kinds]


def test_values_are_found_on_every_line_they_are_on() -> None:
    values = {"bgpPasswords.tor-a": "s3cret-value", "certificateKey": "k" * 64}
    text = "a\ns3cret-value\nx s3cret-value y " + "k" * 64 + "\n"
    assert secrets_scan.scan(text, values) == [
        f"line 2: the value of bgpPasswords.tor-a from {layout.SECRETS_FILE}",
        f"line 3: the value of bgpPasswords.tor-a from {layout.SECRETS_FILE}",
        f"line 3: the value of certificateKey from {layout.SECRETS_FILE}",
    ]


def test_a_failed_file_s_result_whole_and_the_job(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    with (root / layout.README).open("a") as f:
        f.write(f"\n{TOKEN}\n{TOKEN}\n")
    line = len((root / layout.README).read_text().splitlines()) - 1
    ctx = Context(root, loader.check_file(root / layout.INVENTORY).inventory, tmp_path / "cache")
    [job] = secrets_scan.jobs(ctx)
    assert (job.check, job.inputs) == (secrets_scan.CHECK, (*_common.committed_files(root), layout.SECRETS_FILE))
    assert job.extra_key == f"sops={tools.find_tool('sops')}"
    results = {r.file: r for r in job.run()}
    assert results[layout.README] == Result(
        secrets_scan.CHECK, layout.README, False, f"line {line}: a kubeadm bootstrap token\nline {line + 1}: a kubeadm bootstrap token",
        f"remove it and keep secrets only in {layout.SECRETS_FILE} (git-ignored); rotate it if it was ever pushed",
    )
    assert results[layout.INVENTORY] == Result(secrets_scan.CHECK, layout.INVENTORY, True)


def test_the_secrets_file_s_values_are_every_secret_long_enough(reference: Path) -> None:
    ctx = Context(reference, loader.check_file(reference / layout.INVENTORY).inventory, reference.parent / "cache")
    secrets = repo.read_secrets(reference)
    values, results = secrets_scan._known_values(ctx)
    assert results == []
    assert values == {"bootstrapToken": secrets.bootstrap_token, "certificateKey": secrets.certificate_key, "caCertHash": secrets.ca_cert_hash}
    assert secrets_scan.MIN_VALUE_LENGTH == 8


def test_an_unreadable_secrets_file_is_a_failure_and_the_rest_is_still_scanned(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / layout.SECRETS_FILE).write_text("bootstrapToken: [\n")
    results = run(root, secrets_scan.jobs)
    [broken] = [r for r in results if r.file == layout.SECRETS_FILE]
    assert (broken.check, broken.ok) == (secrets_scan.CHECK, False)
    assert broken.hint == "the files were scanned for secret patterns only; make the secrets file readable to scan for its values too"
    assert len(results) > 1 and all(r.ok for r in results if r is not broken)


def test_without_a_secrets_file_the_patterns_still_count(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    (root / layout.SECRETS_FILE).unlink()
    ctx = Context(root, loader.check_file(root / layout.INVENTORY).inventory, tmp_path / "cache")
    assert secrets_scan._known_values(ctx) == ({}, [])
    [job] = secrets_scan.jobs(ctx)
    assert layout.SECRETS_FILE not in job.inputs
