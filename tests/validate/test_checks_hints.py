"""What a failing tool check tells the user to do: each check's own hint, and the
passing files of the same run carry none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from generator.validate.base import Context, Job
from generator.validate.checks import daemons, routers
from generator.validate.checks._common import RERENDER
from support import copy, edit

from . import NeedTool, run

TOR_A = "routers/tor-a/frr.conf"
RS1 = "routers/rs1/bird.conf"
HAPROXY = "loadbalancers/haproxy1/haproxy.cfg"


@pytest.mark.tools
@pytest.mark.parametrize(
    ("fixture", "tool", "jobs", "path", "old", "new", "hint"),
    [
        ("variant", "vtysh", routers.frr_jobs, TOR_A, " bgp log-neighbor-changes", " bgp log-neighbour-changes", "FRR's parser rejects this configuration"),
        ("variant", "bird", routers.bird_jobs, RS1, "passive on;", "pasive on;", "BIRD's parser rejects this configuration"),
        ("reference", "haproxy", daemons.haproxy_jobs, HAPROXY, "balance roundrobin", "balanse roundrobin", "haproxy rejects this configuration"),
    ],
    ids=["frr", "bird", "haproxy"],
)
def test_a_rejected_file_says_where_it_comes_from(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    need_tool: NeedTool,
    fixture: str,
    tool: str,
    jobs: Callable[[Context], list[Job]],
    path: str,
    old: str,
    new: str,
    hint: str,
) -> None:
    need_tool(tool)
    root = copy(request.getfixturevalue(fixture), tmp_path)
    edit(root, path, old, new)
    results = run(root, jobs)
    (failed,) = [r for r in results if not r.ok]
    assert failed.file == path and failed.hint == f"{hint}; {RERENDER}"
    assert failed.message and "[NOTICE]" not in failed.message
    assert all(r.hint == "" and r.message == "" for r in results if r.ok)
