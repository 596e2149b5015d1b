"""The embedded stack's API server: Chalice's local server, with API Gateway's edges made deployd's.

Chalice's local server answers a path no route names with API Gateway's 403 "Missing Authentication Token",
its own refusals (a method it does not know, headers too long) with http.server's HTML pages, and reads
`/projects/1;DROP` as `/projects/1` (urlparse takes `;DROP` for path parameters). Here a path no route names
is a 404 and a method a route does not take a 405 with Allow, both in the dialect of the path
(chalicelib.api.edges), and `;` stays part of the path segment it is in, as API Gateway keeps it. The listen
queue holds a burst of parallel clients instead of socketserver's 5.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    RouteMatcher,
    ThreadedHTTPServer,
)

from chalicelib.api import edges

REQUEST_QUEUE_SIZE = 128


def _has_control_characters(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


class ApiRequestHandler(ChaliceRequestHandler):
    path: str

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config) -> None:
        self.routes: dict[str, dict[str, Any]] = app_object.routes
        self.matcher = RouteMatcher(list(app_object.routes))
        super().__init__(request, client_address, server, app_object, config)  # handles the request

    def _route_of(self, target: str) -> str | None:
        try:
            return self.matcher.match_route(target).route
        except ValueError:
            return None

    def _generic_handle(self) -> None:
        raw_path = urlsplit(self.path).path
        length = self.headers.get("content-length", "0")
        if not length.isascii() or not length.isdigit():
            self.close_connection = True  # the body cannot be told from the next request
            return self._answer(edges.error_response(raw_path, 400))
        if _has_control_characters(self.path) or self._route_of(self._kept(self.path)) is None:
            self.rfile.read(int(length))  # consumed, so the connection can carry the next request
            return self._answer(edges.route_not_found(raw_path))
        self.path = self._kept(self.path)
        super()._generic_handle()

    # The base class binds its own _generic_handle to these names; bind this one.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    @staticmethod
    def _kept(target: str) -> str:
        """`;` encoded, so urlparse keeps it in its segment: `/projects/1;DROP` names project "1;DROP" (none),
        as on API Gateway, never project 1."""
        path, mark, query = target.partition("?")
        return path.replace(";", "%3B") + mark + query

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals as JSON in the path's dialect, not its HTML page. A method it has no
        handler for (501) is a 405 with Allow on a path a route names, and a 404 elsewhere."""
        self.close_connection = True
        # The request line was read for a 431 (headers) or a 501 (method); for a 414 or a 400 it was not, and
        # self.path may be the connection's previous request.
        path = urlsplit(self.path).path if code in (431, 501) else None
        if code == 501 and path is not None:
            route = None if _has_control_characters(path) else self._route_of(self._kept(self.path))
            if route is None:
                response = edges.route_not_found(path)
            else:
                response = edges.method_not_allowed(path, sorted(self.routes[route]))
        else:
            response = edges.error_response(path, code if code in edges.REASONS else 400)
        response.headers["Connection"] = "close"
        self._answer(response)

    def _answer(self, response: Any) -> None:
        answer = response.to_dict()
        headers = {**answer["headers"], "X-Request-Id": str(uuid.uuid4())}
        body = answer["body"] if self.command != "HEAD" else None
        self._send_http_response(answer["statusCode"], headers, body)


class ApiHTTPServer(ThreadedHTTPServer):
    request_queue_size = REQUEST_QUEUE_SIZE


def create_api_server(app: Chalice, config: Config, host: str, port: int) -> LocalDevServer:
    """chalice.local.create_local_server with deployd's handler and listen queue. The class swap is the one
    create_local_server makes: app.current_request becomes per thread, since requests are served concurrently
    and a shared one would hand a view another request's headers."""
    CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
    app.__class__ = CustomLocalChalice
    return LocalDevServer(app, config, host, port, handler_cls=ApiRequestHandler, server_cls=ApiHTTPServer)
