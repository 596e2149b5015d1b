"""The embedded stack's stand-in for CloudFront: serves built sites from S3 through the routes table.

URLs are http://127.0.0.1:<port>/<host label>/<path>, so they work with curl and requests without DNS.
Each request reads the route afresh, so a rollback is visible on the very next request.
"""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit

from chalicelib.adapters import sites
from chalicelib.models.route import RouteRepository
from chalicelib.observability import logger


def _candidates(prefix: str, path: str) -> list[str]:
    path = path.lstrip("/")
    if path == "" or path.endswith("/"):
        return [prefix + path + "index.html"]
    keys = [prefix + path]
    if "." not in path.rsplit("/", 1)[-1]:
        keys += [prefix + path + "/index.html", prefix + path + ".html"]
    return keys


# Host labels as deployd makes them (adapters.sites): lowercase letters, digits and hyphens, a DNS label's length.
_LABEL = re.compile(r"[a-z0-9-]{1,63}")
_TEXT = "text/plain; charset=utf-8"
# Waiting connections the listening socket holds (socketserver's default is 5): a burst of parallel
# clients is queued, not reset.
REQUEST_QUEUE_SIZE = 128


def _decoded_path(raw: str) -> str | None:
    """The request's path, percent-decoded, or None when it cannot name a file: bytes that are not UTF-8,
    or control characters (a NUL, CR or LF has no business in a URL path or in a header built from it)."""
    try:
        path = unquote(urlsplit(raw).path, errors="strict")
    except (UnicodeDecodeError, ValueError):
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return None
    return path


# The name of the threads that answer site requests (the pipeline bench leaves their table reads out: on AWS,
# CloudFront's router reads its KeyValueStore).
SITE_REQUEST_THREAD = "site-request"

# What a query string keeps unencoded when it is carried into a redirect's Location.
_QUERY_SAFE = "=&+%/:,;@!$'()*~"


class SiteRequestHandler(BaseHTTPRequestHandler):
    server_version = "deployd-sites"

    def log_message(self, format: str, *args: object) -> None:  # quiet: the API logs are the signal
        return

    def handle(self) -> None:
        threading.current_thread().name = SITE_REQUEST_THREAD
        super().handle()

    def do_HEAD(self) -> None:
        self._serve(head=True)

    def do_GET(self) -> None:
        self._serve(head=False)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a request line or header too long, a malformed request, an
        unsupported method) as short plain text, like every other answer here, instead of its HTML page."""
        self.close_connection = True
        reason = self.responses.get(code, ("error",))[0]
        extra = {"Connection": "close"}
        if code == 501:  # a method this server does not implement: say which ones it does
            code, reason, extra["Allow"] = 405, "Method Not Allowed", "GET, HEAD"
        self._send(code, f"{reason.lower()}\n".encode(), _TEXT, self.command == "HEAD", extra)

    def _headers(self, status: int, length: int, content_type: str, extra: dict[str, str] | None) -> None:
        self._answered = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-cache")
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def _send(
        self, status: int, body: bytes, content_type: str, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        self._headers(status, len(body), content_type, extra)
        if not head:
            self.wfile.write(body)

    def _send_object(
        self, status: int, found: sites.StoredObject, head: bool, extra: dict[str, str] | None = None
    ) -> None:
        try:
            self._headers(status, found.content_length, found.content_type, extra)
            if not head:
                for chunk in found.chunks():
                    self.wfile.write(chunk)
        finally:
            found.close()

    def _not_found(self, head: bool) -> None:
        # The same answer for a malformed label and one no site uses: nothing from the request is echoed.
        return self._send(404, b"no site is served at this address\n", _TEXT, head)

    def _serve(self, head: bool) -> None:
        self._answered = False
        try:
            path = _decoded_path(self.path)
            if path is None:
                return self._not_found(head)
            label, slash, rest = path.lstrip("/").partition("/")
            if not label:
                return self._send(200, b"deployd sites\n", _TEXT, head)
            if not _LABEL.fullmatch(label):
                return self._not_found(head)
            route = RouteRepository.find(label)
            if route is None:
                return self._not_found(head)
            if not slash:  # /label -> /label/ so relative links resolve; the label is [a-z0-9-] by now
                query = urlsplit(self.path).query
                location = f"/{quote(label)}/" + (f"?{quote(query, safe=_QUERY_SAFE)}" if query else "")
                return self._send(308, b"", _TEXT, head, {"Location": location})
            if ".." in rest.split("/"):
                return self._send(400, b"bad path\n", _TEXT, head)
            served_by = {"X-Deployd-Deployment-Id": str(route.deployment_id)}
            for key in _candidates(route.artifact_prefix, rest):
                found = sites.open_object(key)
                if found is not None:
                    return self._send_object(200, found, head, served_by)
            not_found = sites.open_object(route.artifact_prefix + "404.html")
            if not_found is not None:
                return self._send_object(404, not_found, head)
            return self._send(404, b"not found\n", _TEXT, head)
        except (BrokenPipeError, ConnectionResetError):  # the client went away mid-file
            self.close_connection = True
            return None
        except Exception:
            logger.exception("site request failed")
            self.close_connection = True
            if self._answered:  # a file was half sent: the short body and the closed connection tell the client
                return None
            return self._send(502, b"site temporarily unavailable\n", _TEXT, head)


class _SiteHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = REQUEST_QUEUE_SIZE


class SiteServer:
    def __init__(self, host: str, port: int) -> None:
        self._server = _SiteHTTPServer((host, port), SiteRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="sites", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def answer_with(self, handler: type[SiteRequestHandler]) -> None:
        """Answer the next requests with `handler`: how a test plays a CDN outage (tests/integration)."""
        self._server.RequestHandlerClass = handler

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
