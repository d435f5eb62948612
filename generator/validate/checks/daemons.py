"""The load balancers' daemons and every shell script, checked by their own tools:
`haproxy -c`, `keepalived --config-test` (inside a scratch network namespace,
see netns.py) and `shellcheck` (the repository's *.sh files and the scripts
cloud-init writes or runs)."""

from __future__ import annotations

import base64
import gzip
import re
import tempfile
from pathlib import Path

from ... import tools
from ...errors import ToolFailed
from ...render import loadbalancer
from .. import gitops, netns
from ..base import Context, Job, Result
from . import _common
from ._common import RERENDER, Tool

# layout.loadbalancer_dir and layout.seed_dir for every node (tests hold them together).
HAPROXY_FILES = f"loadbalancers/*/{loadbalancer.HAPROXY_CFG}"
KEEPALIVED_FILES = f"loadbalancers/*/{loadbalancer.KEEPALIVED_CONF}"
USER_DATA_FILES = "nodes/*/user-data"

HAPROXY = "haproxy -c"
KEEPALIVED = "keepalived --config-test"
SHELLCHECK = "shellcheck"

# keepalived 2.2.7 exits 5 on any error in the file (unknown keyword, missing
# interface, script not found or insecure) and 0 on a good one.
KEEPALIVED_FAILED = 5
# A shebang naming a shell shellcheck understands (bash or POSIX sh).
SHELL_SHEBANG = re.compile(r"^#!\s*(?:/usr/bin/env\s+)?(?:/usr)?(?:/bin/)?(bash|sh)\b")
SHELL_COMMANDS = ("bash", "sh")  # bootcmd/runcmd items such as [bash, -c, SCRIPT]


def jobs(ctx: Context) -> list[Job]:
    return [*haproxy_jobs(ctx), *keepalived_jobs(ctx), *shellcheck_jobs(ctx)]


# --- haproxy ---------------------------------------------------------------------


def haproxy_jobs(ctx: Context) -> list[Job]:
    tool = _common.find("haproxy")
    paths = _common.repo_files(ctx, HAPROXY_FILES)
    hint = f"haproxy rejects this configuration; {RERENDER}"

    def check(path: str) -> Result:
        # Its [NOTICE] lines (version, executable path) say nothing about the file.
        return _common.verdict(HAPROXY, path, [tool.require(), "-c", "-f", path], hint, cwd=ctx.repo, drop=r"^\[NOTICE\]")

    return _common.file_jobs(HAPROXY, tool, paths, check)


# --- keepalived ------------------------------------------------------------------


def keepalived_jobs(ctx: Context) -> list[Job]:
    tool = _common.find("keepalived")
    interface = ctx.inventory.network.interface
    paths = _common.repo_files(ctx, KEEPALIVED_FILES)
    return _common.file_jobs(
        KEEPALIVED,
        tool,
        paths,
        lambda path: keepalived_result(ctx, tool, path, interface),
        extra_inputs=lambda path: [p for p in [_check_script(path)] if (ctx.repo / p).is_file()],
        extra_key=f"interface={interface}",
    )


def _check_script(conf: str) -> str:
    return str(Path(conf).with_name(loadbalancer.CHECK_SCRIPT).as_posix())


def keepalived_result(ctx: Context, tool: Tool, path: str, interface: str) -> Result:
    """`keepalived --config-test` on a copy of the file, in a namespace where only `interface`
    exists, with the health-check script's installed path pointing at a copy of the rendered one."""
    with tempfile.TemporaryDirectory(prefix="cf-keepalived-") as tmp:
        scratch = Path(tmp)
        conf = _common.read(ctx, path)
        renames = {str(scratch / loadbalancer.KEEPALIVED_CONF): path}
        script = ctx.repo / _check_script(path)
        if script.is_file():
            copy = scratch / loadbalancer.CHECK_SCRIPT
            copy.write_bytes(script.read_bytes())
            copy.chmod(0o755)  # keepalived's script security: executable, writable by root only
            conf = conf.replace(loadbalancer.INSTALL_PATHS[loadbalancer.CHECK_SCRIPT], str(copy))
            renames[str(copy)] = _check_script(path)
        # Missing: the installed path stays, does not exist here, and keepalived says so.
        (scratch / loadbalancer.KEEPALIVED_CONF).write_text(conf, encoding="utf-8")
        hint = f"keepalived rejects this configuration; {RERENDER}"
        # NetnsUnavailable propagates: the runner reports it, uncached, as "not checked".
        with netns.scratch([interface]) as ns:
            argv = ns.command([tool.require(), "--config-test", "-f", scratch / loadbalancer.KEEPALIVED_CONF])
            return _common.verdict(KEEPALIVED, path, argv, hint, fail_codes=(KEEPALIVED_FAILED,), renames=renames)


# --- shellcheck ------------------------------------------------------------------


def shellcheck_jobs(ctx: Context) -> list[Job]:
    """One job for every script: the repository's *.sh files and the scripts each user-data
    writes or runs, checked in one shellcheck call per shell flag (three at most)."""
    tool = _common.find("shellcheck")
    committed = _common.committed_files(ctx.repo)
    scripts = [p for p in committed if p.endswith(".sh")]
    seeds = _common.repo_files(ctx, USER_DATA_FILES)
    if not scripts and not seeds:
        return []

    def run() -> list[Result]:
        return shellcheck_results(ctx, tool.require(), scripts, seeds)

    return [Job(SHELLCHECK, (*scripts, *seeds), run, tool.version)]


# shellcheck's gcc format: FILE:LINE:COLUMN: LEVEL: MESSAGE [SCxxxx]
GCC_LINE = re.compile(r"(?P<file>[^\n]*?):[0-9]+:[0-9]+: [^\n]*")
SHELLCHECK_FOUND = 1  # exit code: it found problems (others: it could not run)


def shellcheck_results(ctx: Context, shellcheck: Path, scripts: list[str], seeds: list[str]) -> list[Result]:
    """shellcheck on every script at once per shell flag; each finding goes back to the file
    (or the user-data and its entry) it is about."""
    findings: dict[str, list[str]] = {path: [] for path in [*scripts, *seeds]}
    broken: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="cf-shellcheck-") as tmp:
        # shell flag -> {file shellcheck is given: (the result's file, what to call it in messages)}
        batches: dict[str | None, dict[str, tuple[str, str]]] = {None: {path: (path, path) for path in scripts}}
        for seed in seeds:
            try:
                data = gitops.parse(_common.read(ctx, seed), seed)
            except gitops.ManifestError as e:
                broken[seed] = f"its scripts were not checked: {e}"
                continue
            for n, (label, text, shell) in enumerate(embedded_scripts(data)):
                script = Path(tmp) / f"seed{seeds.index(seed)}-script{n}"
                script.write_text(text, encoding="utf-8")
                batches.setdefault(shell, {})[str(script)] = (seed, f"{seed} {label}")
        for shell, files in batches.items():
            if files:
                _shellcheck(ctx, shellcheck, shell, files, findings)
    hint = f"shellcheck finds problems in this script; {RERENDER}"
    seed_hint = f"shellcheck finds problems in a script this user-data writes or runs (line numbers count from the script's first line); {RERENDER}"
    results = []
    for path, lines in findings.items():
        if path in broken:
            results.append(Result(SHELLCHECK, path, False, broken[path], "see the cloud-init schema check"))
        elif lines:
            results.append(Result(SHELLCHECK, path, False, "\n".join(lines), seed_hint if path in seeds else hint))
        else:
            results.append(Result(SHELLCHECK, path, True))
    return results


def _shellcheck(ctx: Context, shellcheck: Path, shell: str | None, files: dict[str, tuple[str, str]], findings: dict[str, list[str]]) -> None:
    argv = [shellcheck, "--format=gcc", *([f"--shell={shell}"] if shell else []), *files]
    done = tools.run(argv, cwd=ctx.repo, ok_codes=(0, SHELLCHECK_FOUND), timeout=_common.TIMEOUT)
    for line in done.stdout.splitlines():
        m = GCC_LINE.fullmatch(line)
        if m is None or m.group("file") not in files:
            raise ToolFailed([str(a) for a in argv], done.returncode, done.stdout, done.stderr)  # not its gcc format: cannot attribute
        owner, shown = files[m.group("file")]
        findings[owner].append(shown + line[len(m.group("file")) :])
    if done.returncode == SHELLCHECK_FOUND and not done.stdout.strip():
        raise ToolFailed([str(a) for a in argv], done.returncode, done.stdout, done.stderr)


def embedded_scripts(user_data: object) -> list[tuple[str, str, str | None]]:
    """(label, script, shell) for every shell script a cloud-config writes or runs:
    write_files entries with a bash/sh shebang, and [bash|sh, -c, SCRIPT] commands in
    bootcmd/runcmd. `shell` is None when the shebang says it."""
    if not isinstance(user_data, dict):
        return []
    found: list[tuple[str, str, str | None]] = []
    for i, entry in enumerate(user_data.get("write_files") or []):
        if not isinstance(entry, dict):
            continue
        content = _decoded(entry.get("content"), entry.get("encoding"))
        if content is not None and SHELL_SHEBANG.match(content):
            found.append((f"write_files[{i}] {entry.get('path', '')}".rstrip(), content, None))
    for key in ("bootcmd", "runcmd"):
        for i, command in enumerate(user_data.get(key) or []):
            if isinstance(command, list) and len(command) >= 3 and command[0] in SHELL_COMMANDS and command[1] == "-c":
                found.append((f"{key}[{i}]", str(command[2]), str(command[0])))
    return found


def _decoded(content: object, encoding: object) -> str | None:
    """write_files content as text, undoing the encodings cloud-init supports."""
    if not isinstance(content, str):
        return None
    if encoding in (None, "text/plain"):
        return content
    raw = base64.b64decode(content)
    if encoding in ("gz", "gzip", "gz+base64", "gzip+base64", "gz+b64", "gzip+b64"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")
