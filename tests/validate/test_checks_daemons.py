"""haproxy -c, keepalived --config-test (in a scratch network namespace) and shellcheck
on a rendered reference repository, clean and broken the way a person might break it."""

from __future__ import annotations

import base64
import gzip
import os
from pathlib import Path

import pytest

from generator import loader, tools
from generator.errors import ToolFailed
from generator.render import layout
from generator.validate import netns
from generator.validate.base import Context, Result
from generator.validate.checks import _common, daemons
from generator.validate.checks._common import RERENDER
from support import copy, edit, program

from . import NeedTool, ctx_of, failures, run

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
HAPROXY1 = "loadbalancers/haproxy1"


@pytest.fixture
def need_netns() -> None:
    try:
        with netns.scratch([]):
            pass
    except netns.NetnsUnavailable as e:
        if IN_CI:
            pytest.fail(f"CI must allow network namespaces: {e}")
        pytest.skip(str(e))


def test_globs_match_layout(reference: Path) -> None:
    inv = loader.check_file(reference / layout.INVENTORY).inventory
    for node in inv.loadbalancers:
        assert Path(f"{layout.loadbalancer_dir(node)}/haproxy.cfg").match(daemons.HAPROXY_FILES)
        assert Path(f"{layout.loadbalancer_dir(node)}/keepalived.conf").match(daemons.KEEPALIVED_FILES)
    for node in inv.nodes:
        assert Path(f"{layout.seed_dir(node)}/user-data").match(daemons.USER_DATA_FILES)


# --- haproxy -----------------------------------------------------------------------


@pytest.mark.tools
def test_haproxy_accepts_the_reference(reference: Path, need_tool: NeedTool) -> None:
    need_tool("haproxy")
    results = run(reference, daemons.haproxy_jobs)
    assert {r.file for r in results} == {f"loadbalancers/{n}/haproxy.cfg" for n in ("haproxy1", "haproxy2")}
    assert failures(results) == {}


@pytest.mark.tools
def test_haproxy_names_a_misspelt_directive(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("haproxy")
    root = copy(reference, tmp_path)
    edit(root, f"{HAPROXY1}/haproxy.cfg", "balance roundrobin", "balanse roundrobin")
    failed = failures(run(root, daemons.haproxy_jobs))
    assert list(failed) == [f"{HAPROXY1}/haproxy.cfg"]
    assert "unknown keyword 'balanse'" in failed[f"{HAPROXY1}/haproxy.cfg"]
    assert "[NOTICE]" not in failed[f"{HAPROXY1}/haproxy.cfg"]


# --- keepalived --------------------------------------------------------------------


@pytest.mark.netns
def test_scratch_namespace_has_the_interface_and_is_removed(need_netns: None) -> None:
    with pytest.raises(RuntimeError), netns.scratch(["ens160"]) as ns:
        links = tools.run(ns.command(["ip", "-o", "link", "show", "ens160"])).stdout
        assert "ens160" in links
        assert ns.name in tools.run(["ip", "netns", "list"]).stdout
        raise RuntimeError("the namespace must go away on an error too")
    assert ns.name not in tools.run(["ip", "netns", "list"]).stdout


@pytest.mark.tools
@pytest.mark.netns
def test_keepalived_accepts_the_reference(reference: Path, need_tool: NeedTool, need_netns: None) -> None:
    need_tool("keepalived")
    results = run(reference, daemons.keepalived_jobs)
    assert {r.file for r in results} == {f"loadbalancers/{n}/keepalived.conf" for n in ("haproxy1", "haproxy2")}
    assert failures(results) == {}


@pytest.mark.tools
@pytest.mark.netns
@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("advert_int 1", "advert_intt 1", "Unknown keyword 'advert_intt'"),
        ("interface ens160", "interface ens161", "ens161"),  # no such interface on the VM either
    ],
)
def test_keepalived_names_a_broken_file(
    reference: Path, tmp_path: Path, need_tool: NeedTool, need_netns: None, old: str, new: str, says: str
) -> None:
    need_tool("keepalived")
    root = copy(reference, tmp_path)
    edit(root, f"{HAPROXY1}/keepalived.conf", old, new)
    failed = failures(run(root, daemons.keepalived_jobs))
    assert list(failed) == [f"{HAPROXY1}/keepalived.conf"]
    assert says in failed[f"{HAPROXY1}/keepalived.conf"]
    assert "cf-keepalived-" not in failed[f"{HAPROXY1}/keepalived.conf"]  # scratch paths are renamed


@pytest.mark.tools
@pytest.mark.netns
def test_keepalived_fails_without_its_check_script(reference: Path, tmp_path: Path, need_tool: NeedTool, need_netns: None) -> None:
    need_tool("keepalived")
    root = copy(reference, tmp_path)
    (root / HAPROXY1 / "check_apiserver.sh").unlink()
    failed = failures(run(root, daemons.keepalived_jobs))
    assert list(failed) == [f"{HAPROXY1}/keepalived.conf"]
    assert "check_apiserver" in failed[f"{HAPROXY1}/keepalived.conf"]


# --- shellcheck --------------------------------------------------------------------


@pytest.mark.tools
def test_shellcheck_accepts_every_script_of_the_reference(reference: Path, need_tool: NeedTool) -> None:
    need_tool("shellcheck")
    results = run(reference, daemons.shellcheck_jobs)
    assert {layout.CILIUM_BOOTSTRAP, f"{HAPROXY1}/check_apiserver.sh", "nodes/cp1/user-data"} <= {r.file for r in results}
    assert failures(results) == {}


@pytest.mark.tools
def test_shellcheck_names_a_broken_script(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("shellcheck")
    root = copy(reference, tmp_path)
    edit(root, f"{HAPROXY1}/check_apiserver.sh", "set -euo pipefail", "set -euo pipefail\nls $1")
    failed = failures(run(root, daemons.shellcheck_jobs))
    assert list(failed) == [f"{HAPROXY1}/check_apiserver.sh"]
    assert "SC2086" in failed[f"{HAPROXY1}/check_apiserver.sh"]


@pytest.mark.tools
@pytest.mark.parametrize("node", ["cp1", "haproxy1"])  # a bootcmd `bash -c` script; a write_files script
def test_shellcheck_names_a_broken_embedded_script(reference: Path, tmp_path: Path, need_tool: NeedTool, node: str) -> None:
    need_tool("shellcheck")
    root = copy(reference, tmp_path)
    user_data = root / f"nodes/{node}/user-data"
    lines = user_data.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip() == "set -euo pipefail")
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    user_data.write_text("".join([*lines[: at + 1], f"{indent}ls $1\n", *lines[at + 1 :]]))
    failed = failures(run(root, daemons.shellcheck_jobs))
    assert list(failed) == [f"nodes/{node}/user-data"]
    assert f"nodes/{node}/user-data " in failed[f"nodes/{node}/user-data"]  # labelled by file and entry
    assert "SC2086" in failed[f"nodes/{node}/user-data"]


def test_shellcheck_runs_once_per_shell_flag(reference: Path) -> None:
    """Every script in one job, so three shellcheck calls at most, not one per file (25 for the lab)."""
    ctx = Context(reference, loader.check_file(reference / layout.INVENTORY).inventory, reference.parent / "cache")
    [job] = daemons.shellcheck_jobs(ctx)
    assert {layout.CILIUM_BOOTSTRAP, "nodes/cp1/user-data", "nodes/haproxy1/user-data"} <= set(job.inputs)


def test_embedded_scripts_finds_shell_scripts_only() -> None:
    script = "#!/bin/sh\necho hi\n"
    user_data = {
        "write_files": [
            {"path": "/a.sh", "content": script},
            {"path": "/b.sh", "content": base64.b64encode(script.encode()).decode(), "encoding": "b64"},
            {"path": "/c.py", "content": "#!/usr/bin/python3\nprint(1)\n"},
            {"path": "/d.conf", "content": "x = 1\n"},
        ],
        "runcmd": [["bash", "-c", "echo $0"], ["swapoff", "-a"], "echo plain"],
    }
    found = daemons.embedded_scripts(user_data)
    assert [(label, shell) for label, _, shell in found] == [("write_files[0] /a.sh", None), ("write_files[1] /b.sh", None), ("runcmd[0]", "bash")]
    assert found[1][1] == script


# --- each result whole, each job's inputs and key ---------------------------------------------


@pytest.mark.tools
def test_haproxy_results_whole(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("haproxy")
    root = copy(reference, tmp_path)
    edit(root, f"{HAPROXY1}/haproxy.cfg", "balance roundrobin", "balanse roundrobin")
    jobs = daemons.haproxy_jobs(ctx_of(root))
    assert [(j.check, j.inputs, j.extra_key) for j in jobs] == [
        (daemons.HAPROXY, (f"loadbalancers/{n}/haproxy.cfg",), "") for n in ("haproxy1", "haproxy2")
    ]
    broken, clean = (r for j in jobs for r in j.run())
    assert clean == Result(daemons.HAPROXY, "loadbalancers/haproxy2/haproxy.cfg", True)
    assert (broken.check, broken.file, broken.ok, broken.hint) == (daemons.HAPROXY, f"{HAPROXY1}/haproxy.cfg", False, f"haproxy rejects this configuration; {RERENDER}")
    # haproxy -c runs in the repository: it names the file as the repository does.
    assert broken.message.splitlines()[0].startswith("[ALERT]") and f"parsing [{HAPROXY1}/haproxy.cfg:" in broken.message


@pytest.mark.tools
@pytest.mark.netns
def test_keepalived_results_whole(reference: Path, tmp_path: Path, need_tool: NeedTool, need_netns: None) -> None:
    need_tool("keepalived")
    root = copy(reference, tmp_path)
    edit(root, f"{HAPROXY1}/keepalived.conf", "advert_int 1", "advert_intt 1")
    (root / "loadbalancers/haproxy2/check_apiserver.sh").unlink()
    jobs = daemons.keepalived_jobs(ctx_of(root))
    # The health-check script is an input when it is there: keepalived checks that it exists.
    assert [(j.check, j.inputs, j.extra_key) for j in jobs] == [
        (daemons.KEEPALIVED, (f"{HAPROXY1}/keepalived.conf", f"{HAPROXY1}/check_apiserver.sh"), "interface=ens160"),
        (daemons.KEEPALIVED, ("loadbalancers/haproxy2/keepalived.conf",), "interface=ens160"),
    ]
    first, second = (r for j in jobs for r in j.run())
    hint = f"keepalived rejects this configuration; {RERENDER}"
    assert (first.check, first.file, first.ok, first.hint) == (daemons.KEEPALIVED, f"{HAPROXY1}/keepalived.conf", False, hint)
    line = (root / HAPROXY1 / "keepalived.conf").read_text().splitlines().index("    advert_intt 1") + 1
    assert first.message == f"({HAPROXY1}/keepalived.conf: Line {line}) Unknown keyword 'advert_intt'"  # the scratch copy renamed
    assert (second.check, second.file, second.ok, second.hint) == (daemons.KEEPALIVED, "loadbalancers/haproxy2/keepalived.conf", False, hint)
    # Missing here, the script keeps its installed path, which does not exist here either.
    assert second.message == "Disabling track script check_apiserver since not found/accessible"


@pytest.mark.tools
@pytest.mark.netns
def test_keepalived_checks_the_rendered_script_where_the_file_installs_it(reference: Path, tmp_path: Path, need_tool: NeedTool, need_netns: None) -> None:
    """The script's installed path is pointed at a copy of the rendered script (executable,
    writable by root only, as script security wants), whatever its mode in the repository."""
    need_tool("keepalived")
    root = copy(reference, tmp_path)
    (root / HAPROXY1 / "check_apiserver.sh").chmod(0o666)
    [job, _] = daemons.keepalived_jobs(ctx_of(root))
    assert job.run() == [Result(daemons.KEEPALIVED, f"{HAPROXY1}/keepalived.conf", True)]


@pytest.mark.tools
@pytest.mark.netns
def test_keepalived_names_the_rendered_script_by_its_repository_path(reference: Path, tmp_path: Path, need_tool: NeedTool, need_netns: None) -> None:
    """keepalived names the script it checks: the scratch copy's path is shown as the rendered file's."""
    need_tool("keepalived")
    root = copy(reference, tmp_path)
    conf = f"{HAPROXY1}/keepalived.conf"
    edit(root, conf, 'script "/etc/keepalived/check_apiserver.sh"\n', 'script "/etc/keepalived/check_apiserver.sh"\n    user root nosuchgroup\n')
    lines = (root / conf).read_text().splitlines()
    user, track = lines.index("    user root nosuchgroup") + 1, lines.index("        check_apiserver") + 1
    [job, _] = daemons.keepalived_jobs(ctx_of(root))
    assert job.run() == [
        Result(
            daemons.KEEPALIVED,
            conf,
            False,
            f"({conf}: Line {user}) Unable to set uid/gid for script '{HAPROXY1}/check_apiserver.sh'\n"
            f"({conf}: Line {track}) (kube_apiserver_vip) track script check_apiserver not found, ignoring...",
            f"keepalived rejects this configuration; {RERENDER}",
        )
    ]


@pytest.mark.tools
def test_shellcheck_results_whole(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("shellcheck")
    root = copy(reference, tmp_path)
    edit(root, f"{HAPROXY1}/check_apiserver.sh", "set -euo pipefail", "set -euo pipefail\nls $1\nls $2")
    user_data = root / "nodes/cp1/user-data"
    lines = user_data.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip() == "set -euo pipefail")
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    user_data.write_text("".join([*lines[: at + 1], f"{indent}ls $2\n", *lines[at + 1 :]]))
    [job] = daemons.shellcheck_jobs(ctx_of(root))
    assert (job.check, job.extra_key) == (daemons.SHELLCHECK, "")
    assert job.tool_version == _common.find("shellcheck").version != ""  # a new shellcheck runs it again
    results = {r.file: r for r in job.run()}
    assert set(results) == set(job.inputs)
    script, seed = results[f"{HAPROXY1}/check_apiserver.sh"], results["nodes/cp1/user-data"]
    assert (script.check, script.ok, script.hint) == (daemons.SHELLCHECK, False, f"shellcheck finds problems in this script; {RERENDER}")
    assert [line.split(":")[0] for line in script.message.split("\n")] == [f"{HAPROXY1}/check_apiserver.sh"] * 2  # one line per finding
    seed_hint = f"shellcheck finds problems in a script this user-data writes or runs (line numbers count from the script's first line); {RERENDER}"
    assert (seed.check, seed.ok, seed.hint) == (daemons.SHELLCHECK, False, seed_hint)
    assert seed.message.startswith("nodes/cp1/user-data bootcmd[") and "SC2086" in seed.message and "seed0-script" not in seed.message
    assert results[layout.CILIUM_BOOTSTRAP] == Result(daemons.SHELLCHECK, layout.CILIUM_BOOTSTRAP, True)


@pytest.mark.tools
def test_a_user_data_that_is_not_yaml_has_its_scripts_unchecked(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("shellcheck")
    root = copy(reference, tmp_path)
    (root / "nodes/cp1/user-data").write_text("#cloud-config\n: [\n")
    later = root / "nodes/cp2/user-data"  # a later seed's scripts are still checked
    lines = later.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip() == "set -euo pipefail")
    later.write_text("".join([*lines[: at + 1], lines[at].replace("set -euo pipefail", "ls $1"), *lines[at + 1 :]]))
    results = {r.file: r for r in run(root, daemons.shellcheck_jobs)}
    assert not results["nodes/cp2/user-data"].ok and "SC2086" in results["nodes/cp2/user-data"].message
    broken = results["nodes/cp1/user-data"]
    assert (broken.check, broken.ok, broken.hint) == (daemons.SHELLCHECK, False, "see the cloud-init schema check")
    assert broken.message.startswith("its scripts were not checked: nodes/cp1/user-data")
    assert results["nodes/cp3/user-data"].ok


def test_no_script_and_no_seed_is_no_job(tmp_path: Path, reference: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    ctx = Context(root, loader.check_file(reference / layout.INVENTORY).inventory, tmp_path / "cache")
    assert daemons.shellcheck_jobs(ctx) == []


@pytest.mark.parametrize(
    "shebang",
    ["#!/bin/bash", "#!/bin/sh", "#! /bin/sh", "#!/usr/bin/env bash", "#!/usr/bin/env  sh", "#!/usr/bin/bash", "#!bash", "#!/bin/sh -e"],
)
def test_a_shell_shebang(shebang: str) -> None:
    assert daemons.SHELL_SHEBANG.match(f"{shebang}\necho\n")


@pytest.mark.parametrize("shebang", ["#!/usr/bin/python3", "#!/bin/zsh", "#!/bin/bashful", " #!/bin/sh", "# !/bin/sh", "echo #!/bin/sh"])
def test_not_a_shell_shebang(shebang: str) -> None:
    assert not daemons.SHELL_SHEBANG.match(f"{shebang}\necho\n")


@pytest.mark.parametrize("encoding", ["gz", "gzip", "gz+base64", "gzip+base64", "gz+b64", "gzip+b64"])
def test_embedded_scripts_undo_gzip(encoding: str) -> None:
    script = "#!/bin/sh\necho hé\n"
    content = base64.b64encode(gzip.compress(script.encode())).decode()
    [(label, text, shell)] = daemons.embedded_scripts({"write_files": [{"path": "/s", "content": content, "encoding": encoding}]})
    assert (label, text, shell) == ("write_files[0] /s", script, None)


@pytest.mark.parametrize("encoding", ["b64", "base64"])
def test_embedded_scripts_undo_base64(encoding: str) -> None:
    script = "#!/bin/sh\necho hé\n"
    content = base64.b64encode(script.encode()).decode()
    assert daemons.embedded_scripts({"write_files": [{"content": content, "encoding": encoding}]}) == [("write_files[0]", script, None)]


def test_embedded_scripts_of_odd_user_data() -> None:
    script = "#!/bin/sh\necho\n"
    assert daemons.embedded_scripts(["not", "a", "mapping"]) == []
    assert daemons.embedded_scripts({"write_files": None, "bootcmd": None}) == []
    assert daemons.embedded_scripts({"write_files": ["x", {"content": 3}, {"content": script, "encoding": "text/plain"}]}) == [("write_files[2]", script, None)]
    commands = [["sh", "-c", "a"], ["bash", "-c"], ["zsh", "-c", "b"], ["bash", "-e", "c"], ["bash", "-c", 5], "bash -c d"]
    assert daemons.embedded_scripts({"bootcmd": commands, "runcmd": [["bash", "-c", "e", "arg0"]]}) == [("bootcmd[0]", "a", "sh"), ("bootcmd[4]", "5", "bash"), ("runcmd[0]", "e", "bash")]


@pytest.mark.tools
def test_a_script_without_a_shebang_is_checked_for_the_shell_that_runs_it(reference: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    """`[sh, -c, SCRIPT]` runs SCRIPT with sh: shellcheck is told so, and finds what POSIX sh lacks."""
    need_tool("shellcheck")
    root = copy(reference, tmp_path)
    edit(root, "nodes/cp1/user-data", "\nbootcmd:\n", "\nbootcmd:\n  - [sh, -c, '[[ -n \"$1\" ]] && echo y']\n")
    failed = failures(run(root, daemons.shellcheck_jobs))
    assert list(failed) == ["nodes/cp1/user-data"]
    assert failed["nodes/cp1/user-data"].startswith("nodes/cp1/user-data bootcmd[0]:1:1: warning: In POSIX sh, [[ ]] is undefined. [SC3010]")


@pytest.mark.parametrize("encoding", ["b64", "gzip+base64"])
def test_embedded_scripts_replace_bytes_that_are_not_utf8(encoding: str) -> None:
    """A script of bytes that are not UTF-8 is still checked: each bad byte becomes U+FFFD."""
    raw = b"#!/bin/sh\necho \xff\xfe\n"
    content = base64.b64encode(gzip.compress(raw) if encoding.startswith("gz") else raw).decode()
    assert daemons.embedded_scripts({"write_files": [{"content": content, "encoding": encoding}]}) == [("write_files[0]", "#!/bin/sh\necho \ufffd\ufffd\n", None)]


def one_script_repo(tmp_path: Path, reference: Path, name: str, text: str) -> Context:
    root = tmp_path / "repo"
    root.mkdir()
    (root / name).write_text(text)
    return Context(root, loader.check_file(reference / layout.INVENTORY).inventory, tmp_path / "cache")


def test_scripts_alone_or_seeds_alone_are_a_job(tmp_path: Path, reference: Path) -> None:
    ctx = one_script_repo(tmp_path, reference, "a.sh", "#!/bin/sh\n")
    assert [j.inputs for j in daemons.shellcheck_jobs(ctx)] == [("a.sh",)]
    (ctx.repo / "a.sh").unlink()
    (ctx.repo / "nodes/cp1").mkdir(parents=True)
    (ctx.repo / "nodes/cp1/user-data").write_text("#cloud-config\n")
    assert [j.inputs for j in daemons.shellcheck_jobs(ctx)] == [("nodes/cp1/user-data",)]


@pytest.mark.tools
def test_a_finding_no_file_can_be_named_for_is_a_tool_failure(tmp_path: Path, reference: Path, need_tool: NeedTool) -> None:
    """A script named like the start of a finding: shellcheck's line reads as one about file `a`,
    which it was not given, so nothing can be attributed and the run fails whole."""
    shellcheck = need_tool("shellcheck")
    name = "a:1:1: b.sh"
    ctx = one_script_repo(tmp_path, reference, name, "#!/bin/sh\nls $1\n")
    with pytest.raises(ToolFailed) as failed:
        daemons.shellcheck_results(ctx, shellcheck, [name], [])
    stdout = f"{name}:2:4: note: Double quote to prevent globbing and word splitting. [SC2086]\n"
    assert (failed.value.argv, failed.value.returncode, failed.value.stdout, failed.value.stderr) == ([str(shellcheck), "--format=gcc", name], 1, stdout, "")


def stand_in(tmp_path: Path, body: str) -> Path:
    """A program in shellcheck's place, for what the real one never does."""
    return program(tmp_path / "bin" / "shellcheck", f"#!/bin/sh\n{body}\n")


def test_problems_found_but_none_printed_is_a_tool_failure(tmp_path: Path, reference: Path) -> None:
    """Exit code 1 (problems found) with no finding printed: nothing to show, so the run fails whole."""
    shellcheck = stand_in(tmp_path, "echo 'out of memory' >&2; exit 1")
    ctx = one_script_repo(tmp_path, reference, "a.sh", "#!/bin/sh\n")
    with pytest.raises(ToolFailed) as failed:
        daemons.shellcheck_results(ctx, shellcheck, ["a.sh"], [])
    assert (failed.value.argv, failed.value.returncode, failed.value.stdout, failed.value.stderr) == ([str(shellcheck), "--format=gcc", "a.sh"], 1, "", "out of memory\n")


def test_a_shellcheck_that_hangs_times_out(tmp_path: Path, reference: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopped after _common.TIMEOUT: this one would finish, passing everything, only after 5 s."""
    monkeypatch.setattr(_common, "TIMEOUT", 0.5)
    shellcheck = stand_in(tmp_path, "exec sleep 5")
    ctx = one_script_repo(tmp_path, reference, "a.sh", "#!/bin/sh\n")
    with pytest.raises(ToolFailed) as failed:
        daemons.shellcheck_results(ctx, shellcheck, ["a.sh"], [])
    assert (failed.value.argv, failed.value.returncode, failed.value.stdout, failed.value.stderr) == ([str(shellcheck), "--format=gcc", "a.sh"], None, "", "")
