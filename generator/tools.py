"""Finding the external tools and running them: the one subprocess primitive.

Every external command goes through `run`, so a failure always surfaces as
ToolFailed (with argv, exit code and output) and a missing binary as ToolMissing
with the command that installs it.
"""

from __future__ import annotations

import mmap
import os
import re
import struct
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import ToolFailed, ToolMissing
from .toolpins import DEBIAN_TOOLS, GO_TOOLS, KUBEADM_PACKAGE, KUBERNETES_VERSION, buildinfo_version, kubeadm_binary

TOOLS_DIR_ENV = "CLUSTERFORGE_TOOLS_DIR"

# name -> (arguments that print the version, regex whose group 1 is the version).
# Written from the real output of the pinned builds and Debian 12's packages, e.g.
# kubeconform: "development" (go install builds carry no version; build info has it),
# helm: "v3.22" (likewise), keepalived/bird: on stderr, vtysh: only in --help.
VERSION_PROBES: dict[str, tuple[tuple[str, ...], str] | None] = {
    "kubeconform": (("-v",), r"^v?(\d+\.\d+\.\d+\S*)"),
    "helm": (("version", "--short"), r"^(v\d+\.\d+(?:\.\d+)?)"),
    "kustomize": (("version",), r"^(v\d+\.\d+\.\d+)"),
    "gobgp": (("--version",), r"gobgp version (\d+\.\d+\.\d+)"),
    "gobgpd": (("--version",), r"gobgpd version (\d+\.\d+\.\d+)"),
    "kubeadm": (("version", "-o", "short"), r"^(v\d+\.\d+\.\d+\S*)"),
    "sops": (("--version", "--disable-version-check"), r"sops (\d+\.\d+\.\d+)"),
    "age-keygen": (("--version",), r"^v?(\d+\.\d+\.\d+)"),
    "haproxy": (("-v",), r"HAProxy version (\S+)"),
    "keepalived": (("--version",), r"Keepalived v(\S+)"),
    "cloud-init": (("--version",), r"cloud-init (\d\S*)"),
    "vtysh": (("--help",), r"FRR \(version (\S+?)\)"),
    "bird": (("--version",), r"BIRD version (\S+)"),
    "shellcheck": (("--version",), r"^version: (\S+)"),
    "ip": (("-V",), r"iproute2-(\S+?),"),
    "netplan": None,  # no version option either
    "cloud-localds": None,  # has no version option; being there is what counts
    "genisoimage": (("--version",), r"genisoimage (\S+)"),
    "redis-server": (("--version",), r"Redis server v=(\S+)"),
}


# The daemons `run` may start, each only in a mode that exits: checking a file or printing
# its version. A mistake in a checker's argv (a flag dropped or garbled) would otherwise
# start the real daemon on this machine and leave it running (keepalived and haproxy
# fork into the background); `simulate` starts daemons on purpose, through its own
# Popen, never through `run`. vtysh is no daemon, but without --dryrun (or a scratch
# --vty_socket) it applies a file to this machine's FRR.
ONE_SHOT_FLAGS: dict[str, frozenset[str]] = {
    "haproxy": frozenset({"-c", "-v", "-vv"}),
    "keepalived": frozenset({"--config-test", "-t", "--version", "-v"}),
    "bird": frozenset({"-p", "--version"}),
    "gobgpd": frozenset({"--version"}),
    "vtysh": frozenset({"--dryrun", "--vty_socket", "--help"}),
}


class DaemonRefused(RuntimeError):
    """`run` was asked to start a daemon without its check-only flag: a bug, never run."""


def refuse_daemon(args: Sequence[str]) -> None:
    """Raise DaemonRefused when args start a daemon of ONE_SHOT_FLAGS without one of its
    flags, directly or inside a namespace (`ip netns exec NAME ...`, `nsenter ... -- ...`)."""
    program = 0
    while program < len(args):
        name = Path(args[program]).name
        if name == "ip" and args[program + 1 : program + 3] == ["netns", "exec"]:
            program += 4
        elif name == "nsenter" and "--" in args[program:]:
            program = args.index("--", program) + 1
        else:
            break
    flags = ONE_SHOT_FLAGS.get(Path(args[program]).name) if program < len(args) else None
    if flags is not None and not flags.intersection(args[program + 1 :]):
        raise DaemonRefused(f"refusing to run `{' '.join(args)}`: {Path(args[program]).name} runs here only with one of {', '.join(sorted(flags))}")


@dataclass(frozen=True)
class Completed:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


@dataclass(frozen=True)
class ToolStatus:
    name: str
    path: Path | None
    version: str | None  # as the tool (or, failing that, its Go build info) reports it
    pinned: str | None  # None for Debian tools: whatever the distribution ships
    hint: str
    optional: bool = False

    @property
    def ok(self) -> bool:
        if self.path is None:
            return False
        return self.pinned is None or (self.version is not None and _same_version(self.version, self.pinned))


def _same_version(found: str, pinned: str) -> bool:
    return found.removeprefix("v") == pinned.removeprefix("v")


def install_hint(name: str, kubernetes_version: str = KUBERNETES_VERSION) -> str:
    if name == "kubeadm":
        return f"clusterforge tools install --kubernetes {kubernetes_version.removeprefix('v')}"
    if name in GO_TOOLS:
        return "clusterforge tools install"
    if name in DEBIAN_TOOLS:
        return f"apt-get install {DEBIAN_TOOLS[name].apt}"
    return f"install {name}"


def user_tools_dir() -> Path:
    """The per-user tools folder `clusterforge tools install` fills: $XDG_CACHE_HOME/clusterforge/tools/bin
    (~/.cache/... when unset or relative, as the XDG spec says)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    cache = Path(xdg) if Path(xdg).is_absolute() else Path.home() / ".cache"
    return cache / "clusterforge" / "tools" / "bin"


def search_dirs() -> list[Path]:
    """$CLUSTERFORGE_TOOLS_DIR, the working tree's .tools/bin, the source checkout's, the per-user
    tools folder, then PATH. $CLUSTERFORGE_TOOLS_DIR set but empty means no tools folder at all: PATH only."""
    dirs: list[Path] = []
    env = os.environ.get(TOOLS_DIR_ENV)
    if env:
        dirs.append(Path(env))
    if env != "":
        cwd = Path.cwd()
        tree = next((d / ".tools" / "bin" for d in (cwd, *cwd.parents) if (d / ".tools" / "bin").is_dir()), None)
        checkout = Path(__file__).resolve().parents[1] / ".tools" / "bin"  # editable install / run from source
        dirs += [d for d in (tree, checkout, user_tools_dir()) if d is not None and d.is_dir()]
    dirs += [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tool(name: str) -> Path | None:
    """The first executable called exactly `name` in search order."""
    return next((d / name for d in search_dirs() if _executable(d / name)), None)


def _minor(version: str) -> tuple[int, int] | None:
    m = re.match(r"v?(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else None


def find_kubeadm(kubernetes_version: str = KUBERNETES_VERSION) -> Path | None:
    """kubeadm for a Kubernetes version: the exact build if any, else one of the same minor
    (highest patch), else a plain `kubeadm` that reports the same minor."""
    exact = find_tool(kubeadm_binary(kubernetes_version))
    if exact:
        return exact
    want = _minor(kubernetes_version)
    for d in search_dirs():
        same = [p for p in d.glob("kubeadm-v*") if _executable(p) and _minor(p.name.removeprefix("kubeadm-")) == want]
        if same:
            return max(same, key=lambda p: tuple(int(x) for x in re.findall(r"\d+", p.name)))
    plain = find_tool("kubeadm")
    return plain if plain and _minor(reported_version(plain, "kubeadm") or "") == want else None


def require(name: str, *, kubernetes_version: str = KUBERNETES_VERSION) -> Path:
    """Like find_tool (find_kubeadm for "kubeadm"), but a missing tool raises ToolMissing."""
    path = find_kubeadm(kubernetes_version) if name == "kubeadm" else find_tool(name)
    if path is None:
        shown = kubeadm_binary(kubernetes_version) if name == "kubeadm" else name
        raise ToolMissing(shown, install_hint(name, kubernetes_version))
    return path


def _text(out: str | bytes | None) -> str:
    # TimeoutExpired carries bytes even in text mode.
    return out.decode(errors="replace") if isinstance(out, bytes) else out or ""


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    ok_codes: Sequence[int] = (0,),
    input: str | None = None,
) -> Completed:
    """Run argv (no shell) and capture its output as text.

    `env` is added to the current environment rather than replacing it (tools need
    PATH and HOME). Raises ToolFailed on an exit code outside ok_codes or on a
    timeout (returncode None), ToolMissing if argv[0] does not exist, DaemonRefused (before
    anything runs) if argv would start a daemon that stays running.
    """
    args = [os.fspath(a) for a in argv]
    refuse_daemon(args)
    try:
        p = subprocess.run(
            args,
            cwd=cwd,
            env={**os.environ, **env} if env is not None else None,
            timeout=timeout,
            input=input,
            capture_output=True,
            text=True,
            errors="replace",  # tools quote hostile input, and may cut a character in two
            # No stdin unless given: a tool waiting for a terminal would hang until the timeout.
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        raise ToolFailed(args, None, _text(e.stdout), _text(e.stderr)) from None
    except FileNotFoundError as e:
        if e.filename != args[0]:
            raise  # a missing cwd is our bug, not a missing tool
        name = Path(args[0]).name
        raise ToolMissing(name, install_hint(name)) from None
    if p.returncode not in ok_codes:
        raise ToolFailed(args, p.returncode, p.stdout, p.stderr)
    return Completed(args, p.returncode, p.stdout, p.stderr)


def helm(*args: str, cwd: str | os.PathLike[str] | None = None, timeout: float = 300) -> str:
    """Run the pinned helm through `sh` and return its stdout; failures become ToolFailed
    exactly as in run()."""
    import sh  # only helm runs through it

    argv = [str(require("helm")), *args]
    workdir = None if cwd is None else os.fspath(cwd)
    try:
        # _tty_out=False: sh defaults to a pseudo-terminal, which would change helm's output.
        return str(sh.Command(argv[0])(*args, _cwd=workdir, _timeout=timeout, _tty_out=False, _decode_errors="replace"))
    except sh.ErrorReturnCode as e:
        raise ToolFailed(argv, e.exit_code, _text(e.stdout), _text(e.stderr)) from None
    except sh.TimeoutException:
        raise ToolFailed(argv, None, "", "") from None


def reported_version(path: Path, name: str) -> str | None:
    """The version the tool prints about itself, or None if it prints none we recognise."""
    spec = VERSION_PROBES.get(name)
    if spec is None:
        return None
    args, pattern = spec
    try:
        done = run([path, *args], timeout=30)
    except ToolFailed:
        return None
    m = re.search(pattern, done.stdout + "\n" + done.stderr, re.M)
    return m.group(1) if m else None


def _build_info_version(path: Path, package: str) -> str | None:
    """The module version Go stamped into the binary; `go install` builds of helm and
    kubeconform print "v3.22"/"development" themselves but carry the real version here."""
    modinfo = go_build_info(path)
    return buildinfo_version(modinfo, package) if modinfo else None


# --- Go build info, read without Go ---------------------------------------------------
# The format of Go's debug/buildinfo (Go >= 1.18): a blob in the ELF section
# .go.buildinfo (elsewhere: in the data, 16-byte aligned) that opens with a 32-byte
# header (magic, pointer size, flags), then, when flags has bit 0x2 ("inline"), two
# strings each prefixed by its length as an unsigned varint: the Go version and the
# module info. The module info is framed by 16-byte sentinels, and its lines are
# what `go version -m` prints (path, mod, dep, =>).

BUILDINFO_MAGIC = b"\xff Go buildinf:"
_BUILDINFO_HEADER = 32
_BUILDINFO_ALIGN = 16
_BUILDINFO_INLINE = 0x2
_MAX_BUILDINFO = 1 << 24  # the blob is kilobytes; more is a damaged file


def go_build_info(path: Path) -> str | None:
    """The module info Go stamped into a binary, or None (not a Go >= 1.18 binary, or damaged)."""
    try:
        with path.open("rb") as f:
            if f.read(4) == b"\x7fELF":
                blob = _elf_section(f, b".go.buildinfo")
            else:
                with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    blob = _aligned_blob(data)
    except (OSError, ValueError, struct.error):
        return None
    return parse_build_info(blob) if blob else None


def _elf_section(f: BinaryIO, wanted: bytes) -> bytes | None:
    """The contents of the ELF section called `wanted`, read through the section headers."""
    f.seek(0)
    ident = f.read(16)
    wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
    # e_shoff; then e_shentsize, e_shnum, e_shstrndx (ELF64 at 0x28/0x3A, ELF32 at 0x20/0x2E)
    f.seek(0x28 if wide else 0x20)
    (shoff,) = struct.unpack(order + ("Q" if wide else "I"), f.read(8 if wide else 4))
    f.seek(0x3A if wide else 0x2E)
    entsize, count, names_index = struct.unpack(order + "HHH", f.read(6))
    # sh_name, then sh_offset and sh_size (ELF64 at 0x18/0x20, ELF32 at 0x10/0x14)
    layout = order + ("I20xQQ" if wide else "I12xII")
    headers = []
    for i in range(count):
        f.seek(shoff + i * entsize)
        headers.append(struct.unpack(layout, f.read(struct.calcsize(layout))))
    if not headers or names_index >= len(headers):
        return None
    _, names_offset, names_size = headers[names_index]
    f.seek(names_offset)
    names = f.read(min(names_size, _MAX_BUILDINFO))
    for name, offset, size in headers:
        if names[name : names.find(b"\0", name)] == wanted and size <= _MAX_BUILDINFO:
            f.seek(offset)
            return f.read(size)
    return None


def _aligned_blob(data: mmap.mmap) -> bytes | None:
    start = data.find(BUILDINFO_MAGIC)
    while start != -1 and start % _BUILDINFO_ALIGN:
        start = data.find(BUILDINFO_MAGIC, start + 1)
    return None if start == -1 else data[start : start + _MAX_BUILDINFO]


def parse_build_info(blob: bytes) -> str | None:
    """The module info of a build info blob (see above), or None if it is not one."""
    start = next((i for i in range(0, len(blob), _BUILDINFO_ALIGN) if blob.startswith(BUILDINFO_MAGIC, i)), None)
    if start is None or len(blob) < start + _BUILDINFO_HEADER or not blob[start + 15] & _BUILDINFO_INLINE:
        return None  # before Go 1.18 the header points at the strings instead
    version, position = _varint_string(blob, start + _BUILDINFO_HEADER)
    modinfo, _ = _varint_string(blob, position)
    if not version or modinfo is None or len(modinfo) < 33 or modinfo[-17] != ord("\n"):
        return None
    return modinfo[16:-16].decode("utf-8", errors="replace")


def _varint_string(blob: bytes, position: int) -> tuple[bytes | None, int]:
    length = shift = 0
    for _ in range(10):  # an unsigned 64-bit varint has at most 10 bytes
        if position >= len(blob):
            return None, position
        byte = blob[position]
        position += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            end = position + length
            return (blob[position:end], end) if end <= len(blob) else (None, position)
    return None, position


def probe(name: str, *, kubernetes_version: str = KUBERNETES_VERSION) -> ToolStatus:
    """Find a tool and read its version; `kubernetes_version` selects the kubeadm build."""
    shown, pinned, package = name, None, None
    if name == "kubeadm":
        shown, package = kubeadm_binary(kubernetes_version), KUBEADM_PACKAGE
        pinned = f"v{kubernetes_version.removeprefix('v')}"
    elif name in GO_TOOLS:
        pinned, package = GO_TOOLS[name].version, GO_TOOLS[name].package
    path = find_kubeadm(kubernetes_version) if name == "kubeadm" else find_tool(name)
    version = reported_version(path, name) if path else None
    if path and package and pinned and not _same_version(version or "", pinned):
        version = _build_info_version(path, package) or version
    optional = name in DEBIAN_TOOLS and DEBIAN_TOOLS[name].optional
    return ToolStatus(shown, path, version, pinned, install_hint(name, kubernetes_version), optional)


def doctor(kubernetes_versions: Sequence[str] = (KUBERNETES_VERSION,)) -> list[ToolStatus]:
    """Status of every tool: the Go tools, one kubeadm per Kubernetes version, the Debian tools."""
    return [
        *(probe(name) for name in GO_TOOLS),
        *(probe("kubeadm", kubernetes_version=v) for v in kubernetes_versions),
        *(probe(name) for name in DEBIAN_TOOLS),
    ]
