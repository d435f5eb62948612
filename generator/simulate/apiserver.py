"""A stand-in for kube-apiserver's health endpoints, run inside a control plane's namespace:
`python -m generator.simulate.apiserver ADDRESS PORT CERT KEY`.

It answers GET /healthz, /readyz and /livez with 200 "ok" over TLS on the API port,
as kube-apiserver does for the probes of HAProxy and keepalived's check script;
every other path gets 404. It prints "ready" once it listens.
"""

from __future__ import annotations

import http.server
import ssl
import sys

HEALTH_PATHS = ("/healthz", "/readyz", "/livez")


class Health(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the base class's name)
        path = self.path.split("?", 1)[0]
        status, body = (200, b"ok") if path in HEALTH_PATHS else (404, b"not found")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


def main(argv: list[str]) -> None:
    address, port, cert, key = argv
    server = http.server.ThreadingHTTPServer((address, int(port)), Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    # The handshake happens in each request's thread, so one slow client cannot stall accept().
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
