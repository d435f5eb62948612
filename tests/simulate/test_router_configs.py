"""What the routers run: the rendered FRR and BIRD files with the password line their
comments ask for, and FRR standing in for a Yamaha RTX from its rendered commands,
each accepted by the daemon's own parser."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from generator import repo, tools
from generator.render import layout
from generator.simulate import twin
from generator.simulate.routers import Router, RouterConfigError, rtx_as_frr

NeedTool = Callable[..., Path]


def router(root: Path, name: str) -> tuple[Router, str]:
    """The router of a peer (no machine: building its configuration needs none) and its simulated file."""
    t = twin.build(repo.load(root).inventory)
    assert t.inventory.bgp is not None
    peer = next(p for p in t.inventory.bgp.peers if p.name == name)
    file = layout.router_file(peer)
    return Router(peer, file, None), twin.Sources(root, t).get(file).text  # type: ignore[arg-type]


def test_rtx_stand_in_does_what_the_commands_say(reference: Path) -> None:
    _router, text = router(reference, "rtx1220")
    frr = rtx_as_frr(text, "routers/rtx1220/rtx.txt", None)
    assert "router bgp 64513\n bgp router-id 192.0.2.1\n" in frr
    assert " neighbor 192.0.2.11 remote-as 64512\n neighbor 192.0.2.11 passive\n neighbor 192.0.2.11 timers 30 90\n" in frr
    assert "ip prefix-list RTX-FILTER-1 seq 10 permit 192.168.101.0/24 le 32" in frr
    assert "route-map RTX-IN-64512 permit 10\n match ip address prefix-list RTX-FILTER-1\nexit" in frr
    assert "route-map RTX-OUT deny 10" in frr and "password" not in frr
    assert " neighbor 192.0.2.11 password pw\n" in rtx_as_frr(text, "x", "pw")


def test_rtx_stand_in_refuses_commands_it_does_not_know(reference: Path) -> None:
    _router, text = router(reference, "rtx1220")
    with pytest.raises(RouterConfigError, match=r"routers/rtx1220/rtx.txt: line \d+: `ip route default gateway pp 1`"):
        rtx_as_frr(text + "ip route default gateway pp 1\n", "routers/rtx1220/rtx.txt", None)


@pytest.mark.tools
def test_every_router_config_parses(reference: Path, ebgp: Path, need_tool: NeedTool, tmp_path: Path) -> None:
    vtysh, bird = need_tool("vtysh"), need_tool("bird")
    configs = [
        (router(reference, "rtx1220"), None),
        (router(ebgp, "tor"), None),
        (router(ebgp, "edge"), "pa$$ word"),
    ]
    for (r, text), password in configs:
        conf = tmp_path / f"{r.peer.name}.conf"
        conf.write_text(r.config(text, password))
        if r.kind == "bird":
            assert f'template bgp cilium {{\n  password "{password}";' in conf.read_text()
            tools.run([bird, "-p", "-c", conf])
        else:
            tools.run([vtysh, "--dryrun", "-f", conf])


def test_a_password_needs_the_line_the_comments_name(ebgp: Path) -> None:
    r, text = router(ebgp, "tor")
    assert " neighbor CILIUM peer-group\n neighbor CILIUM password pw\n" in r.config(text, "pw")
    with pytest.raises(RouterConfigError, match="routers/tor/frr.conf: no `neighbor GROUP peer-group` line"):
        r.config(text.replace(" neighbor CILIUM peer-group\n", ""), "pw")
