"""Loopback HTTP servers: the rendered repository over git's smart HTTP protocol (git
http-backend, read-only) and the offline chart cache as a Helm repository."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import ToolMissing

BACKEND_LIMIT = 60.0  # seconds for one git request


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


class GitHandler(_Quiet):
    """CGI for git http-backend (git's own server side). Binary in and out, so it runs the
    backend with subprocess directly rather than through tools.run, which speaks text."""

    project_root: Path

    def do_GET(self) -> None:
        self._backend()

    def do_POST(self) -> None:
        self._backend()

    def _backend(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", ""), "GIT_PROJECT_ROOT": str(self.project_root), "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0], "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        try:
            done = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env, timeout=BACKEND_LIMIT)
        except subprocess.TimeoutExpired:
            self.send_error(504)
            return
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class ChartHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def _serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def git_server(project_root: Path) -> Iterator[str]:
    """Serve the bare repositories under `project_root`; yields the base URL."""
    if shutil.which("git") is None:
        raise ToolMissing("git", "apt-get install git")
    handler = type("Git", (GitHandler,), {"project_root": project_root})
    with _serving(handler) as url:
        yield url


@contextmanager
def chart_server(folder: Path) -> Iterator[str]:
    """Serve a Helm repository folder (index.yaml and chart archives); yields its URL."""
    with _serving(functools.partial(ChartHandler, directory=str(folder))) as url:  # type: ignore[arg-type]
        yield url
