"""The rehearsal's daemons: each a child process in its own process group with its
output in a log file, all stopped (TERM, then KILL) on every way out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ClusterforgeError, ToolMissing
from ..simulate.namespaces import _die_with_parent
from ..tools import install_hint

STOP_GRACE = 10.0  # seconds a daemon gets to exit after SIGTERM


def free_port() -> int:
    """A port free on 127.0.0.1 now (the daemon binds it a moment later; nothing else here races us for it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Daemon:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise ClusterforgeError(f"{self.name} exited with code {code}; the end of its log ({self.log}):\n{self.tail()}")


@dataclass
class Daemons:
    logs: Path
    keep: bool = False  # kept daemons outlive clusterforge; others die with it, even on SIGKILL
    running: list[Daemon] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str | os.PathLike[str]], env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> Daemon:
        args = [os.fspath(a) for a in argv]
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            try:
                process = subprocess.Popen(
                    args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                    env={**os.environ, **env} if env is not None else None,
                    start_new_session=True,  # its own group: stopping it stops what it started
                    preexec_fn=None if self.keep else _die_with_parent,
                )
            except FileNotFoundError:
                raise ToolMissing(Path(args[0]).name, install_hint(Path(args[0]).name)) from None
        daemon = Daemon(name, process, log)
        self.running.append(daemon)
        return daemon

    def stop(self, daemon: Daemon) -> None:
        """Stop one daemon (TERM, then KILL after the grace time) and forget it."""
        _signal(daemon, signal.SIGTERM)
        try:
            daemon.process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            _signal(daemon, signal.SIGKILL)
            daemon.process.wait(STOP_GRACE)
        self.running.remove(daemon)

    def stop_all(self) -> None:
        """Newest first: the controllers before the API server, the API server before etcd."""
        for daemon in reversed(list(self.running)):
            _signal(daemon, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for daemon in reversed(list(self.running)):
            try:
                daemon.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(daemon, signal.SIGKILL)
                daemon.process.wait(STOP_GRACE)
        self.running.clear()

    def check_alive(self) -> None:
        for daemon in self.running:
            daemon.check_alive()


def _signal(daemon: Daemon, signum: int) -> None:
    if daemon.process.poll() is None:
        try:
            os.killpg(daemon.process.pid, signum)
        except ProcessLookupError:
            pass
