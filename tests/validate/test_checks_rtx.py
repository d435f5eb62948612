"""Our RTX command checker, line by line: exact messages with their line numbers,
the AS number range at both ends, pre-shared keys, and the check's own result."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import loader
from generator.render import layout
from generator.validate.base import Context
from generator.validate.checks import routers
from generator.validate.checks._common import RERENDER
from support import copy, edit

from . import run
from .test_checks_routers import GOOD_RTX

RTX = "routers/rtx1220/rtx.txt"


def problems(old: str, new: str) -> list[str]:
    assert old in GOOD_RTX
    return routers.rtx_problems(GOOD_RTX.replace(old, new, 1))


@pytest.mark.parametrize(("asn", "ok"), [(0, False), (1, True), (65535, True), (65536, False)])
@pytest.mark.parametrize("where", ["autonomous-system", "neighbor", "export"])
def test_as_numbers_are_1_to_65535(asn: int, ok: bool, where: str) -> None:
    old, new, line = {
        "autonomous-system": ("bgp autonomous-system 64512", f"bgp autonomous-system {asn}", 3),
        "neighbor": ("bgp neighbor 1 64512 ", f"bgp neighbor 1 {asn} ", 5),
        "export": ("bgp export 64512 filter 1", f"bgp export {asn} filter 1", 7),
    }[where]
    expected = [] if ok else [f"line {line}: AS {asn} is outside 1-65535 (RTX takes 2-byte AS numbers only)"]
    assert problems(old, new) == expected


def test_exact_messages_with_line_numbers() -> None:
    assert problems("bgp router id 192.168.100.1", "bgp router id 192.168.100.300") == ["line 4: '192.168.100.300' is not an IPv4 address"]
    assert problems("64512 192.168.100.11 ", "64512 192.168.100.311 ") == ["line 5: '192.168.100.311' is not an IPv4 address"]
    assert problems("bgp router id", "bgp  router   ident") == ["line 4: `bgp router ident 192.168.100.1` is not a command of the RTX BGP subset clusterforge writes"]
    assert problems("bgp use on", "bgp use maybe") == ["line 2: 'maybe' is neither on nor off", "no `bgp use on`: BGP stays off"]


def test_pre_shared_keys_belong_to_neighbors_defined_above() -> None:
    key = "bgp neighbor pre-shared-key {} text secret-value\n"
    assert problems("bgp export filter", key.format(1) + "bgp export filter") == []
    assert problems("bgp export filter", key.format(2) + "bgp export filter") == ["line 6: pre-shared-key for neighbor 2, which is not defined above"]
    assert problems("bgp neighbor 1", key.format(1) + "bgp neighbor 1") == ["line 5: pre-shared-key for neighbor 1, which is not defined above"]


def test_the_check_result(reference: Path, tmp_path: Path) -> None:
    (clean,) = run(reference, routers.rtx_jobs)
    assert (clean.check, clean.file, clean.ok, clean.message, clean.hint) == (routers.RTX, RTX, True, "", "")
    root = copy(reference, tmp_path)
    edit(root, RTX, "bgp autonomous-system 64513", "bgp autonomous-system 70000")
    (failed,) = run(root, routers.rtx_jobs)
    assert (failed.check, failed.file, failed.ok) == (routers.RTX, RTX, False)
    assert failed.message == "line 25: AS 70000 is outside 1-65535 (RTX takes 2-byte AS numbers only)"
    assert failed.hint == f"RTX would reject or misapply these commands; {RERENDER}"
    (job,) = routers.rtx_jobs(Context(root, loader.check_file(root / layout.INVENTORY).inventory, tmp_path / "cache"))
    assert (job.check, job.inputs) == (routers.RTX, (RTX,))  # cached by the file's content


def test_neighbor_numbers_options_and_repeats() -> None:
    assert problems("bgp neighbor 1 ", "bgp neighbor 33 ") == ["line 5: '33' is not an integer in 1-32"]
    assert problems("bgp export filter", "bgp neighbor 1 64512 192.168.100.12 passive=on\nbgp export filter") == [
        "line 6: neighbor 1 is defined twice (line 5)"
    ]
    assert problems("passive=on", "passive=on weight=5") == [
        "line 5: 'weight=5' is not one of the neighbor parameters hold-time=, passive=, local-address=, gateway="
    ]
    assert problems("passive=on", "passive=on gateway") == [
        "line 5: 'gateway' is not one of the neighbor parameters hold-time=, passive=, local-address=, gateway="
    ]
    # The first `=` separates the parameter from its value.
    assert problems("passive=on", "passive=on gateway=192.168.100.1=x") == ["line 5: '192.168.100.1=x' is not an IPv4 address"]
    assert problems("passive=on", "passive=on local-address=192.168.100.2 gateway=192.168.100.1") == []


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("bgp use on\n", "", ["no `bgp use on`: BGP stays off"]),
        ("bgp use on\n", "bgp use off\n", ["no `bgp use on`: BGP stays off"]),
        ("bgp configure refresh\n", "", ["line 7: the last command is not `bgp configure refresh`: nothing after it takes effect"]),
        ("bgp export 64512 filter 1", "bgp export 64512 filter 1 2", ["line 7: filter 2 is not defined by any `bgp export filter 2 include ...`"]),
        ("bgp export 64512 filter 1", "bgp export 64512 filter", ["line 7: `bgp export 64512 filter` is not a command of the RTX BGP subset clusterforge writes"]),
        ("hold-time=90", "hold-time=3", []),
        ("hold-time=90", "hold-time=65535", []),
        ("hold-time=90", "hold-time=65536", ["line 5: '65536' is not an integer in 3-65535"]),
        ("hold-time=90", "hold-time=x", ["line 5: 'x' is not an integer in 3-65535"]),
        ("passive=on", "passive=off", []),
        ("passive=on", "passive=yes", ["line 5: 'yes' is neither on nor off"]),
        ("bgp neighbor 1 ", "bgp neighbor 0 ", ["line 5: '0' is not an integer in 1-32"]),
        ("bgp neighbor 1 ", "bgp neighbor 32 ", []),
        ("bgp export filter 1 include", "bgp export filter 0 include",
         ["line 6: '0' is not a filter number", "line 7: filter 1 is not defined by any `bgp export filter 1 include ...`"]),
        ("bgp export filter 1 include", "bgp export filter x include",
         ["line 6: 'x' is not a filter number", "line 7: filter 1 is not defined by any `bgp export filter 1 include ...`"]),
        ("include 192.168.101.0/24 10.244.0.0/16", "include",
         ["line 6: `bgp export filter 1 include` is not a command of the RTX BGP subset clusterforge writes",
          "line 7: filter 1 is not defined by any `bgp export filter 1 include ...`"]),
        ("include 192.168.101.0/24", "include 192.168.101.0", ["line 6: '192.168.101.0' is not NET/LEN"]),
        ("include 192.168.101.0/24", "include 192.168.101.1/24", ["line 6: '192.168.101.1/24' is not a network: 192.168.101.1/24 has host bits set"]),
        ("bgp autonomous-system 64512", "bgp autonomous-system \uff16\uff14", ["line 3: '\uff16\uff14' is not an AS number"]),  # fullwidth digits
        ("bgp autonomous-system 64512", "bgp autonomous-system 12345678901", ["line 3: '12345678901' is not an AS number"]),
        ("bgp export 64512 filter 1", "bgp export 64512 filter 9\nbgp export 64513 filter 1",
         ["line 7: filter 9 is not defined by any `bgp export filter 9 include ...`"]),  # every export line counts
        ("bgp router id 192.168.100.1", "bgp router id 192.168.100.1\nbgp neighbor 1 64512 192.168.100.12",
         ["line 6: neighbor 1 is defined twice (line 5)"]),
    ],
)
def test_exact_problems(old: str, new: str, expected: list[str]) -> None:
    assert problems(old, new) == expected


@pytest.mark.parametrize("text", ["", "# only a comment\n\n   \n"])
def test_no_commands_at_all(text: str) -> None:
    assert routers.rtx_problems(text) == ["no `bgp use on`: BGP stays off", "the last command is not `bgp configure refresh`: nothing after it takes effect"]


def test_commands_are_words_with_their_line_numbers() -> None:
    assert routers.rtx_commands("# c\n\n  bgp  use on \n\t#x\nbgp configure refresh") == [(3, ["bgp", "use", "on"]), (5, ["bgp", "configure", "refresh"])]


def test_32_neighbors_are_the_most() -> None:
    neighbors = "".join(f"bgp neighbor {i} 64512 10.0.0.{i}\n" for i in range(1, 33))
    assert routers.rtx_problems(GOOD_RTX.replace("bgp neighbor 1 64512 192.168.100.11 hold-time=90 passive=on\n", neighbors)) == []
