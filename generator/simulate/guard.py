"""What the simulation refuses to run: it starts keepalived and haproxy as root with the
repository's files, so a file that would make them run a program other than the ones
clusterforge renders is refused before anything starts.

Configuration files edited by hand are simulated (that is the point); a program is
run only as rendered: an edited check script, a keepalived script or notify hook
naming another program, and haproxy's ways of running programs or Lua are refused.
"""

from __future__ import annotations

import re
import shlex

from ..render import loadbalancer
from .twin import CannotSimulate, SimFile

# What a rendered keepalived.conf runs: the check script and a process check.
KEEPALIVED_PROGRAMS = (loadbalancer.INSTALL_PATHS[loadbalancer.CHECK_SCRIPT], "/usr/bin/pgrep", "/usr/bin/pidof", "/bin/pidof")
KEEPALIVED_SCRIPT = re.compile(r"^\s*script\s+(.*)$")
KEEPALIVED_HOOK = re.compile(r"^\s*(\w*notify\w*|\w*fifo\w*)\b")  # notify_master, vrrp_notify_fifo_script, ...
HAPROXY_RUNS = re.compile(r"^\s*(external-check|option\s+external-check|lua-\S+|program\b|command\b|setenv|presetenv|resetenv)")
REFUSE = "the simulation runs keepalived and haproxy as root: it runs programs only as clusterforge renders them; run `clusterforge render`"


def _refuse(file: SimFile, line: int, text: str) -> CannotSimulate:
    return CannotSimulate(f"{file.path}:{line}: `{text.strip()}` would run a program: {REFUSE}")


def check_script(file: SimFile) -> None:
    if file.edited:
        raise CannotSimulate(f"{file.path} differs from what cluster.yaml renders and keepalived would run it: {REFUSE}")


def keepalived_conf(file: SimFile) -> None:
    for number, line in enumerate(file.text.splitlines(), 1):
        code = line.split("!", 1)[0].split("#", 1)[0]
        if KEEPALIVED_HOOK.match(code):
            raise _refuse(file, number, code)
        if m := KEEPALIVED_SCRIPT.match(code):
            try:
                program = shlex.split(m.group(1))[0].split()[0]
            except (ValueError, IndexError):
                raise _refuse(file, number, code) from None
            if program not in KEEPALIVED_PROGRAMS:
                raise _refuse(file, number, code)


def haproxy_cfg(file: SimFile) -> None:
    for number, line in enumerate(file.text.splitlines(), 1):
        code = line.split("#", 1)[0]
        if HAPROXY_RUNS.match(code):
            raise _refuse(file, number, code)
