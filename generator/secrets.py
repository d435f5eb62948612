"""The cluster's secrets: kubeadm bootstrap token and certificate key, BGP
session passwords, the cluster's CAs and service-account key pair (pki.py) and
the CA certificate hash they give.

They live only in `.clusterforge/secrets.yaml` (git-ignored, mode 0600) and are
merged into a node's seed when the seed is built (`clusterforge seed`), never
into a rendered file meant for git. Nothing clusterforge prints may contain
them either: messages and reports go through a Redactor built from the file.
"""

from __future__ import annotations

import re
import secrets as random
import stat
import string
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from . import pki, tools, yamlio
from .errors import ClusterforgeError, InventoryError, Problem
from .model import Inventory

# Matched whole (fullmatch): `$` would accept a trailing newline.
TOKEN = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")
CERTIFICATE_KEY = re.compile(r"[0-9a-f]{64}")
CA_CERT_HASH = re.compile(r"sha256:[0-9a-f]{64}")
_TOKEN_ALPHABET = string.ascii_lowercase + string.digits
MAX_BYTES = 1_000_000  # a secrets file holds a few hundred bytes; this bounds what is read


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


class SecretsFileError(InventoryError):
    """The secrets file cannot be read or holds something that is not a secret of ours;
    every problem is located (file:line) and never quotes the file's content."""


def read_file(path: Path, *, verify_pki: bool = True) -> ClusterSecrets:
    """The secrets in `path`, decrypted with sops when the file is SOPS-encrypted;
    `verify_pki` as for from_data."""
    text = _read_text(path)
    data = _parse(text, str(path))
    if isinstance(data, dict) and "sops" in data:
        sops = tools.require("sops")
        text = tools.run([str(sops), "--decrypt", "--input-type", "yaml", "--output-type", "yaml", str(path)]).stdout
        # Lines of the decrypted text are not the file's: problems name the file only.
        return from_data(_parse(text, f"{path} (decrypted)"), f"{path} (decrypted)", located=False, verify_pki=verify_pki)
    return from_data(data, str(path), verify_pki=verify_pki)


def _read_text(path: Path) -> str:
    source = str(path)
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise _invalid(source, 0, "is a directory, not a secrets file")
        if not stat.S_ISREG(mode):  # a FIFO would block, a device never end
            raise _invalid(source, 0, "is not a regular file")
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)  # never more: a huge (or sparse) file is not read whole
    except OSError as exc:
        raise _invalid(source, 0, f"cannot read it: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise _invalid(source, 0, f"is over {MAX_BYTES} bytes, which no secrets file of ours is")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _invalid(source, line, f"not UTF-8 text (byte {exc.start})") from None


# Quoted parts of a parser's complaint may be the file's content (a duplicate key's
# value, a scalar that is no valid date): only YAML punctuation such as ':' is kept.
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_PUNCTUATION = re.compile(r"""['"][!-/:-@\[-`{-~]?['"]""")


def _parse(text: str, source: str) -> object:
    try:
        return yamlio.loader().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = _QUOTED.sub(lambda m: m.group() if _PUNCTUATION.fullmatch(m.group()) else "'...'", exc.problem or exc.context or "")
        raise _invalid(source, mark.line + 1 if mark else 0, f"not valid YAML: {problem}") from None
    except ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise _invalid(source, line, f"not valid YAML: character #x{exc.character:04x} is not allowed") from None
    except YAMLError:
        raise _invalid(source, 0, "not valid YAML") from None
    except RecursionError:
        raise _invalid(source, 0, "not valid YAML: nested deeper than the parser can follow") from None


def _invalid(source: str, line: int, message: str) -> SecretsFileError:
    return SecretsFileError([Problem(line, "", message, source)])


def from_data(data: object, source: str, *, located: bool = True, verify_pki: bool = True) -> ClusterSecrets:
    """The secrets in a parsed secrets file; every problem names the key and (when
    `located`) its line, never its value. Without `verify_pki` the PKI files are taken as
    text, unproven (each RSA key check costs a tenth of a second)."""
    if not isinstance(data, dict):
        raise _invalid(source, 0, "expected a mapping of secrets (bootstrapToken:, certificateKey:, ...)")

    def line(key: str) -> int:
        return data.lc.key(key)[0] + 1 if located and key in data and hasattr(data, "lc") else 0

    problems = []
    token, key, ca_hash = data.get("bootstrapToken"), data.get("certificateKey"), data.get("caCertHash")
    passwords = data.get("bgpPasswords") or {}
    files = data.get("pki") or {}
    if not isinstance(token, str) or not TOKEN.fullmatch(token):
        problems.append(Problem(line("bootstrapToken"), "bootstrapToken", "not a kubeadm token ([a-z0-9]{6}.[a-z0-9]{16})", source))
    if not isinstance(key, str) or not CERTIFICATE_KEY.fullmatch(key):
        problems.append(Problem(line("certificateKey"), "certificateKey", "not 64 hex characters", source))
    if ca_hash is not None and (not isinstance(ca_hash, str) or not CA_CERT_HASH.fullmatch(ca_hash)):
        problems.append(Problem(line("caCertHash"), "caCertHash", "not sha256:<64 hex characters>", source))
    if not isinstance(passwords, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in passwords.items()):
        problems.append(Problem(line("bgpPasswords"), "bgpPasswords", "must map secret names to non-empty strings", source))
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        problems.append(Problem(line("pki"), "pki", "must map file names to PEM text", source))
    elif files and verify_pki:
        problems += [Problem(line("pki"), "pki", p, source) for p in pki.check(files)]
        if not problems and ca_hash != pki.ca_cert_hash(files[pki.CLUSTER_CA]):
            problems.append(Problem(line("caCertHash"), "caCertHash", "is not the hash of pki's ca.crt", source))
    if problems:
        raise SecretsFileError(problems)
    # Plain str: the loader's block scalars are str subclasses the dumper does not take.
    return ClusterSecrets(token, key, ca_hash, dict(passwords), {str(k): str(v) for k, v in files.items()})  # type: ignore[arg-type]


# --- redaction ---------------------------------------------------------------------


def named_values(values: ClusterSecrets) -> dict[str, str]:
    """name -> value of every secret, and of the parts that show up on their own:
    a token's id (`kubeadm token list`) and secret, a CA hash without its `sha256:`."""
    token_id, _, token_secret = values.bootstrap_token.partition(".")
    named = {
        "bootstrapToken": values.bootstrap_token,
        "bootstrapToken id": token_id,
        "bootstrapToken secret": token_secret,
        "certificateKey": values.certificate_key,
        **{f"bgpPasswords.{name}": password for name, password in sorted(values.bgp_passwords.items())},
    }
    if values.ca_cert_hash:
        named |= {"caCertHash": values.ca_cert_hash, "caCertHash digest": values.ca_cert_hash.removeprefix("sha256:")}
    for name, pem in sorted(values.pki.items()):
        if name.endswith(".key"):  # certificates and public keys are public
            named[f"pki.{name}"] = pem
            # A tool may echo part of a key: every base64 line of it counts on its own.
            body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
            named |= {f"pki.{name} line {i}": line for i, line in enumerate(body, 1)}
    return named


class Redactor:
    """Replaces every occurrence of a secret's value in a text by `<redacted NAME>`.

    All occurrences of all values are found first and overlapping ones merged, so a
    value inside another (the token's id inside the token) or two overlapping values
    leave nothing behind, however short, and a marker is never searched again."""

    def __init__(self, named: dict[str, str] | None = None):
        # Longest first: where values start at the same place, the marker names the longer.
        self._values = sorted(((value, name) for name, value in (named or {}).items() if value), key=lambda p: -len(p[0]))

    def __call__(self, text: str) -> str:
        spans = sorted(_occurrences(text, self._values), key=lambda s: (s[0], -s[1]))
        if not spans:
            return text
        merged: list[list] = []
        for start, end, name in spans:
            if merged and start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end, name])
        out, position = [], 0
        for start, end, name in merged:
            out += [text[position:start], f"<redacted {name}>"]
            position = end
        return "".join([*out, text[position:]])


def _occurrences(text: str, values: Iterable[tuple[str, str]]) -> Iterable[tuple[int, int, str]]:
    for value, name in values:
        start = text.find(value)
        while start != -1:
            yield start, start + len(value), name
            start = text.find(value, start + 1)


def redactor(path: Path) -> Redactor:
    """The Redactor of the secrets file at `path`; one that changes nothing when there is
    no such file or it cannot be read (then its values are unknown, and its own error
    never quotes them)."""
    try:
        # The values are what counts here, not whether the keys match their certificates.
        return Redactor(named_values(read_file(path, verify_pki=False))) if path.is_file() else Redactor()
    except (ClusterforgeError, OSError):  # OSError: even is_file() fails on a name too long
        return Redactor()
