"""No secret in any file meant for git: kubeadm tokens, private keys, kubeadm
certificate keys, CA certificate hashes, and the actual values of the secrets
file. Findings name the file, the line and the kind of secret, never the value."""

from __future__ import annotations

import re

from ... import repo as repository
from ... import tools
from ...errors import ClusterforgeError
from ...render import layout
from ..base import Context, Job, Result
from . import _common

CHECK = "secrets"
MIN_VALUE_LENGTH = 8  # shorter secrets-file values would match ordinary words

PATTERNS: dict[str, re.Pattern[str]] = {
    # [a-z0-9]{6}.[a-z0-9]{16} with at least one digit: a word pair such as
    # dotted word pairs (a 6-letter word, a dot, 16 letters) are not tokens (a random token lacks a digit once in 1200).
    "a kubeadm bootstrap token": re.compile(r"(?<![A-Za-z0-9._-])(?=[a-z.]*[0-9])[a-z0-9]{6}\.[a-z0-9]{16}(?![A-Za-z0-9_-])"),
    "a private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
    "a kubeadm certificate key": re.compile(r"(?i)certificate[-_]?key[\"']?\s*[:=]?\s*[\"']?[0-9a-f]{64}(?![0-9a-f])"),
    # Not `image@sha256:...`: a container image digest is no secret.
    "a CA certificate hash": re.compile(r"(?<!@)sha256:[0-9a-f]{64}(?![0-9a-f])"),
}


def jobs(ctx: Context) -> list[Job]:
    files = _common.committed_files(ctx.repo)
    secrets_file = (ctx.repo / layout.SECRETS_FILE).is_file()
    inputs = (*files, *([layout.SECRETS_FILE] if secrets_file else []))

    def run() -> list[Result]:
        values, results = _known_values(ctx)
        for path in files:
            findings = scan(_common.read(ctx, path), values)
            hint = f"remove it and keep secrets only in {layout.SECRETS_FILE} (git-ignored); rotate it if it was ever pushed"
            results.append(Result(CHECK, path, not findings, "\n".join(findings), hint if findings else ""))
        return results

    # Whether sops is installed decides whether an encrypted secrets file can be read.
    return [Job(CHECK, inputs, run, extra_key=f"sops={tools.find_tool('sops')}")]


def _known_values(ctx: Context) -> tuple[dict[str, str], list[Result]]:
    """label -> value of every secret in the secrets file, and a failing Result if it cannot be read."""
    if not (ctx.repo / layout.SECRETS_FILE).is_file():
        return {}, []
    try:
        secrets = repository.read_secrets(ctx.repo)
    except ClusterforgeError as e:
        hint = "the files were scanned for secret patterns only; make the secrets file readable to scan for its values too"
        return {}, [Result(CHECK, layout.SECRETS_FILE, False, str(e), hint)]
    values = {
        "bootstrapToken": secrets.bootstrap_token,
        "certificateKey": secrets.certificate_key,
        "caCertHash": secrets.ca_cert_hash or "",
        **{f"bgpPasswords.{name}": value for name, value in secrets.bgp_passwords.items()},
    }
    return {label: v for label, v in values.items() if len(v) >= MIN_VALUE_LENGTH}, []


def scan(text: str, values: dict[str, str]) -> list[str]:
    """`line N: KIND` for every secret in text."""
    findings = []
    for n, line in enumerate(text.splitlines(), 1):
        kinds = [kind for kind, pattern in PATTERNS.items() if pattern.search(line)]
        kinds += [f"the value of {label} from {layout.SECRETS_FILE}" for label, value in values.items() if value in line]
        findings += [f"line {n}: {kind}" for kind in kinds]
    return findings
