"""vtysh --dryrun, bird -p and our RTX command checker on rendered router configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import loader
from generator.render import layout
from generator.validate.base import Result
from generator.validate.checks import routers
from generator.validate.checks._common import RERENDER
from support import copy, edit

from . import NeedTool, ctx_of, failures, run

RTX = "routers/rtx1220/rtx.txt"
TOR_A = "routers/tor-a/frr.conf"
RS1 = "routers/rs1/bird.conf"


def test_globs_match_layout(variant: Path) -> None:
    inv = loader.check_file(variant / layout.INVENTORY).inventory
    assert inv.bgp is not None
    for peer in inv.bgp.peers:
        assert Path(layout.router_file(peer)).match(routers.FILES[peer.router])


@pytest.mark.tools
def test_every_router_file_passes(reference: Path, variant: Path, need_tool: NeedTool) -> None:
    need_tool("vtysh")
    need_tool("bird")
    assert failures(run(reference, routers.jobs)) == {}
    results = run(variant, routers.jobs)
    assert {r.file for r in results} == {TOR_A, "routers/tor-b/frr.conf", RS1}
    assert failures(results) == {}


@pytest.mark.tools
def test_vtysh_names_an_unknown_command(variant: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("vtysh")
    root = copy(variant, tmp_path)
    edit(root, TOR_A, " bgp log-neighbor-changes", " bgp log-neighbour-changes")
    failed = failures(run(root, routers.frr_jobs))
    assert list(failed) == [TOR_A]
    assert "% Unknown command" in failed[TOR_A]


@pytest.mark.tools
def test_bird_names_a_syntax_error(variant: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("bird")
    root = copy(variant, tmp_path)
    edit(root, RS1, "passive on;", "pasive on;")
    failed = failures(run(root, routers.bird_jobs))
    assert list(failed) == [RS1]
    assert f"{RS1}:" in failed[RS1] and "syntax error" in failed[RS1]


def test_rtx_checker_names_the_file(reference: Path, tmp_path: Path) -> None:
    root = copy(reference, tmp_path)
    edit(root, RTX, "bgp autonomous-system 64513", "bgp autonomous-system 70000")
    failed = failures(run(root, routers.rtx_jobs))
    assert list(failed) == [RTX]
    assert "AS 70000 is outside 1-65535" in failed[RTX]


GOOD_RTX = """\
# a comment
bgp use on
bgp autonomous-system 64512
bgp router id 192.168.100.1
bgp neighbor 1 64512 192.168.100.11 hold-time=90 passive=on
bgp export filter 1 include 192.168.101.0/24 10.244.0.0/16
bgp export 64512 filter 1
bgp configure refresh
"""


def test_rtx_checker_accepts_what_we_write() -> None:
    assert routers.rtx_problems(GOOD_RTX) == []


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("bgp use on\n", "", "no `bgp use on`"),
        ("bgp configure refresh\n", "", "the last command is not `bgp configure refresh`"),
        ("bgp configure refresh\n", "bgp configure refresh\nbgp use on\n", "the last command is not `bgp configure refresh`"),
        ("bgp export 64512 filter 1", "bgp export 64512 filter 2", "filter 2 is not defined"),
        ("64512 192.168.100.11", "0 192.168.100.11", "AS 0 is outside 1-65535"),
        ("192.168.100.11 hold-time", "192.168.100.311 hold-time", "is not an IPv4 address"),
        ("passive=on", "passiv=on", "'passiv=on' is not one of the neighbor parameters"),
        ("hold-time=90", "hold-time=2", "not an integer in 3-65535"),
        ("include 192.168.101.0/24", "include 192.168.101.0", "is not NET/LEN"),
        ("include 192.168.101.0/24", "include 192.168.101.1/24", "is not a network"),
        ("bgp router id", "bgp routerid", "is not a command of the RTX BGP subset"),
    ],
)
def test_rtx_checker_finds(old: str, new: str, says: str) -> None:
    assert old in GOOD_RTX
    problems = routers.rtx_problems(GOOD_RTX.replace(old, new, 1))
    assert any(says in p for p in problems), problems


def test_rtx_checker_counts_neighbors() -> None:
    neighbors = "".join(f"bgp neighbor {i} 64512 10.0.0.{i} passive=on\n" for i in range(1, 34))
    problems = routers.rtx_problems(GOOD_RTX.replace("bgp export filter", neighbors + "bgp export filter"))
    assert "33 neighbors: RTX takes at most 32" in problems
    assert any(p.startswith("line ") and "'33' is not an integer in 1-32" in p for p in problems)


@pytest.mark.tools
def test_frr_and_bird_results_whole(variant: Path, tmp_path: Path, need_tool: NeedTool) -> None:
    need_tool("vtysh")
    need_tool("bird")
    root = copy(variant, tmp_path)
    edit(root, TOR_A, " bgp log-neighbor-changes", " bgp log-neighbour-changes")
    edit(root, RS1, "passive on;", "pasive on;")
    jobs = routers.jobs(ctx_of(root))
    assert [(j.check, j.inputs, j.extra_key) for j in jobs] == [
        (routers.FRR, (TOR_A,), ""), (routers.FRR, ("routers/tor-b/frr.conf",), ""), (routers.BIRD, (RS1,), ""),
    ]
    frr, clean, bird = (r for j in jobs for r in j.run())
    assert clean == Result(routers.FRR, "routers/tor-b/frr.conf", True)
    assert (frr.check, frr.file, frr.ok, frr.hint) == (routers.FRR, TOR_A, False, f"FRR's parser rejects this configuration; {RERENDER}")
    assert "% Unknown command" in frr.message and "log-neighbour-changes" in frr.message
    assert (bird.check, bird.file, bird.ok, bird.hint) == (routers.BIRD, RS1, False, f"BIRD's parser rejects this configuration; {RERENDER}")
    line = next(n for n, text in enumerate((root / RS1).read_text().splitlines(), 1) if "pasive on;" in text)
    assert bird.message.startswith(f"bird: {RS1}:{line}:")  # bird -p runs in the repository: it names the file so

