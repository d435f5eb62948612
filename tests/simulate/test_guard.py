"""The simulation runs keepalived and haproxy as root with the repository's files: a
file that would make them run another program is refused, naming file and line."""

from __future__ import annotations

import pytest

from generator import loader
from generator.render import loadbalancer
from generator.simulate import guard, twin
from generator.simulate.twin import CannotSimulate, SimFile

from .test_twin import EXAMPLE

KEEPALIVED = "loadbalancers/haproxy1/keepalived.conf"
HAPROXY = "loadbalancers/haproxy1/haproxy.cfg"


def rendered(name: str) -> str:
    inv = twin.build(loader.check_file(EXAMPLE).inventory).inventory
    return {
        loadbalancer.KEEPALIVED_CONF: loadbalancer.keepalived_conf(inv, inv.loadbalancers[0]),
        loadbalancer.HAPROXY_CFG: loadbalancer.haproxy_cfg(inv),
    }[name]


def test_the_rendered_files_pass() -> None:
    guard.keepalived_conf(SimFile(KEEPALIVED, rendered(loadbalancer.KEEPALIVED_CONF), False))
    guard.haproxy_cfg(SimFile(HAPROXY, rendered(loadbalancer.HAPROXY_CFG), False))
    guard.check_script(SimFile("loadbalancers/haproxy1/check_apiserver.sh", "#!/usr/bin/env bash\n", False))


@pytest.mark.parametrize(
    ("old", "new", "line"),
    [
        ('script "/usr/bin/pgrep -x haproxy"', 'script "/bin/sh -c \'rm -rf /srv\'"', r"script \"/bin/sh"),
        ("    advert_int 1", "    advert_int 1\n    notify_master \"/usr/local/bin/page-me\"", "notify_master"),
        ("global_defs {", "global_defs {\n    vrrp_notify_fifo /tmp/fifo", "vrrp_notify_fifo"),
    ],
)
def test_keepalived_running_another_program_is_refused(old: str, new: str, line: str) -> None:
    text = rendered(loadbalancer.KEEPALIVED_CONF)
    assert old in text
    with pytest.raises(CannotSimulate, match=rf"^{KEEPALIVED}:\d+: `.*{line}.*` would run a program"):
        guard.keepalived_conf(SimFile(KEEPALIVED, text.replace(old, new), True))


@pytest.mark.parametrize("added", ["    external-check command /bin/true", "    option external-check", "    lua-load /tmp/x.lua", "program evil"])
def test_haproxy_running_programs_is_refused(added: str) -> None:
    text = rendered(loadbalancer.HAPROXY_CFG).replace("    maxconn 4000", "    maxconn 4000\n" + added)
    with pytest.raises(CannotSimulate, match=rf"^{HAPROXY}:\d+: "):
        guard.haproxy_cfg(SimFile(HAPROXY, text, True))


def test_an_edited_check_script_is_refused() -> None:
    with pytest.raises(CannotSimulate, match="check_apiserver.sh differs from what cluster.yaml renders and keepalived would run it"):
        guard.check_script(SimFile("loadbalancers/haproxy1/check_apiserver.sh", "#!/bin/sh\nexit 0\n", True))
