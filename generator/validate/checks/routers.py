"""The router side of every BGP peer: FRR through `vtysh --dryrun`, BIRD through
`bird -p`, and the Yamaha RTX command list through a checker of ours (no RTX
parser exists off the router) for the subset of commands clusterforge emits."""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network

from ...render import layout
from ..base import Context, Job, Result
from . import _common
from ._common import RERENDER

# layout.router_file(peer) for every peer kind (tests hold them together).
FILES = {kind: f"routers/*/{name}" for kind, name in layout.ROUTER_FILE_NAMES.items()}

FRR = "vtysh --dryrun"
BIRD = "bird -p"
RTX = "rtx commands"

VTYSH_FAILED = (1, 2)  # 2: `line N: % Unknown command`; 1: a file it cannot read
BIRD_FAILED = (1,)

_DIGITS = re.compile("[0-9]{1,10}")  # ASCII (str.isdigit takes '²', which int() refuses); 10 digits hold any number RTX takes
RTX_MAX_NEIGHBORS = 32
RTX_MAX_ASN = 65535  # 2-byte AS numbers only


def jobs(ctx: Context) -> list[Job]:
    return [*frr_jobs(ctx), *bird_jobs(ctx), *rtx_jobs(ctx)]


def frr_jobs(ctx: Context) -> list[Job]:
    tool = _common.find("vtysh")
    hint = f"FRR's parser rejects this configuration; {RERENDER}"

    def check(path: str) -> Result:
        return _common.verdict(FRR, path, [tool.require(), "--dryrun", "-f", path], hint, cwd=ctx.repo, fail_codes=VTYSH_FAILED)

    return _common.file_jobs(FRR, tool, _common.repo_files(ctx, FILES["frr"]), check)


def bird_jobs(ctx: Context) -> list[Job]:
    tool = _common.find("bird")
    hint = f"BIRD's parser rejects this configuration; {RERENDER}"

    def check(path: str) -> Result:
        return _common.verdict(BIRD, path, [tool.require(), "-p", "-c", path], hint, cwd=ctx.repo, fail_codes=BIRD_FAILED)

    return _common.file_jobs(BIRD, tool, _common.repo_files(ctx, FILES["bird"]), check)


def rtx_jobs(ctx: Context) -> list[Job]:
    def job(path: str) -> Job:
        def run() -> list[Result]:
            problems = rtx_problems(_common.read(ctx, path))
            hint = f"RTX would reject or misapply these commands; {RERENDER}"
            return [Result(RTX, path, not problems, "\n".join(problems), hint if problems else "")]

        return Job(RTX, (path,), run)

    return [job(path) for path in _common.repo_files(ctx, FILES["yamaha-rtx"])]


# --- Yamaha RTX ------------------------------------------------------------------


def rtx_commands(text: str) -> list[tuple[int, list[str]]]:
    """(line number, words) of every command: blank lines and `#` comments are not commands."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append((n, stripped.split()))
    return out


def _asn(word: str) -> str | None:
    """None if `word` is an AS number RTX takes, else why not."""
    if not _DIGITS.fullmatch(word):
        return f"{word!r} is not an AS number"
    if not 1 <= int(word) <= RTX_MAX_ASN:
        return f"AS {word} is outside 1-{RTX_MAX_ASN} (RTX takes 2-byte AS numbers only)"
    return None


def _address(word: str) -> str | None:
    try:
        IPv4Address(word)
    except ValueError:
        return f"{word!r} is not an IPv4 address"
    return None


def _network(word: str) -> str | None:
    if "/" not in word:
        return f"{word!r} is not NET/LEN"
    try:
        IPv4Network(word)
    except ValueError as e:
        return f"{word!r} is not a network: {e}"
    return None


def _integer(low: int, high: int) -> Callable[[str], str | None]:
    def check(word: str) -> str | None:
        return None if _DIGITS.fullmatch(word) and low <= int(word) <= high else f"{word!r} is not an integer in {low}-{high}"

    return check


def _on_off(word: str) -> str | None:
    return None if word in ("on", "off") else f"{word!r} is neither on nor off"


# The `opt=value` parameters of `bgp neighbor` that clusterforge writes or tells the
# operator to add (gateway=); a hold time is 3-65535 seconds (RFC 4271 4.2).
NEIGHBOR_OPTIONS: dict[str, Callable[[str], str | None]] = {
    "hold-time": _integer(3, 65535),
    "passive": _on_off,
    "local-address": _address,
    "gateway": _address,
}


def rtx_problems(text: str) -> list[str]:
    """Every problem of an RTX BGP command list, as `line N: ...`."""
    problems: list[str] = []
    neighbors: dict[str, int] = {}  # id -> line
    filters: set[str] = set()
    uses: list[tuple[int, str]] = []  # (line, filter id) of `bgp export ASN filter N`
    enabled = False
    commands = rtx_commands(text)

    def bad(n: int, why: str | None) -> None:
        if why:
            problems.append(f"line {n}: {why}")

    for n, words in commands:
        command = " ".join(words)
        match words:
            case ["bgp", "use", value]:
                bad(n, _on_off(value))
                enabled = enabled or value == "on"
            case ["bgp", "autonomous-system", asn]:
                bad(n, _asn(asn))
            case ["bgp", "router", "id", address]:
                bad(n, _address(address))
            case ["bgp", "neighbor", "pre-shared-key", peer, "text", _key]:
                bad(n, None if peer in neighbors else f"pre-shared-key for neighbor {peer}, which is not defined above")
            case ["bgp", "neighbor", peer, asn, address, *options]:
                bad(n, _integer(1, RTX_MAX_NEIGHBORS)(peer))
                bad(n, f"neighbor {peer} is defined twice (line {neighbors[peer]})" if peer in neighbors else None)
                neighbors.setdefault(peer, n)
                bad(n, _asn(asn))
                bad(n, _address(address))
                for option in options:
                    name, eq, value = option.partition("=")
                    check = NEIGHBOR_OPTIONS.get(name)
                    if not eq or check is None:
                        bad(n, f"{option!r} is not one of the neighbor parameters {', '.join(f'{k}=' for k in NEIGHBOR_OPTIONS)}")
                    else:
                        bad(n, check(value))
            case ["bgp", "export", "filter", number, "include", *networks] if networks:
                bad(n, None if _DIGITS.fullmatch(number) and int(number) > 0 else f"{number!r} is not a filter number")
                filters.add(number)
                for network in networks:
                    bad(n, _network(network))
            case ["bgp", "export", asn, "filter", *numbers] if numbers:
                bad(n, _asn(asn))
                uses += [(n, number) for number in numbers]
            case ["bgp", "configure", "refresh"]:
                pass
            case _:
                bad(n, f"`{command}` is not a command of the RTX BGP subset clusterforge writes")
    for n, number in uses:
        bad(n, None if number in filters else f"filter {number} is not defined by any `bgp export filter {number} include ...`")
    if len(neighbors) > RTX_MAX_NEIGHBORS:
        problems.append(f"{len(neighbors)} neighbors: RTX takes at most {RTX_MAX_NEIGHBORS}")
    if not enabled:
        problems.append("no `bgp use on`: BGP stays off")
    if not commands or commands[-1][1] != ["bgp", "configure", "refresh"]:
        last = f"line {commands[-1][0]}: " if commands else ""
        problems.append(f"{last}the last command is not `bgp configure refresh`: nothing after it takes effect")
    return problems
