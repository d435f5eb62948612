r"""The formats of inventory values, each a check that returns the value or raises
ValueError with the message the user sees (pydantic adds the field's location).

Every pattern matches the whole string in ASCII (fullmatch, re.ASCII, [0-9] not
\d): `$` would accept a trailing newline and `\d` the digits of every script,
and these values become file names, config lines and shell command arguments.
"""

from __future__ import annotations

import base64
import re

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
_SEMVER = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+", re.ASCII)
_MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", re.ASCII)
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}", re.ASCII)
_DOMAIN_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}\Z){_DOMAIN_LABEL}(\.{_DOMAIN_LABEL})*", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)
_AGE_RECIPIENT = re.compile(r"age1[0-9a-z]{58}", re.ASCII)
SHOWN_CHARACTERS = 40

# The public key types OpenSSH on Ubuntu 22.04 accepts (ssh-dss is disabled there).
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
)
SSH_KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")
MAX_SSH_KEY_CHARACTERS = 8192  # an RSA key of 16384 bits, the largest ssh-keygen makes, is about 2,800


def shown(value: str) -> str:
    """A value as messages quote it: on one line, and cut short when long."""
    if len(value) <= SHOWN_CHARACTERS:
        return repr(value)
    return f"{value[:SHOWN_CHARACTERS]!r}... ({len(value)} characters)"


def label(value: str) -> str:
    if not _LABEL.fullmatch(value):
        raise ValueError(
            f"{shown(value)} is not an RFC 1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def semver(value: str) -> str:
    if not _SEMVER.fullmatch(value):
        raise ValueError(f"{shown(value)} is not an exact version such as 1.35.4 (quote it in YAML)")
    return value


def not_a_number(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"YAML reads this as the number {value!r}, not a version: write the exact version (major.minor.patch) in quotes")
    return value


def mac(value: str) -> str:
    if not _MAC.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a MAC address such as 52:54:00:12:34:56")
    return value.lower()


def ifname(value: str) -> str:
    if not _IFNAME.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a Linux interface name (1-15 characters, no spaces or '/')")
    return value


def domain(value: str) -> str:
    if not _DOMAIN.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a DNS domain name")
    return value


def ssh_key(value: str) -> str:
    """One authorized_keys line, TYPE BASE64 [COMMENT], and nothing else: cloud-init writes
    each entry as a line, so a line break would add keys (or options such as command=...)."""
    if len(value) > MAX_SSH_KEY_CHARACTERS:
        raise ValueError(f"{shown(value)} is longer than an OpenSSH public key line (at most {MAX_SSH_KEY_CHARACTERS} characters)")
    unprintable = next((i for i, c in enumerate(value) if not c.isprintable()), None)
    if unprintable is not None:
        raise ValueError(
            f"character {unprintable + 1} ({value[unprintable]!r}) is a line break or control character: "
            f"an entry is one key on one line ({shown(value)})"
        )
    key_type, data = (value.split(maxsplit=2) + ["", ""])[:2]
    if key_type not in SSH_KEY_TYPES:
        if not key_type.startswith(SSH_KEY_TYPE_PREFIXES):
            raise ValueError(
                f"{shown(value)} does not start with a key type: write the public key alone, as `ssh-ed25519 AAAA... comment` "
                "(authorized_keys options such as command=... are not allowed)"
            )
        raise ValueError(f"{shown(key_type)} is not a key type clusterforge accepts ({', '.join(SSH_KEY_TYPES)})")
    if not data:
        raise ValueError(f"the key data after {key_type} is missing")
    blob_type = _ssh_key_blob_type(data)
    if blob_type is None:
        raise ValueError(f"the key data after {key_type} is not the base64 of a public key ({shown(data)})")
    if blob_type != key_type:
        raise ValueError(f"the key data is a {shown(blob_type)} key, not {key_type}")
    return value


def _ssh_key_blob_type(data: str) -> str | None:
    """The type named inside the key blob (RFC 4253: a length-prefixed string first), or None."""
    if not _BASE64.fullmatch(data):
        return None
    # OpenSSH pads its base64; the missing '=' of an unpadded key are unambiguous (and
    # the reference example's placeholder key has none).
    core = data.rstrip("=")
    if len(core) % 4 == 1 or len(data) - len(core) not in (0, -len(core) % 4):
        return None
    blob = base64.b64decode(core + "=" * (-len(core) % 4))
    length = int.from_bytes(blob[:4], "big")
    name = blob[4 : 4 + length]
    if len(blob) <= 4 + length or not name.isascii():  # the key itself follows its type
        return None
    return name.decode("ascii")


def age_recipient(value: str) -> str:
    if not _AGE_RECIPIENT.fullmatch(value):
        raise ValueError(f"{shown(value)} is not an age recipient (age1 followed by 58 characters)")
    return value
