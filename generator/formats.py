r"""The formats of inventory values, each a check that returns the value or raises
ValueError with the message the user sees (pydantic adds the field's location).

Every pattern matches the whole string in ASCII (fullmatch, re.ASCII, [0-9] not
\d): `$` would accept a trailing newline and `\d` the digits of every script,
and these values become file names, config lines and shell command arguments.
"""

from __future__ import annotations

import base64
import re
from ipaddress import IPv4Address

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", re.ASCII)
# No leading zeros (kubeadm and the package names spell versions without them); at most
# 9 digits a part, so each is an int that every comparison and message can handle.
_VERSION_PART = r"(?:0|[1-9][0-9]{0,8})"
_SEMVER = re.compile(rf"{_VERSION_PART}\.{_VERSION_PART}\.{_VERSION_PART}", re.ASCII)
_MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", re.ASCII)
_IFNAME = re.compile(r"[A-Za-z0-9_.-]{1,15}", re.ASCII)
_DOMAIN_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}\Z){_DOMAIN_LABEL}(\.{_DOMAIN_LABEL})*", re.ASCII)
_NUMERIC_END = re.compile(r"(?:\A|\.)[0-9]+\Z", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}", re.ASCII)
_AGE_RECIPIENT = re.compile(r"age1[0-9a-z]{58}", re.ASCII)
SHOWN_CHARACTERS = 64  # a whole label, an age recipient

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


def is_label(value: str) -> bool:
    return _LABEL.fullmatch(value) is not None


def label(value: str) -> str:
    if not is_label(value):
        raise ValueError(
            f"{shown(value)} is not an RFC 1123 label (lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters)"
        )
    return value


def semver(value: str) -> str:
    if not _SEMVER.fullmatch(value):
        raise ValueError(f"{shown(value)} is not an exact version such as 1.35.4 (three numbers of at most 9 digits without leading zeros; quote it in YAML)")
    return value


def not_a_number(value: object) -> object:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"YAML reads this as the number {value!r}, not a version: write the exact version (major.minor.patch) in quotes")
    return value


def address_text(kind: str, example: str):
    """A before-validator: pydantic would turn YAML's `true` or an integer into an address."""

    def check(value: object) -> object:
        if isinstance(value, bool):
            raise ValueError(f"YAML reads this as the boolean {str(value).lower()}, not {kind} such as {example}")
        if isinstance(value, (int, float)):
            raise ValueError(f"YAML reads this as the number {value!r}, not {kind} such as {example}")
        return value

    return check


def mac(value: str) -> str:
    if not _MAC.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a MAC address such as 52:54:00:12:34:56")
    return value.lower()


def ifname(value: str) -> str:
    # The kernel's dev_valid_name() also refuses "." and "..", which are path names under /sys/class/net.
    if not _IFNAME.fullmatch(value) or value in (".", ".."):
        raise ValueError(f"{shown(value)} is not a Linux interface name (1-15 letters, digits, '_', '.' or '-'; not '.' or '..')")
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


def cert_san(value: str) -> str:
    """A subject alternative name of the API certificate: an IPv4 address or a DNS name."""
    if _NUMERIC_END.search(value):  # no top-level domain is all digits: meant as an address
        try:
            IPv4Address(value)
        except ValueError:
            raise ValueError(f"{shown(value)} is not an IPv4 address") from None
    elif not _DOMAIN.fullmatch(value):
        raise ValueError(f"{shown(value)} is neither a DNS name (in lower case) nor an IPv4 address")
    return value


def age_recipient(value: str) -> str:
    if not _AGE_RECIPIENT.fullmatch(value):
        raise ValueError(f"{shown(value)} is not an age recipient (age1 followed by 58 characters)")
    if not _bech32_checksum_ok(value):
        raise ValueError(f"{shown(value)} is not an age recipient: its bech32 checksum does not match (a character was mistyped or lost)")
    return value


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


def _bech32_checksum_ok(text: str) -> bool:
    """The BIP 173 checksum of a lower-case bech32 string (age recipients are bech32, not bech32m)."""
    hrp, _, data = text.rpartition("1")
    if any(c not in _BECH32_CHARSET for c in data):
        return False
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + [_BECH32_CHARSET.index(c) for c in data]
    checksum = 1
    for value in values:
        top = checksum >> 25
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value
        for bit, generator in enumerate(_BECH32_GENERATOR):
            if top >> bit & 1:
                checksum ^= generator
    return checksum == 1


# --- git ---------------------------------------------------------------------------

MAX_GIT_URL_CHARACTERS = 2048
MAX_BRANCH_CHARACTERS = 255  # one file name under .git/refs/heads
# Characters a URL can hold at all (RFC 3986: unreserved, reserved and '%').
_URL_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%")
_URL_HOST = rf"(?:{_DOMAIN_LABEL.replace('a-z', 'A-Za-z')}(?:\.{_DOMAIN_LABEL.replace('a-z', 'A-Za-z')})*|\[[0-9A-Fa-f:.]+\])"
_URL_USER = r"[A-Za-z0-9][-A-Za-z0-9._~]*"
_URL_PATH = r"(?:[-A-Za-z0-9._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})+"
_GIT_URL = re.compile(
    rf"(?:https?|ssh)://(?:{_URL_USER}(?P<password>:[^@/]*)?@)?{_URL_HOST}(?::(?P<port>[0-9]{{1,5}}))?/{_URL_PATH}",
    re.ASCII,
)
_SCP_GIT_URL = re.compile(rf"{_URL_USER}@{_URL_HOST}:{_URL_PATH}", re.ASCII)
GIT_URL_FORMS = "https://HOST/PATH, ssh://[USER@]HOST[:PORT]/PATH or USER@HOST:PATH"


def git_url(value: str) -> str:
    """A URL git clones from, safe on a shell line once quoted and without credentials."""
    if len(value) > MAX_GIT_URL_CHARACTERS:
        raise ValueError(f"{shown(value)} is longer than a git URL clusterforge takes (at most {MAX_GIT_URL_CHARACTERS} characters)")
    stray = next((i for i, c in enumerate(value) if c not in _URL_CHARACTERS), None)
    if stray is not None:
        raise ValueError(f"character {stray + 1} ({value[stray]!r}) cannot be part of a git URL ({shown(value)})")
    url = _GIT_URL.fullmatch(value)
    if url and url["password"] is not None:
        raise ValueError("the URL holds a password, which would be committed: give the GitOps controller credentials of its own")
    if url and url["port"] is not None and not 1 <= int(url["port"]) <= 65535:
        raise ValueError(f"port {url['port']} of {shown(value)} is not 1-65535")
    if not (url or _SCP_GIT_URL.fullmatch(value)):
        raise ValueError(f"{shown(value)} is not a git URL ({GIT_URL_FORMS})")
    return value


def is_scp_like(url: str) -> bool:
    """`git@host:path`, which git and Argo CD take but Flux does not."""
    return _SCP_GIT_URL.fullmatch(url) is not None


def git_branch(value: str) -> str:
    """A branch name by git's rules (git check-ref-format --branch), in printable ASCII."""
    problem = _branch_problem(value)
    if problem:
        raise ValueError(f"{shown(value)} is not a git branch name: {problem}")
    return value


def _branch_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > MAX_BRANCH_CHARACTERS:
        return f"it is longer than {MAX_BRANCH_CHARACTERS} characters"
    bad = next((c for c in name if not " " < c < "\x7f" or c in "~^:?*[\\"), None)
    if bad is not None:
        return f"{bad!r} is not allowed (control characters, spaces, ~ ^ : ? * [ \\ and non-ASCII characters are not)"
    if name.startswith("-"):
        return "it starts with '-'"
    if name in ("@", "HEAD"):
        return f"{name} names no branch"
    for part in ("..", "@{", "//"):
        if part in name:
            return f"it contains {part!r}"
    if name.startswith("/") or name.endswith(("/", ".")):
        return "it starts with '/' or ends with '/' or '.'"
    if any(component.startswith(".") or component.endswith(".lock") for component in name.split("/")):
        return "a part between slashes starts with '.' or ends with '.lock'"
    return None


# --- Kubernetes labels -----------------------------------------------------------------

MAX_LABEL_VALUE_CHARACTERS = 63
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?", re.ASCII)
_LABEL_NAME_RULE = "at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit"


def label_key(value: str) -> str:
    """A Kubernetes label key: [PREFIX/]NAME, PREFIX a DNS subdomain of at most 253 characters."""
    prefix, slash, name = value.rpartition("/")
    if slash and ("/" in prefix or not _DOMAIN.fullmatch(prefix)):
        raise ValueError(f"{shown(value)} is not a label key: its prefix before '/' must be a DNS subdomain (such as app.example.org)")
    if not _LABEL_NAME.fullmatch(name):
        raise ValueError(f"{shown(value)} is not a label key: the name{' after the prefix' if slash else ''} is {_LABEL_NAME_RULE}")
    return value


def label_value(value: str) -> str:
    """A Kubernetes label value: empty, or a name of at most 63 characters."""
    if len(value) > MAX_LABEL_VALUE_CHARACTERS:
        raise ValueError(f"{shown(value)} is longer than a label value may be ({MAX_LABEL_VALUE_CHARACTERS} characters)")
    if value and not _LABEL_NAME.fullmatch(value):
        raise ValueError(f"{shown(value)} is not a label value ({_LABEL_NAME_RULE}, or empty)")
    return value
