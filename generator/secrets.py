"""The cluster's secrets: kubeadm bootstrap token and certificate key, BGP
session passwords, the CA certificate hash once the first control plane exists.

They live only in `.clusterforge/secrets.yaml` (git-ignored, mode 0600) and are
merged into a node's seed when the seed is built (`clusterforge seed`), never
into a rendered file meant for git.
"""

from __future__ import annotations

import re
import secrets as random
import string
from dataclasses import dataclass, field, replace

from .errors import ClusterforgeError
from .model import Inventory

TOKEN = re.compile(r"^[a-z0-9]{6}\.[a-z0-9]{16}$")
CERTIFICATE_KEY = re.compile(r"^[0-9a-f]{64}$")
CA_CERT_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
_TOKEN_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class ClusterSecrets:
    bootstrap_token: str
    certificate_key: str
    # Known only after `kubeadm init` created the CA on the first control plane.
    ca_cert_hash: str | None = None
    bgp_passwords: dict[str, str] = field(default_factory=dict)  # authSecretRef name -> password

    def as_data(self) -> dict:
        return {
            "bootstrapToken": self.bootstrap_token,
            "certificateKey": self.certificate_key,
            "caCertHash": self.ca_cert_hash,
            "bgpPasswords": dict(sorted(self.bgp_passwords.items())),
        }


def generate(inv: Inventory) -> ClusterSecrets:
    token = "".join(random.choice(_TOKEN_ALPHABET) for _ in range(6)) + "." + "".join(random.choice(_TOKEN_ALPHABET) for _ in range(16))
    return complete(ClusterSecrets(bootstrap_token=token, certificate_key=random.token_hex(32)), inv)


def complete(existing: ClusterSecrets, inv: Inventory) -> ClusterSecrets:
    """Add a password for every BGP peer that references one and has none yet."""
    wanted = {p.auth_secret_ref for p in (inv.bgp.peers if inv.bgp else []) if p.auth_secret_ref}
    missing = {name: random.token_urlsafe(24) for name in sorted(wanted - existing.bgp_passwords.keys())}
    return replace(existing, bgp_passwords={**existing.bgp_passwords, **missing}) if missing else existing


def from_data(data: object, source: str) -> ClusterSecrets:
    if not isinstance(data, dict):
        raise ClusterforgeError(f"{source}: expected a mapping of secrets")
    problems = []
    token, key, ca_hash = data.get("bootstrapToken"), data.get("certificateKey"), data.get("caCertHash")
    passwords = data.get("bgpPasswords") or {}
    if not isinstance(token, str) or not TOKEN.match(token):
        problems.append("bootstrapToken: not a kubeadm token ([a-z0-9]{6}.[a-z0-9]{16})")
    if not isinstance(key, str) or not CERTIFICATE_KEY.match(key):
        problems.append("certificateKey: not 64 hex characters")
    if ca_hash is not None and (not isinstance(ca_hash, str) or not CA_CERT_HASH.match(ca_hash)):
        problems.append("caCertHash: not sha256:<64 hex characters>")
    if not isinstance(passwords, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in passwords.items()):
        problems.append("bgpPasswords: must map secret names to non-empty strings")
    if problems:
        raise ClusterforgeError("\n".join(f"{source}: {p}" for p in problems))
    return ClusterSecrets(token, key, ca_hash, dict(passwords))  # type: ignore[arg-type]
