"""The API's edges over real HTTP to the embedded stack: paths no route names, methods a route does not take,
requests too large to read, `;` in paths, and bursts of parallel clients. Every answer is JSON in the
dialect of the path, as that dialect's other errors are."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from chalicelib.local.stack import EmbeddedStack

GITHUB_404 = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


def _raw(stack: EmbeddedStack, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """One request written as is; the status line, headers and body of the answer."""
    parts = urlsplit(stack.api_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status, headers, body


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v3/nothing/here", GITHUB_404),
        ("/api/v3/repos/acme/site/deployments/1/nothing", GITHUB_404),
        ("/api/v4/projects/acme/ledger", {"message": "404 Not Found"}),  # a project path not URL-encoded
        ("/api/v4/nothing", {"message": "404 Not Found"}),
        ("/api/v1/public/nothing", {"error": {"code": "not_found", "message": "Not Found"}}),
        ("/api/v1/admin/nothing", {"error": {"code": "not_found", "message": "Not Found"}}),
        ("/v1/project/nothing", {"error": "Not Found"}),
        ("/nothing", {"error": {"code": "not_found", "message": "Not Found"}}),
        ("/healthz;x", {"error": {"code": "not_found", "message": "Not Found"}}),
    ],
)
def test_a_path_no_route_names_is_a_404_in_its_dialects_format(
    stack: EmbeddedStack, path: str, body: dict[str, Any]
) -> None:
    # When a client asks for a path no route names, with credentials or without
    for headers in ({}, {"Authorization": "Bearer whatever"}):
        response = requests.get(stack.api_url + path, headers=headers, timeout=10)

        # Then it is a 404 in the format of the dialect the path belongs to, never API Gateway's 403
        assert response.status_code == 404
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == body
        assert response.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("method", "path", "allow", "body"),
    [
        ("PUT", "/api/v3/repos/acme/site", "GET", {**GITHUB_404, "message": "Method Not Allowed"}),
        ("POST", "/api/v4/projects/1", "GET", {"message": "405 Method Not Allowed"}),
        (
            "PUT",
            "/api/v1/public/projects",
            "GET, POST",
            {"error": {"code": "method_not_allowed", "message": "Method Not Allowed"}},
        ),
        ("GET", "/v1/project/preview/1", "POST", {"error": "Method Not Allowed"}),
        (
            "TRACE",
            "/api/v1/public/projects",
            "GET, POST",
            {"error": {"code": "method_not_allowed", "message": "Method Not Allowed"}},
        ),
        ("PROPFIND", "/api/v4/projects/1", "GET", {"message": "405 Method Not Allowed"}),
    ],
)
def test_a_method_the_route_does_not_take_is_a_405_with_allow_in_its_dialects_format(
    stack: EmbeddedStack, method: str, path: str, allow: str, body: dict[str, Any]
) -> None:
    # When a client uses a method the path's route does not take (one http.server knows, or one it does not)
    response = requests.request(method, stack.api_url + path, timeout=10)

    # Then it is a 405 naming the methods the route takes, in the dialect's format
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    assert response.json() == body


def test_an_unknown_method_on_an_unknown_path_is_a_404(stack: EmbeddedStack) -> None:
    response = requests.request("PROPFIND", f"{stack.api_url}/api/v3/nothing", timeout=10)
    assert (response.status_code, response.json()) == (404, GITHUB_404)


def test_a_semicolon_never_cuts_a_path_short(
    stack: EmbeddedStack, api_key: tuple[str, dict[str, str]], repo_factory: Any, project_factory: Any
) -> None:
    # Given a project
    org_slug, auth = api_key
    pid = int(project_factory(org_slug, repo_factory()).project.id)
    url = f"{stack.api_url}/api/v1/public/projects/{pid}"

    # When a client deletes "<id>;DROP"
    response = requests.delete(f"{url};DROP", headers=auth, timeout=10)

    # Then no project has that id: 404, and the project is still there
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert requests.get(url, headers=auth, timeout=10).status_code == 200


def test_headers_too_large_are_a_json_431(stack: EmbeddedStack) -> None:
    # When a request carries a header longer than the server reads
    status, headers, body = _raw(
        stack, b"GET /api/v4/projects/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n"
    )

    # Then the answer is a 431 in JSON (GitLab's format: the path is GitLab's), not an HTML page
    assert " 431 " in status
    assert headers["content-type"] == "application/json"
    assert body == b'{"message":"431 Request Header Fields Too Large"}'


def test_a_request_line_too_long_is_a_json_414(stack: EmbeddedStack) -> None:
    status, headers, body = _raw(stack, b"GET /api/v1/public/" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")

    assert " 414 " in status
    assert headers["content-type"] == "application/json"
    assert body == b'{"error":{"code":"uri_too_long","message":"URI Too Long"}}'


def test_a_malformed_content_length_is_a_json_400(stack: EmbeddedStack) -> None:
    status, headers, body = _raw(
        stack, b"POST /api/v1/public/projects HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n"
    )

    assert " 400 " in status
    assert body == b'{"error":{"code":"bad_request","message":"Bad Request"}}'


def test_a_404_leaves_a_kept_alive_connection_usable(stack: EmbeddedStack) -> None:
    # Given one connection that first posts a body to a path no route names
    with requests.Session() as session:
        missed = session.post(f"{stack.api_url}/api/v1/public/nothing", data=b"x" * 5000, timeout=10)
        # When it then asks for a real route on the same connection
        healthy = session.get(f"{stack.api_url}/healthz", timeout=10)

    # Then the body of the first was consumed and the second is answered
    assert (missed.status_code, healthy.status_code) == (404, 200)


def test_fifty_parallel_clients_are_all_answered_at_once(
    stack: EmbeddedStack, burst: Callable[..., list[int | str]]
) -> None:
    # When fifty clients connect to the API at the same instant
    statuses = burst(f"{stack.api_url}/healthz")

    # Then every one of them is let in and answered
    assert statuses == [200] * 50
