"""haproxy -c, keepalived --config-test (in a scratch network namespace) and shellcheck
on a rendered reference repository, clean and broken the way a person might break it."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from generator import loader, tools
from generator.render import layout
from generator.validate import netns
from generator.validate.base import Context
from generator.validate.checks import daemons
from support import copy, edit

from . import NeedTool, failures, run

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
