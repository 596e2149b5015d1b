"""Webhook receivers for the benchmarks, in a process of their own (a subscriber's endpoint is somebody else's
server, and its work is not deployd's): `python -m bench.receivers N` serves N endpoints that answer 200 to every
POST, prints their ports on one line, and serves each endpoint's count of POSTs received at GET /count on the
first port."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_counts: list[int] = []
_lock = threading.Lock()


def _handler(index: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with _lock:
                _counts[index] += 1
            self._answer(b"")

        def do_GET(self) -> None:  # noqa: N802
            with _lock:
                body = json.dumps(_counts).encode()
            self._answer(body)

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    count = int(sys.argv[1])
    servers = []
    for index in range(count):
        _counts.append(0)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(index))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    print(" ".join(str(server.server_address[1]) for server in servers), flush=True)
    sys.stdin.read()  # serve until the benchmark closes our stdin


if __name__ == "__main__":
    main()
