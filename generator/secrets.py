"""The cluster's secrets: kubeadm bootstrap token and certificate key, BGP
session passwords, the cluster's CAs and service-account key pair (pki.py) and
the CA certificate hash they give.

They live only in `.clusterforge/secrets.yaml` (git-ignored, mode 0600) and are
merged into a node's seed when the seed is built (`clusterforge seed`), never
into a rendered file meant for git.
"""

from __future__ import annotations

import re
import secrets as random
import string
from dataclasses import dataclass, field, replace

from . import pki
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
    # The hash of pki's ca.crt; for a cluster whose CA `kubeadm init` made (before
    # render made them), the one its operator copied here.
    ca_cert_hash: str | None = None
    bgp_passwords: dict[str, str] = field(default_factory=dict)  # authSecretRef name -> password
    pki: dict[str, str] = field(default_factory=dict)  # file under /etc/kubernetes/pki -> PEM

    def as_data(self) -> dict:
        return {
            "bootstrapToken": self.bootstrap_token,
            "certificateKey": self.certificate_key,
            "caCertHash": self.ca_cert_hash,
            "bgpPasswords": dict(sorted(self.bgp_passwords.items())),
            **({"pki": dict(self.pki)} if self.pki else {}),
        }


def generate(inv: Inventory) -> ClusterSecrets:
    token = "".join(random.choice(_TOKEN_ALPHABET) for _ in range(6)) + "." + "".join(random.choice(_TOKEN_ALPHABET) for _ in range(16))
    return complete(ClusterSecrets(bootstrap_token=token, certificate_key=random.token_hex(32)), inv)


def complete(existing: ClusterSecrets, inv: Inventory) -> ClusterSecrets:
    """Add a password for every BGP peer that references one and has none yet, and the
    cluster's CAs unless it has a CA already (a caCertHash from a `kubeadm init` of
    before, whose CA must stay the cluster's)."""
    wanted = {p.auth_secret_ref for p in (inv.bgp.peers if inv.bgp else []) if p.auth_secret_ref}
    missing = {name: random.token_urlsafe(24) for name in sorted(wanted - existing.bgp_passwords.keys())}
    completed = replace(existing, bgp_passwords={**existing.bgp_passwords, **missing}) if missing else existing
    if not completed.pki and completed.ca_cert_hash is None:
        files = pki.generate()
        completed = replace(completed, pki=files, ca_cert_hash=pki.ca_cert_hash(files[pki.CLUSTER_CA]))
    return completed


def from_data(data: object, source: str) -> ClusterSecrets:
    if not isinstance(data, dict):
        raise ClusterforgeError(f"{source}: expected a mapping of secrets")
    problems = []
    token, key, ca_hash = data.get("bootstrapToken"), data.get("certificateKey"), data.get("caCertHash")
    passwords = data.get("bgpPasswords") or {}
    files = data.get("pki") or {}
    if not isinstance(token, str) or not TOKEN.match(token):
        problems.append("bootstrapToken: not a kubeadm token ([a-z0-9]{6}.[a-z0-9]{16})")
    if not isinstance(key, str) or not CERTIFICATE_KEY.match(key):
        problems.append("certificateKey: not 64 hex characters")
    if ca_hash is not None and (not isinstance(ca_hash, str) or not CA_CERT_HASH.match(ca_hash)):
        problems.append("caCertHash: not sha256:<64 hex characters>")
    if not isinstance(passwords, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in passwords.items()):
        problems.append("bgpPasswords: must map secret names to non-empty strings")
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        problems.append("pki: must map file names to PEM text")
    elif files:
        problems += [f"pki: {p}" for p in pki.check(files)]
        if not problems and ca_hash != pki.ca_cert_hash(files[pki.CLUSTER_CA]):
            problems.append("caCertHash: is not the hash of pki's ca.crt")
    if problems:
        raise ClusterforgeError("\n".join(f"{source}: {p}" for p in problems))
    # Plain str: the loader's block scalars are str subclasses the dumper does not take.
    return ClusterSecrets(token, key, ca_hash, dict(passwords), {str(k): str(v) for k, v in files.items()})  # type: ignore[arg-type]
