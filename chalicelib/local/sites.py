"""The embedded stack's stand-in for CloudFront: serves built sites from S3 through the routes table.

URLs are http://127.0.0.1:<port>/<host label>/<path>, so they work with curl and requests without DNS.
Each request reads the route afresh, so a rollback is visible on the very next request.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

from chalicelib.models.route import RouteRepository
from chalicelib.observability import logger
from chalicelib.services import sites


def _candidates(prefix: str, path: str) -> list[str]:
    path = path.lstrip("/")
    if path == "" or path.endswith("/"):
        return [prefix + path + "index.html"]
    keys = [prefix + path]
    if "." not in path.rsplit("/", 1)[-1]:
        keys += [prefix + path + "/index.html", prefix + path + ".html"]
    return keys


class SiteRequestHandler(BaseHTTPRequestHandler):
    server_version = "deployd-sites"

    def log_message(self, format: str, *args: object) -> None:  # quiet: the API logs are the signal
        return

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def _send(
        self, status: int, body: bytes, content_type: str, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _serve(self, head: bool) -> None:
        try:
            path = unquote(urlsplit(self.path).path)
            label, _, rest = path.lstrip("/").partition("/")
            if not label:
                return self._send(200, b"deployd sites\n", "text/plain; charset=utf-8", head)
            if "/" not in path.lstrip("/"):  # /label -> /label/ so relative links resolve
                return self._send(308, b"", "text/plain", head, {"Location": f"/{label}/"})
            route = RouteRepository.find(label)
            if route is None:
                return self._send(404, f"no site is served at {label}\n".encode(), "text/plain; charset=utf-8", head)
            if ".." in rest.split("/"):
                return self._send(400, b"bad path\n", "text/plain; charset=utf-8", head)
            for key in _candidates(route.artifact_prefix, rest):
                found = sites.read_object(key)
                if found is not None:
                    body, content_type = found
                    return self._send(
                        200, body, content_type, head, {"X-Deployd-Deployment-Id": str(int(route.deployment_id))}
                    )
            not_found = sites.read_object(route.artifact_prefix + "404.html")
            if not_found is not None:
                return self._send(404, not_found[0], not_found[1], head)
            return self._send(404, b"not found\n", "text/plain; charset=utf-8", head)
        except Exception:
            logger.exception("site request failed")
            return self._send(502, b"site temporarily unavailable\n", "text/plain; charset=utf-8", head)


class SiteServer:
    def __init__(self, host: str, port: int) -> None:
        self._server = ThreadingHTTPServer((host, port), SiteRequestHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="sites", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
