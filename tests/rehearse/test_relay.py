"""The relay that keeps Argo CD's application controller off every address but loopback: a
program in its own network namespace reaches chosen ports of the host's 127.0.0.1, and what
it binds to 0.0.0.0 is reachable from nowhere on the host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator.errors import ClusterforgeError
from generator.rehearse import argocd
from generator.rehearse.processes import Daemons, free_port

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")

# Inside the namespace: ask the host's echo server through the relay, and bind 0.0.0.0.
CLIENT = """
import socket, sys
echo, bound = int(sys.argv[1]), int(sys.argv[2])
listener = socket.socket(); listener.bind(("0.0.0.0", bound)); listener.listen(1)
with socket.create_connection(("127.0.0.1", echo), timeout=10) as s:
    s.sendall(b"ping over the relay\\n"); s.shutdown(socket.SHUT_WR)
    print(s.makefile().read(), end="")
with socket.socket() as other:
    print("unrelayed port:", "open" if other.connect_ex(("127.0.0.1", int(sys.argv[3]))) == 0 else "closed", flush=True)
sys.stdin.readline()  # listening on 0.0.0.0 until the test has looked at the host's sockets
"""


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A TCP server on the host's 127.0.0.1 that answers each line with itself, upper-cased."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(conn.makefile("rb").read().upper())

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def test_a_program_in_its_namespace_reaches_only_the_relayed_ports(tmp_path: Path, echo_server: int) -> None:
    daemons = Daemons(tmp_path)
    unrelayed = socket.create_server(("127.0.0.1", 0))  # a host port that is listening but not relayed
    unrelayed_port = unrelayed.getsockname()[1]
    try:
        argv = argocd._isolated(daemons, tmp_path / "relays", [echo_server], [sys.executable, "-c", CLIENT, str(echo_server), str(free_port()), str(unrelayed_port)])
    except ClusterforgeError as e:
        if IN_CI:
            pytest.fail(f"CI must allow network namespaces: {e}")
        pytest.skip(str(e))
    try:
        bound = int(argv[-2])
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert process.stdout is not None and process.stdin is not None
            said = [process.stdout.readline() for _ in range(2)]
            # Its 0.0.0.0 listener is in its namespace only: the host has none on that port.
            host_listeners = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
            process.stdin.write("done\n")
            process.stdin.flush()
            assert process.wait(timeout=30) == 0, process.stderr.read() if process.stderr else ""
        finally:
            if process.poll() is None:
                process.kill()
        assert said == ["PING OVER THE RELAY\n", "unrelayed port: closed\n"]
        assert f":{bound} " not in host_listeners
    finally:
        unrelayed.close()
        for daemon in list(daemons.running):
            daemons.stop(daemon)
