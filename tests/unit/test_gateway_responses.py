"""API Gateway's own answers in the packaged stack: a path no route names, or a method its route does not
take, is a 404 with a JSON body GitHub's, GitLab's and the native API's clients all read, never the default
403 "Missing Authentication Token"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api import edges
from chalicelib.infra.function_resources import REST_API
from tests.unit.chalice_sam import packaged_template


@pytest.fixture(scope="module")
def definition() -> dict[str, Any]:
    return dict(packaged_template("prod")["Resources"][REST_API]["Properties"]["DefinitionBody"])


def test_no_route_is_a_json_404_that_every_dialects_client_can_read(definition: dict[str, Any]) -> None:
    # Given the REST API as packaged
    responses = definition["x-amazon-apigateway-gateway-responses"]

    # When API Gateway finds no route (or no such method on a route) for a request
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    answer = json.loads(missing["responseTemplates"]["application/json"])

    # Then it answers 404 in JSON: `message` as GitHub's and GitLab's clients read it, `error.code` as the
    # native API's do, the same words the embedded stack uses
    assert missing["statusCode"] == "404"
    assert missing["responseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
    assert answer["message"] == edges.body_for("/api/v3/x", 404)["message"]
    assert answer["error"] == edges.body_for("/api/v1/public/x", 404)["error"]


def test_the_merge_keeps_every_route_chalice_generated(definition: dict[str, Any]) -> None:
    # The gateway responses are merged into Chalice's OpenAPI definition; its paths are all still there
    assert "/healthz" in definition["paths"]
    assert "/api/v3/repos/{owner}/{repo}/deployments" in definition["paths"]
    assert "/api/v4/projects/{project_id}/deployments" in definition["paths"]
