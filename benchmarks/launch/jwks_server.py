"""The benchmark's platform, as its own process: it publishes the platform's JWKS and counts
how often the tool fetches it.

The private key stays with the load generator (``run.py``), which signs each id_token in its
own process, so no signing cost lands on the tool or on this server. This process only
serves:

- ``GET /jwks``  - the platform key set (each request is counted);
- ``GET /stats`` - ``{"jwks_requests": N}``;
- ``GET /auth``, ``POST /token`` - 400, never used by a launch (registered URLs only).

Run: python benchmarks/launch/jwks_server.py --jwks FILE [--port 0]; prints ``READY <url>``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/jwks":
            with self.server.lock:
                self.server.jwks_requests += 1
            self._send(200, self.server.jwks_body)
        elif path == "/stats":
            with self.server.lock:
                body = json.dumps({"jwks_requests": self.server.jwks_requests}).encode()
            self._send(200, body)
        else:
            self._send(400, b"the benchmark platform signs in the load generator",
                       "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self._send(400, b'{"error": "unsupported"}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], jwks_body: bytes) -> None:
        super().__init__(address, _Handler)
        self.jwks_body = jwks_body
        self.jwks_requests = 0
        self.lock = threading.Lock()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jwks", required=True, help="file holding the public JWKS (JSON)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    with open(args.jwks, "rb") as fh:
        body = fh.read()
    json.loads(body)  # fail early on a broken file
    server = _Server(("127.0.0.1", args.port), body)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
