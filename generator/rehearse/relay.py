"""A daemon in a network namespace of its own, with only a loopback interface, reaching chosen
ports of the host's 127.0.0.1 through Unix sockets (a path in the file system crosses network
namespaces; a TCP port does not).

Argo CD's application controller binds its metrics server to 0.0.0.0 (hard-coded, no flag): run
so, that listener exists only inside its namespace, and nothing the rehearsal starts listens
beyond the host's 127.0.0.1.

    python -m generator.rehearse.relay host FOLDER PORT...       # FOLDER/PORT.sock -> 127.0.0.1:PORT
    python -m generator.rehearse.relay inside FOLDER PORT... -- COMMAND...
        # in the namespace: lo up, 127.0.0.1:PORT -> FOLDER/PORT.sock, then COMMAND as a child
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from ..simulate.namespaces import _die_with_parent

BUFFER = 65536
BACKLOG = 64


def unix_path(folder: Path, port: int) -> Path:
    return folder / f"{port}.sock"


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until the source ends, then end the sink's direction (the other pump copies back)."""
    try:
        while data := source.recv(BUFFER):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((sink, socket.SHUT_WR), (source, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def _serve(listener: socket.socket, connect: Callable[[], socket.socket]) -> None:
    """Accept for ever (the process ends with its daemon); each connection joined to a new one."""
    while True:
        client, _ = listener.accept()
        try:
            upstream = connect()
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _tcp(port: int) -> Callable[[], socket.socket]:
    return lambda: socket.create_connection(("127.0.0.1", port))


def _unix(path: Path) -> Callable[[], socket.socket]:
    def connect() -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(os.fspath(path))
        return s

    return connect


def _listen_unix(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(os.fspath(path))
    os.chmod(path, 0o600)
    s.listen(BACKLOG)
    return s


def _listen_tcp(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(BACKLOG)
    return s


def _start(listeners: list[tuple[socket.socket, Callable[[], socket.socket]]]) -> None:
    for listener, connect in listeners:
        threading.Thread(target=_serve, args=(listener, connect), daemon=True).start()


def host(folder: Path, ports: Sequence[int]) -> None:
    """Unix sockets in `folder` to the host's 127.0.0.1 ports; runs until stopped."""
    _start([(_listen_unix(unix_path(folder, p)), _tcp(p)) for p in ports])
    (folder / "ready").touch()  # every socket is listening
    threading.Event().wait()  # until SIGTERM (the daemons are stopped by process group)


def inside(folder: Path, ports: Sequence[int], command: Sequence[str]) -> int:
    """In a fresh network namespace: loopback up, the ports relayed out, `command` run; its exit code."""
    ip = shutil.which("ip") or "/usr/sbin/ip"
    subprocess.run([ip, "link", "set", "lo", "up"], check=True)
    _start([(_listen_tcp(p), _unix(unix_path(folder, p))) for p in ports])
    # In the relay's process group: stopping the daemon signals both.
    return subprocess.Popen(command, preexec_fn=_die_with_parent).wait()


def main(argv: Sequence[str]) -> int:
    mode, folder, *rest = argv
    if mode == "host":
        host(Path(folder), [int(p) for p in rest])
        return 0
    split = rest.index("--")
    return inside(Path(folder), [int(p) for p in rest[:split]], rest[split + 1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
