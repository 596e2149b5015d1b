"""Chalice's own answers at the edge, as Lambda gives them: a method the route does not take is a 405 with
Allow, and a Content-Type it does not read a 415, in the dialect of the route (the `edges` middleware), not
Chalice's {"Code", "Message"}."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app import app


def _api_event(
    method: str, resource: str, path: str, parameters: dict[str, str], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """An API Gateway proxy event for `resource` (the route) at `path`."""
    headers = {"host": "api.example.com", **(headers or {})}
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/api{path}",
            "requestId": "gateway-request-1",
            "identity": {"sourceIp": "192.0.2.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("method", "resource", "path", "parameters", "allow", "body"),
    [
        (
            "PUT",
            "/api/v3/repos/{owner}/{repo}",
            "/api/v3/repos/acme/site",
            {"owner": "acme", "repo": "site"},
            "GET",
            {"message": "Method Not Allowed", "documentation_url": "https://docs.github.com/rest"},
        ),
        (
            "POST",
            "/api/v4/projects/{project_id}",
            "/api/v4/projects/1",
            {"project_id": "1"},
            "GET",
            {"message": "405 Method Not Allowed"},
        ),
        (
            "DELETE",
            "/api/v1/public/projects",
            "/api/v1/public/projects",
            {},
            "GET, POST",
            {"error": {"code": "method_not_allowed", "message": "Method Not Allowed"}},
        ),
        (
            "GET",
            "/v1/project/preview/{project_id}",
            "/v1/project/preview/1",
            {"project_id": "1"},
            "POST",
            {"error": "Method Not Allowed"},
        ),
    ],
)
def test_a_method_the_route_does_not_take_is_a_405_in_the_routes_dialect(
    method: str, resource: str, path: str, parameters: dict[str, str], allow: str, body: dict[str, Any]
) -> None:
    # When API Gateway hands the function a request whose route does not take its method
    answer = app(_api_event(method, resource, path, parameters), None)

    # Then the function answers 405, naming the methods the route takes, in that route's dialect
    assert answer["statusCode"] == 405
    assert answer["headers"]["Allow"] == allow
    assert json.loads(answer["body"]) == body
    assert answer["headers"]["X-Request-Id"] == "gateway-request-1"


@pytest.mark.parametrize(
    ("method", "resource", "path", "parameters", "body"),
    [
        (
            "POST",
            "/api/v1/public/projects",
            "/api/v1/public/projects",
            {},
            {"error": {"code": "unsupported_media_type", "message": "Unsupported Media Type"}},
        ),
        (
            "GET",
            "/api/v1/public/projects",
            "/api/v1/public/projects",
            {},
            {"error": {"code": "unsupported_media_type", "message": "Unsupported Media Type"}},
        ),
        (
            "POST",
            "/api/v3/repos/{owner}/{repo}/deployments",
            "/api/v3/repos/acme/site/deployments",
            {"owner": "acme", "repo": "site"},
            {"message": "Unsupported Media Type", "documentation_url": "https://docs.github.com/rest"},
        ),
    ],
)
def test_a_content_type_the_route_does_not_read_is_a_415_in_the_routes_dialect(
    method: str, resource: str, path: str, parameters: dict[str, str], body: dict[str, Any]
) -> None:
    # When API Gateway hands the function a request whose Content-Type its route does not read
    event = _api_event(method, resource, path, parameters, {"content-type": "text/csv"})
    answer = app(event, None)

    # Then the function answers 415 in that route's dialect, before admitting anyone
    assert answer["statusCode"] == 415
    assert json.loads(answer["body"]) == body
    assert answer["headers"]["X-Request-Id"] == "gateway-request-1"
