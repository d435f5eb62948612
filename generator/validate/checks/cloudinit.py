"""The NoCloud seeds of every VM: user-data through `cloud-init schema` plus a check
of its top-level keys (cloud-init's schema allows unknown keys, so a typo such as
`runcmdd` would pass it and be ignored at boot), network-config through
`netplan generate` (what cloud-init hands it to on Ubuntu) plus a check that it
says what the inventory says about the node's network."""

from __future__ import annotations

import difflib
import json
import os
import re
import shlex
import tempfile
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import Any

from ... import tools
from ...model import Inventory, Node
from ...render import layout
from ...errors import ClusterforgeError, ToolFailed, ToolMissing
from .. import caches, gitops
from ..base import Context, Job, Result
from . import _common
from ._common import RERENDER, Tool

# layout.seed_dir(node) for every node (tests hold them together).
USER_DATA_FILES = "nodes/*/user-data"
NETWORK_CONFIG_FILES = "nodes/*/network-config"

SCHEMA = "cloud-init schema"
KEYS = "cloud-config keys"
NETPLAN = "netplan generate"
NETWORK = "network-config"

# Where Debian's cloud-init keeps the schema its `schema` command applies.
CLOUD_CONFIG_SCHEMA = Path("/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json")
NETPLAN_PACKAGE = "netplan.io"
# Where netplan.io installs its generator: Debian 12 and Ubuntu 24.04, then older layouts.
NETPLAN_GENERATORS = ("/usr/libexec/netplan/generate", "/usr/lib/netplan/generate", "/lib/netplan/generate")
NETPLAN_FILE = "etc/netplan/50-cloud-init.yaml"  # where cloud-init writes it on the VM
DEFAULT_ROUTES = ("default", "0.0.0.0/0")
BATCH_SCRIPT = Path(__file__).resolve().parents[1] / "cloud_init_batch.py"


def jobs(ctx: Context) -> list[Job]:
    return [*schema_jobs(ctx), *key_jobs(ctx), *netplan_jobs(ctx), *network_jobs(ctx)]


def _load(ctx: Context, path: str) -> tuple[Any, str | None]:
    """The parsed YAML (line-keeping) or the parser's complaint."""
    try:
        return gitops.parse(_common.read(ctx, path), path), None
    except gitops.ManifestError as e:
        return None, str(e)


# --- user-data -------------------------------------------------------------------


def schema_jobs(ctx: Context) -> list[Job]:
    """One job, one process for every user-data (see cloud_init_batch.py)."""
    tool = _common.find("cloud-init")
    paths = _common.repo_files(ctx, USER_DATA_FILES)
    if not paths:
        return []

    def run() -> list[Result]:
        return schema_results(ctx, tool.require(), paths)

    return [Job(SCHEMA, tuple(paths), run, tool.version, schema_identity(CLOUD_CONFIG_SCHEMA))]


def schema_identity(schema_file: Path) -> str:
    """Part of the cache key: cloud-init's executable is a small wrapper that need not change
    when its package does, its schema file does."""
    return f"{schema_file} {caches.stamp(schema_file) if schema_file.is_file() else 'missing'}"


def python_of(script: Path) -> list[str]:
    """The interpreter a Python script's shebang names (cloud-init's own, with its modules)."""
    with script.open("rb") as f:
        first = f.readline(4096).decode("utf-8", errors="replace")
    argv = shlex.split(first[2:]) if first.startswith("#!") else []
    if not argv or not any("python" in Path(part).name for part in argv):
        raise ClusterforgeError(f"{script} is not a Python script (its first line: {first.strip()!r}): cannot run cloud-init's schema check")
    return argv


def schema_results(ctx: Context, cloud_init: Path, paths: list[str]) -> list[Result]:
    """`cloud-init schema --config-file` on each file, in one cloud-init process: exit 0 passes,
    1 fails in the tool's own words, anything else means it could not judge (ToolFailed)."""
    argv = [*python_of(cloud_init), str(BATCH_SCRIPT), *paths]
    done = tools.run(argv, cwd=ctx.repo, timeout=_common.TIMEOUT + 5 * len(paths))
    verdicts = {}
    for line in done.stdout.splitlines():
        try:
            entry = json.loads(line)
            verdicts[str(entry["file"])] = (entry["code"], str(entry["stdout"]), str(entry["stderr"]))
        except (ValueError, KeyError, TypeError):
            raise ToolFailed(argv, done.returncode, done.stdout, done.stderr) from None
    hint = f"cloud-init rejects this user-data; {RERENDER}"
    results = []
    for path in paths:
        code, stdout, stderr = verdicts.get(path, (None, "", ""))
        if code == 0:
            results.append(Result(SCHEMA, path, True))
        elif code == 1:
            results.append(Result(SCHEMA, path, False, _common.tool_output(stdout, stderr) or "exit code 1", hint))
        else:
            raise ToolFailed([str(cloud_init), "schema", "--config-file", path], code, stdout, stderr or done.stderr)
    return results


def schema_keys(schema: dict) -> set[str]:
    """The top-level keys cloud-config defines: the properties of every module's
    definition the schema's `allOf` refers to (and of their allOf/anyOf/oneOf parts)."""
    defs = schema.get("$defs", {})

    def properties(node: dict) -> set[str]:
        keys = set(node.get("properties", {}))
        if ref := node.get("$ref"):
            keys |= properties(defs[ref.rsplit("/", 1)[-1]])
        for combinator in ("allOf", "anyOf", "oneOf"):
            for part in node.get(combinator, []):
                keys |= properties(part)
        return keys

    return properties(schema)


def unknown_keys(data: Any, known: set[str]) -> list[str]:
    """One message per top-level key cloud-init does not know, with its line and a suggestion."""
    if not isinstance(data, dict):
        return ["not a YAML mapping: cloud-init would ignore it"]
    messages = []
    for key in data:
        if key in known:
            continue
        where = f"line {data.lc.key(key)[0] + 1}: " if hasattr(data, "lc") else ""
        close = difflib.get_close_matches(str(key), sorted(known), n=1)
        guess = f"; did you mean '{close[0]}'?" if close else ""
        messages.append(f"{where}unknown top-level key '{key}': cloud-init ignores it{guess}")
    return messages


def key_jobs(ctx: Context, schema_file: Path = CLOUD_CONFIG_SCHEMA) -> list[Job]:
    tool = _common.find("cloud-init")  # the schema comes with it: its version is the cache key

    def check(path: str) -> Result:
        if not schema_file.is_file():
            raise ToolMissing(f"cloud-init's schema {schema_file}", tool.install)
        data, error = _load(ctx, path)
        if error:
            return Result(KEYS, path, False, error, f"not YAML: {RERENDER}")
        problems = unknown_keys(data, schema_keys(json.loads(schema_file.read_text(encoding="utf-8"))))
        hint = f"a key outside cloud-init's schema is silently ignored at boot; {RERENDER}"
        return Result(KEYS, path, not problems, "\n".join(problems), hint if problems else "")

    return _common.file_jobs(KEYS, tool, _common.repo_files(ctx, USER_DATA_FILES), check, extra_key=schema_identity(schema_file))


# --- network-config --------------------------------------------------------------


def netplan_generator() -> Path | None:
    """The program `netplan generate` runs (it only execs it, after a Python start that costs
    ten times the check): $NETPLAN_GENERATE_PATH, as netplan reads it, or where the netplan.io
    packages put it; None when netplan is not installed."""
    if tools.find_tool("netplan") is None:
        return None
    env = os.environ.get("NETPLAN_GENERATE_PATH")
    candidates = [Path(env)] if env else [Path(p) for p in NETPLAN_GENERATORS]
    return next((p for p in candidates if p.is_file() and os.access(p, os.X_OK)), None)


def netplan_tool() -> Tool:
    """netplan has no version option: the generator's path and stamp are the cache key."""
    path = netplan_generator()
    version = f"{path} {caches.stamp(path)}" if path else ""
    return Tool("netplan", path, version, f"apt-get install {NETPLAN_PACKAGE}")


def netplan_jobs(ctx: Context) -> list[Job]:
    tool = netplan_tool()
    return _common.file_jobs(NETPLAN, tool, _common.repo_files(ctx, NETWORK_CONFIG_FILES), lambda path: netplan_result(ctx, tool.require(), path))


def netplan_result(ctx: Context, netplan_generate: Path, path: str) -> Result:
    """netplan's generator (what `netplan generate` runs) on the file as cloud-init installs it:
    under a top-level `network:` (added here when the seed has the bare v2 form), in a scratch
    root directory."""
    text = _common.read(ctx, path)
    data, _ = _load(ctx, path)
    wrapped = not (isinstance(data, dict) and "network" in data)
    if wrapped:
        # Every line, blank ones too: a line of only spaces or tabs keeps its meaning (in a block
        # scalar) and netplan's column for it shifts by 2 like every other line's.
        text = "network:\n" + "".join(f"  {line}" for line in text.splitlines(keepends=True))
    with tempfile.TemporaryDirectory(prefix="cf-netplan-") as tmp:
        target = Path(tmp) / NETPLAN_FILE
        target.parent.mkdir(parents=True)
        target.write_text(text, encoding="utf-8")
        target.chmod(0o600)  # netplan warns about readable configs
        result = _common.verdict(NETPLAN, path, [netplan_generate, "--root-dir", tmp], f"netplan rejects this network-config; {RERENDER}")
    if result.ok:
        return result
    # Point at the seed's own lines: undo the added `network:` line and indentation.
    shift = (1, 2) if wrapped else (0, 0)
    message = re.sub(
        re.escape(str(target)) + r":([0-9]+):([0-9]+):",
        lambda m: f"{path}:{int(m.group(1)) - shift[0]}:{int(m.group(2)) - shift[1]}:",
        result.message,
    )
    return Result(NETPLAN, path, False, message, result.hint)


def _node_of(inv: Inventory, path: str) -> Node | None:
    return next((n for n in inv.nodes if Path(path).parent.as_posix() == layout.seed_dir(n)), None)


def network_jobs(ctx: Context) -> list[Job]:
    def job(path: str) -> Job:
        def run() -> list[Result]:
            data, error = _load(ctx, path)
            node = _node_of(ctx.inventory, path)
            if error:
                problems = [error]
            elif node is None:
                problems = [f"no node in {layout.INVENTORY} has its seed in {Path(path).parent.as_posix()}"]
            else:
                problems = network_problems(ctx.inventory, node, data)
            hint = f"the node's network settings must match {layout.INVENTORY}; {RERENDER}"
            return [Result(NETWORK, path, not problems, "\n".join(problems), hint if problems else "")]

        # The verdict depends on the inventory as much as on the file.
        return Job(NETWORK, (path, layout.INVENTORY), run)

    return [job(path) for path in _common.repo_files(ctx, NETWORK_CONFIG_FILES)]


def network_problems(inv: Inventory, node: Node, data: Any) -> list[str]:
    """What a network-config v2 document says differently from the inventory about `node`."""
    config = data.get("network", data) if isinstance(data, dict) else None
    if not isinstance(config, dict):
        return ["not a YAML mapping"]
    problems = []
    if config.get("version") != 2:
        problems.append(f"version is {config.get('version')!r}, not 2 (network-config v2, netplan's format)")
    net = inv.network
    ethernets = config.get("ethernets")
    entries = ethernets if isinstance(ethernets, dict) else {}
    # The interface is the entry's name, or what `set-name` renames a MAC-matched NIC to.
    name, entry = next(((k, v) for k, v in entries.items() if isinstance(v, dict) and v.get("set-name", k) == net.interface), (None, None))
    if entry is None:
        return [*problems, f"no ethernets entry for interface {net.interface} (by name, or by `match: macaddress` with `set-name: {net.interface}`)"]
    checks: list[Callable[[], list[str]]] = [
        lambda: _match_problems(node, entry),
        lambda: _address_problems(inv, node, entry),
        lambda: _gateway_problems(inv, entry),
        lambda: _dns_problems(inv, entry),
    ]
    problems += [f"ethernets.{name}: {p}" for check in checks for p in check()]
    if entry.get("mtu", 1500) != net.mtu:
        problems.append(f"ethernets.{name}: mtu is {entry.get('mtu', 1500)}, network.mtu is {net.mtu}")
    return problems


def _match_problems(node: Node, entry: dict) -> list[str]:
    match = entry.get("match")
    if match is None:
        return []
    mac = match.get("macaddress") if isinstance(match, dict) else None
    if mac is None or str(mac).lower() != node.mac:
        return [f"match.macaddress is {mac!r}, the node's mac is {node.mac!r}"]
    return []


def _address_problems(inv: Inventory, node: Node, entry: dict) -> list[str]:
    problems, interfaces = [], []
    for address in entry.get("addresses") or []:
        try:
            interfaces.append(IPv4Interface(str(address)))
        except ValueError:
            problems.append(f"address {address!r} is not IPv4 address/prefix-length")
            continue
        if "/" not in str(address):
            problems.append(f"address {address!r} has no prefix length")
    want = IPv4Interface(f"{node.ip}/{inv.network.subnet.prefixlen}")
    problems += [f"address {i} is not inside network.subnet {inv.network.subnet}" for i in interfaces if i.network != inv.network.subnet]
    if want not in interfaces:
        problems.append(f"the node's address {want} is missing (addresses: {[str(i) for i in interfaces]})")
    return problems


def _gateway_problems(inv: Inventory, entry: dict) -> list[str]:
    gateway = inv.network.gateway
    vias = [r.get("via") for r in entry.get("routes") or [] if isinstance(r, dict) and str(r.get("to")) in DEFAULT_ROUTES]
    if "gateway4" in entry:  # deprecated in netplan, still read
        vias.append(entry["gateway4"])
    if not vias:
        return [f"no default route (routes: [{{to: default, via: {gateway}}}])"]
    return [f"the default route goes via {via}, network.gateway is {gateway}" for via in vias if _address(via) != gateway]


def _dns_problems(inv: Inventory, entry: dict) -> list[str]:
    nameservers = entry.get("nameservers") or {}
    found = [_address(a) for a in (nameservers.get("addresses") or [])] if isinstance(nameservers, dict) else []
    if found != list(inv.network.dns):
        return [f"nameservers.addresses are {[str(a) for a in found]}, network.dns is {[str(a) for a in inv.network.dns]}"]
    return []


def _address(value: object) -> IPv4Address | str:
    try:
        return IPv4Address(str(value))
    except ValueError:
        return str(value)
