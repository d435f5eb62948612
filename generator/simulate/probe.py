"""A steady request loop against an HTTPS URL, run inside the client's namespace:
`python -m generator.simulate.probe URL RATE COUNT TIMEOUT`.

One GET every 1/RATE seconds, COUNT of them, each in its own thread with TIMEOUT
seconds for everything (connect, TLS, answer), so a hanging request never delays the
next. Prints "ready", then one JSON line per request in the order they were sent:
{"sent": CLOCK_MONOTONIC seconds, "ok": bool, "error": text}. CLOCK_MONOTONIC is
the same clock for every process of the host, so the caller can line the requests
up with the events it caused.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from urllib.parse import urlsplit


def request(host: str, port: int, path: str, timeout: float) -> str:
    """"" when the answer is 200 "ok", else what went wrong."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the stand-in API servers' certificates are self-signed
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw, context.wrap_socket(raw) as tls:
            tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
    except (OSError, ssl.SSLError) as e:
        return f"{type(e).__name__}: {e}"
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    if not status.startswith("HTTP/1.1 200") or not answer.endswith(b"ok"):
        return f"answer {status!r}"
    return ""


def main(argv: list[str]) -> None:
    url, rate, count, timeout = argv[0], float(argv[1]), int(argv[2]), float(argv[3])
    parts = urlsplit(url)
    host, port, path = parts.hostname or "", parts.port or 443, parts.path or "/"
    results: list[tuple[float, str] | None] = [None] * count
    threads = []

    def one(i: int, sent: float) -> None:
        results[i] = (sent, request(host, port, path, timeout))

    print("ready", flush=True)
    start = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        thread = threading.Thread(target=one, args=(i, time.monotonic()), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(timeout + 1)
    for item in results:
        sent, error = item if item else (0.0, "no answer")
        print(json.dumps({"sent": sent, "ok": not error, "error": error}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
