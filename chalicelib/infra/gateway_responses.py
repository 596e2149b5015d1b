"""API Gateway's own answers, for requests it turns away before the API function runs.

A path no route names, or a method its route does not take, is API Gateway's 403 "Missing Authentication
Token" by default; here it is a 404, as the embedded stack answers it (chalicelib.api.edges). Gateway response
templates are plain substitution (no VTL), so one body serves every dialect: `message` as GitHub's and
GitLab's clients read it, `error` as the native API's. Only Mintlify's clients, which read `error` as a
string, see a shape of their own dialect's errors differ there. docs/errors.md has the table.

The responses go into the REST API's OpenAPI definition (x-amazon-apigateway-gateway-responses), which
chalicelib.infra.package merges into the API Chalice generates, so a change to them redeploys the stage.
"""

from __future__ import annotations

import json
from typing import Any

# Response type -> (status, native error code, reason).
RESPONSES: dict[str, tuple[int, str, str]] = {
    "MISSING_AUTHENTICATION_TOKEN": (404, "not_found", "Not Found"),  # no route, or no such method on it
    "RESOURCE_NOT_FOUND": (404, "not_found", "Not Found"),
    "REQUEST_TOO_LARGE": (413, "request_too_large", "Request Entity Too Large"),
}


def body(code: str, reason: str) -> dict[str, Any]:
    return {"message": reason, "error": {"code": code, "message": reason}}


def gateway_responses() -> dict[str, Any]:
    """The x-amazon-apigateway-gateway-responses extension of the REST API's definition."""
    return {
        response_type: {
            "statusCode": str(status),
            "responseParameters": {"gatewayresponse.header.Content-Type": "'application/json'"},
            "responseTemplates": {"application/json": json.dumps(body(code, reason), separators=(",", ":"))},
        }
        for response_type, (status, code, reason) in RESPONSES.items()
    }


def definition_extension() -> dict[str, Any]:
    """What the merge template adds to the OpenAPI definition of Chalice's REST API (a deep merge: the
    routes Chalice generated stay as they are)."""
    return {"x-amazon-apigateway-gateway-responses": gateway_responses()}
