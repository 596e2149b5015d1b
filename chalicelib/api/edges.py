"""Answers for requests no view handles: a path no route names (404), a method its route does not take (405,
with Allow), a Content-Type it does not read (415), a request line or headers too long (414, 431), a malformed
request (400).

Each is a `Refused` error answered by the renderer of the dialect the path's prefix names (api/renderers.py),
the same table that answers that dialect's views: GitHub under /api/v3, GitLab under /api/v4, Mintlify under
/v1, the native format under /api/v1 and anywhere else. The `edges` middleware (chalicelib.functions.api)
rewrites Chalice's own 405 and 415; the embedded stack's API server (chalicelib.local.api) answers the rest; on
AWS, API Gateway's gateway responses do (chalicelib.infra.gateway_responses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Response
from chalice.app import Request

from chalicelib.api.dialect import Refused, Renderer
from chalicelib.api.renderers import GITHUB, GITLAB, MINTLIFY, NATIVE

REASONS = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    431: "Request Header Fields Too Large",
}
NATIVE_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    414: "uri_too_long",
    415: "unsupported_media_type",
    431: "request_header_fields_too_large",
}

# Longest prefix first: /api/v1/... is native, /v1/... Mintlify.
RENDERERS: list[tuple[str, Renderer]] = [
    ("/api/v3", GITHUB),
    ("/api/v4", GITLAB),
    ("/api/v1", NATIVE),
    ("/v1", MINTLIFY),
]


def renderer_for(path: str | None) -> Renderer:
    for prefix, renderer in RENDERERS:
        if path is not None and (path == prefix or path.startswith(prefix + "/")):
            return renderer
    return NATIVE


def refusal(status: int) -> Refused:
    return Refused(status, REASONS.get(status, "Error"), NATIVE_CODES.get(status, "error"))


def body_for(path: str | None, status: int) -> Any:
    """The error body a client of the dialect `path` belongs to expects for `status`."""
    return renderer_for(path).body(refusal(status))


def error_response(path: str | None, status: int, headers: dict[str, str] | None = None) -> Response:
    return renderer_for(path).render(refusal(status), headers)


def route_not_found(path: str | None) -> Response:
    return error_response(path, 404)


def method_not_allowed(path: str | None, allowed: list[str]) -> Response:
    return error_response(path, 405, {"Allow": ", ".join(sorted(allowed))})


def _is_chalice_405(response: Response) -> bool:
    body = response.body
    return response.status_code == 405 and isinstance(body, dict) and body.get("Code") == "MethodNotAllowedError"


def _is_chalice_415(response: Response) -> bool:
    body = response.body
    return response.status_code == 415 and isinstance(body, dict) and body.get("Code") == "UnsupportedMediaType"


def edges(request: Request | None, get_response: Callable[[Request | None], Response]) -> Response:
    """http middleware: Chalice's own 405 for a method a route does not take, and its 415 for a Content-Type a
    route does not read, in the route's dialect."""
    response = get_response(request)
    if request is not None and _is_chalice_405(response):
        allowed = [m.strip() for m in str(response.headers.get("Allow", "")).split(",") if m.strip()]
        return method_not_allowed(request.path, allowed)
    if request is not None and _is_chalice_415(response):
        return error_response(request.path, 415)
    return response
