"""Machines and segments of the simulated network, and taking them all down again.

A segment is a namespace holding one bridge; a machine is a network namespace plus
its own PID and mount namespace (so keepalived's process check for haproxy sees only
that machine's haproxy, as on a VM). A machine's interface is one end of a veth pair
whose other end is a port of the segment's bridge, so nothing ever touches the host's
own interfaces. Every name starts with `cf<random token>-`, so runs side by side
never collide.

The PID namespace's first process (`sleep`, started through `unshare --kill-child`)
is the machine's life: killing it kills every daemon left in it. Each machine also
has its own /var/tmp, which goes with it. The `unshare` process dies with this one
(parent-death signal), so even an uncatchable kill of clusterforge takes the daemons
down; only the named network namespaces and the temporary folder would remain, and
`--keep` prints how to remove those.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import tools
from ..errors import ClusterforgeError, ToolFailed

IP_TIMEOUT = 10  # seconds for one `ip` command: they take milliseconds
STOP_TIMEOUT = 10  # seconds a daemon gets to exit after SIGTERM before SIGKILL
START_TIMEOUT = 5  # seconds for nsenter to fork the daemon
KEEP_ALIVE = "infinity"  # with --keep the machines outlive clusterforge
PR_SET_PDEATHSIG = 1


class NamespacesUnavailable(ClusterforgeError):
    """Network namespaces cannot be made here (not root, not Linux, no support)."""

    exit_code = 2


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _parent_of(int(entry)) == pid:
            found.append(int(entry))
    return found


@dataclass
class Daemon:
    """A long-running process inside a machine (through `nsenter`, which waits for it)."""

    machine: Machine
    name: str
    argv: list[str]
    log: Path
    wrapper: subprocess.Popen[bytes]
    pid: int  # the daemon itself, as the host sees it

    @property
    def running(self) -> bool:
        return self.wrapper.poll() is None

    def signal(self, sig: int) -> None:
        if self.running:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.wrapper.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.wrapper.wait(STOP_TIMEOUT)
        self.machine.topology.forget(self)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Machine:
    topology: Topology
    name: str  # as the report shows it
    netns: str  # the network namespace's name
    holder: subprocess.Popen[bytes]
    init_pid: int  # PID 1 of the machine's PID namespace, as the host sees it
    directory: Path  # its own part of the temporary folder

    def _enter(self, argv: Sequence[str | os.PathLike[str]]) -> list[str]:
        nsenter = str(self.topology.nsenter)
        return [nsenter, "-t", str(self.init_pid), "-p", "-m", "-n", "--", *(str(a) for a in argv)]

    def ip(self, *args: str, ok_codes: Sequence[int] = (0,)) -> tools.Completed:
        return tools.run([self.topology.ip, "-n", self.netns, *args], timeout=IP_TIMEOUT, ok_codes=ok_codes)

    def run(self, argv: Sequence[str | os.PathLike[str]], *, timeout: float = 30, ok_codes: Sequence[int] = (0,)) -> tools.Completed:
        """A command inside the machine, to completion."""
        return tools.run(self._enter(argv), timeout=timeout, ok_codes=ok_codes)

    def start(self, name: str, argv: Sequence[str | os.PathLike[str]]) -> Daemon:
        """Start a foreground daemon; its output goes to a log file in the machine's folder."""
        log = self.directory / f"{name}.log"
        with open(log, "ab") as out:
            wrapper = subprocess.Popen(
                self._enter(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches clusterforge only, which then stops everything in order
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not (children := _children(wrapper.pid)):
            if wrapper.poll() is not None or time.monotonic() > deadline:
                raise ClusterforgeError(f"{name} did not start on {self.name}: {' '.join(map(str, argv))}\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.005)
        daemon = Daemon(self, name, [str(a) for a in argv], log, wrapper, children[0])
        self.topology.track(daemon)
        return daemon

    def sysctl(self, settings: dict[str, str]) -> None:
        """Kernel settings of this machine's network namespace (net.*)."""
        if settings:
            self.run(["sysctl", "-q", "-w", *(f"{key}={value}" for key, value in settings.items())])


@dataclass
class Port:
    """A machine's link to a segment: the bridge port that a cable cut takes down."""

    segment: str  # the segment's namespace
    name: str  # the bridge port's name in that namespace
    machine: Machine
    interface: str


@dataclass
class Topology:
    """Every namespace, process and file of one simulation, and their removal."""

    token: str
    directory: Path
    ip: Path
    nsenter: Path
    unshare: Path
    keep: bool = False
    namespaces: list[str] = field(default_factory=list)
    machines: list[Machine] = field(default_factory=list)
    daemons: list[Daemon] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ports: int = 0

    @classmethod
    def create(cls, *, keep: bool = False) -> Topology:
        ip, nsenter, unshare = tools.require("ip"), _require_system("nsenter"), _require_system("unshare")
        token = secrets.token_hex(3)
        directory = Path(tempfile.mkdtemp(prefix=f"cf{token}-simulate-"))
        return cls(token, directory, ip, nsenter, unshare, keep)

    def _name(self, name: str) -> str:
        return f"cf{self.token}-{name}"

    def _add_netns(self, name: str) -> str:
        netns = self._name(name)
        try:
            tools.run([self.ip, "netns", "add", netns], timeout=IP_TIMEOUT)
        except ToolFailed as e:
            raise NamespacesUnavailable(f"cannot create a network namespace: {(e.stderr or e.stdout).strip()}") from None
        with self._lock:
            self.namespaces.append(netns)
        tools.run([self.ip, "-n", netns, "link", "set", "lo", "up"], timeout=IP_TIMEOUT)
        return netns

    def segment(self, name: str) -> str:
        """A namespace holding the bridge `br0`: one L2 segment."""
        netns = self._add_netns(f"sw-{name}")
        tools.run([self.ip, "-n", netns, "link", "add", "br0", "type", "bridge"], timeout=IP_TIMEOUT)
        tools.run([self.ip, "-n", netns, "link", "set", "br0", "up"], timeout=IP_TIMEOUT)
        return netns

    def machine(self, name: str) -> Machine:
        """A namespace with its own PID namespace; call from the main thread (the parent-death
        signal is tied to the thread that starts it)."""
        netns = self._add_netns(name)
        lifetime = KEEP_ALIVE if self.keep else str(24 * 3600)
        # Its own /var/tmp (FRR keeps per-process folders there, named by the PID inside the
        # machine, which collide between machines): gone with the machine's mount namespace.
        first = f"mount -t tmpfs -o mode=1777 cf-{self.token} /var/tmp && exec sleep {lifetime}"
        argv = [self.nsenter, f"--net=/run/netns/{netns}", "--", self.unshare, "--pid", "--fork", "--mount-proc", "--kill-child", "--", "sh", "-c", first]
        holder = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=None if self.keep else _die_with_parent,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while not (children := _children(holder.pid)):
            if holder.poll() is not None or time.monotonic() > deadline:
                err = holder.stderr.read().decode(errors="replace") if holder.stderr and holder.poll() is not None else ""
                raise NamespacesUnavailable(f"cannot create the PID namespace of {name}: {err.strip() or 'unshare did not start'}")
            time.sleep(0.005)
        directory = self.directory / name
        directory.mkdir(mode=0o700)
        machine = Machine(self, name, netns, holder, children[0], directory)
        with self._lock:
            self.machines.append(machine)
        machine.sysctl({"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"})
        return machine

    def connect(self, machine: Machine, segment: str, interface: str, address: str) -> Port:
        """A veth pair made inside the segment: one end a bridge port, the other moved into
        the machine and renamed `interface` (veth: the dummy type is missing in some sandboxes)."""
        with self._lock:
            self._ports += 1
            number = self._ports
        port, end = f"p{number}", f"m{number}"
        run = lambda *args: tools.run([self.ip, *args], timeout=IP_TIMEOUT)  # noqa: E731
        run("-n", segment, "link", "add", port, "type", "veth", "peer", "name", end)
        run("-n", segment, "link", "set", end, "netns", machine.netns)
        run("-n", machine.netns, "link", "set", end, "name", interface)
        run("-n", segment, "link", "set", port, "master", "br0")
        run("-n", segment, "link", "set", port, "up")
        run("-n", machine.netns, "addr", "add", address, "dev", interface)
        run("-n", machine.netns, "link", "set", interface, "up")
        return Port(segment, port, machine, interface)

    def set_port(self, port: Port, up: bool) -> None:
        tools.run([self.ip, "-n", port.segment, "link", "set", port.name, "up" if up else "down"], timeout=IP_TIMEOUT)

    def track(self, daemon: Daemon) -> None:
        with self._lock:
            self.daemons.append(daemon)

    def forget(self, daemon: Daemon) -> None:
        with self._lock:
            if daemon in self.daemons:
                self.daemons.remove(daemon)

    # --- the end ---------------------------------------------------------------------

    def close(self) -> None:
        """Stop every daemon, end every machine, delete every namespace and the folder.
        Runs to the end whatever fails on the way; safe to call twice."""
        with self._lock:
            daemons, self.daemons = list(self.daemons), []
            machines, self.machines = list(self.machines), []
            namespaces, self.namespaces = list(self.namespaces), []
        threads = [threading.Thread(target=_quietly, args=(d.stop,)) for d in daemons]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(STOP_TIMEOUT * 2 + 5)
        for machine in machines:
            _quietly(lambda m=machine: os.kill(m.init_pid, signal.SIGKILL))
            _quietly(lambda m=machine: m.holder.wait(STOP_TIMEOUT))
        for netns in namespaces:
            _quietly(lambda n=netns: tools.run([self.ip, "netns", "delete", n], timeout=IP_TIMEOUT))
        shutil.rmtree(self.directory, ignore_errors=True)

    def keep_instructions(self) -> str:
        """How to look inside a kept simulation and how to remove it."""
        lines = ["The simulation is still running (--keep). Enter a machine with:"]
        for machine in self.machines:
            lines.append(f"  {machine.name:<14} sudo nsenter -t {machine.init_pid} -p -m -n bash")
        daemons = " ".join(str(d.pid) for d in self.daemons)
        # A PID namespace's first process takes no signal but SIGKILL from outside; its end ends the rest.
        machines = " ".join(str(m.init_pid) for m in self.machines)
        lines += ["Remove it with:"]
        if daemons:
            lines.append(f"  sudo kill {daemons}; sleep 2")
        lines += [
            f"  sudo kill -KILL {machines}",
            f"  for ns in {' '.join(self.namespaces)}; do sudo ip netns delete $ns; done",
            f"  sudo rm -rf {self.directory}",
        ]
        return "\n".join(lines)


def _quietly(action) -> None:  # type: ignore[no-untyped-def]
    try:
        action()
    except Exception:  # noqa: BLE001 (cleanup goes on whatever one step hits)
        pass


def _require_system(name: str) -> Path:
    found = shutil.which(name)
    if found is None:
        raise NamespacesUnavailable(f"{name} not found (apt-get install util-linux)")
    return Path(found)
