"""The OpenAPI 3.1 document of deployd's own API (native, admin, deploy hooks, Slack, health), made from the route
table that serves requests (`Dialect.routes`: paths, methods, scopes, buckets, query parameters, answers) and the
pydantic models that validate request bodies, never written by hand; served by GET /api/v1/openapi.json
(chalicelib.api.openapi), which imports this module with the first request for it, not at the API's cold start.

The GitHub, GitLab and Mintlify dialects are not in it: their contracts are those vendors' own published ones
(FOREIGN_DIALECTS). docs/openapi.md says what the document covers and how the fuzz test holds the API to it.
Building it imports pydantic, so it is built on the first request for it, once per process and base URL.
"""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

from chalicelib.api import admin, health, hooks, native, openapi, slack
from chalicelib.api.dialect import ANSWERS, BODY_MODELS, Dialect, Empty, Html, Many, One, Route
from chalicelib.api.edges import REASONS

DOCUMENTED_DIALECTS: tuple[Dialect, ...] = (
    native.dialect,
    admin.dialect,
    hooks.dialect,
    slack.dialect,
    health.dialect,
    openapi.dialect,  # GET /openapi.json itself
)
FOREIGN_DIALECTS = frozenset({"github", "gitlab", "mintlify"})

COMPONENTS = "#/components/schemas/"
_PARAMETER = re.compile(r"\{(\w+)\}")
_ID = {"type": "integer", "minimum": 1, "maximum": 10**18 - 1}

# Every path parameter's schema, by name: numeric ids are read by api.http.path_id (anything else is a 404).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "project_id": _ID,
    "deployment_id": _ID,
    "promotion_id": _ID,
    "webhook_id": _ID,
    "hook_id": _ID,
    "delivery_id": {"type": "string", "minLength": 1},
    "branch": {"type": "string", "minLength": 1, "maxLength": 255},
    "secret": {"type": "string", "minLength": 1},
    "slug": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$"},
    "key_id": {"type": "string", "minLength": 1},
}

ERROR_REASONS = {
    **REASONS,
    401: "Unauthenticated: no credential, or not a valid one",
    403: "Forbidden: the key lacks the route's scope",
    409: "Conflict with the resource's current state",
    422: "Unprocessable: well-formed, but cannot be acted on",
    429: "Rate limited: Retry-After says when to come back",
}

SECURITY_SCHEMES = {
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An organization's API key (dpl_...), issued by the admin API with its scopes.",
    },
    "adminToken": {"type": "http", "scheme": "bearer", "description": "The platform admin's token."},
    "slackSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Slack-Signature",
        "description": "Slack's request signature, with X-Slack-Request-Timestamp.",
    },
}
SECURITY = {"native": "apiKey", "admin": "adminToken", "slack": "slackSignature"}

HEADERS = {
    "X-Request-Id": {
        "description": "The request's correlation id (the client's X-Request-Id when sane).",
        "required": True,
        "schema": {"type": "string"},
    },
}
RATE_LIMIT_HEADERS = {
    name: {"description": description, "schema": {"type": "string"}}
    for name, description in (
        ("x-ratelimit-limit", "The bucket's limit per window."),
        ("x-ratelimit-remaining", "Requests left in the window."),
        ("x-ratelimit-reset", "When the window resets (Unix seconds)."),
        ("Retry-After", "Seconds to wait (a 429)."),
    )
}


class Schemas:
    """The document's components/schemas, filled as operations name types: pydantic's JSON Schema of each
    TypedDict (an answer) or model (a request body), its nested definitions beside it."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, kind: Any, mode: str = "serialization") -> dict[str, Any]:
        from pydantic import TypeAdapter

        schema = TypeAdapter(kind).json_schema(ref_template=COMPONENTS + "{model}", mode=mode)  # type: ignore[arg-type]
        for name, definition in schema.pop("$defs", {}).items():
            self._add(name, definition, closed=mode == "serialization")
        name = kind.__name__
        self._add(name, schema, closed=mode == "serialization")
        return {"$ref": COMPONENTS + name}

    def _add(self, name: str, schema: dict[str, Any], closed: bool) -> None:
        if closed and schema.get("type") == "object" and "properties" in schema:
            # An answer has exactly the keys its TypedDict names: a key added to a renderer but not to its type
            # fails the lint, one added to both is documented.
            schema = {**schema, "additionalProperties": False}
        known = self.components.setdefault(name, schema)
        if known != schema:
            raise ValueError(f"two different schemas are named {name}")

    def body(self, answer: Any) -> dict[str, Any]:
        """The schema of an answer's body: an envelope ({"data": ...}) or a TypedDict."""
        if isinstance(answer, One):
            return _object({"data": self.ref(answer.item)})
        if isinstance(answer, Many):
            return _object({"data": {"type": "array", "items": self.ref(answer.item)}, "meta": self.ref(answer.meta)})
        if answer is dict:
            return {"type": "object"}
        return self.ref(answer)


def described(kind: Any) -> Any:
    """What a route's `answers` or `query` names, made: a name is the type of that name in ANSWERS (imported with
    the document, not with the route's declaration), an envelope or a tuple of alternatives has its names made."""
    if isinstance(kind, str):
        return getattr(importlib.import_module(ANSWERS), kind)
    if isinstance(kind, One):
        return One(described(kind.item))
    if isinstance(kind, Many):
        return Many(described(kind.item), described(kind.meta))
    if type(kind) is tuple:
        return tuple(described(alternative) for alternative in kind)
    return kind


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


def _content(schemas: Schemas, answer: Any) -> dict[str, Any] | None:
    """A success's content by media type; None for an answer without a body."""
    alternatives = answer if type(answer) is tuple else (answer,)  # One and Many are tuples too
    content: dict[str, Any] = {}
    json_schemas = [schemas.body(a) for a in alternatives if a is not None and not isinstance(a, Html | Empty)]
    if json_schemas:
        content["application/json"] = {"schema": json_schemas[0] if len(json_schemas) == 1 else {"anyOf": json_schemas}}
    if any(isinstance(a, Html) for a in alternatives):
        content["text/html"] = {"schema": {"type": "string"}}
    if any(isinstance(a, Empty) for a in alternatives):
        content.setdefault("application/json", {"schema": {}})
    return content or None


def error_statuses(route: Route) -> set[int]:
    """What a route may answer besides its successes: its own `errors`, and what every route of its kind answers."""
    statuses = set(route.errors)
    if route.dialect in SECURITY:
        statuses.add(401)
    if route.dialect == "slack":
        statuses |= {400, 404}  # not a command, an interaction nor an event; no Slack app configured
    if route.scope is not None:
        statuses.add(403)
    if route.bucket is not None:
        statuses.add(429)
    if _PARAMETER.search(route.path):
        statuses.add(404)
    if route.body is not None or route.query is not None:
        statuses.add(400)
    if route.idempotent:
        statuses |= {400, 409, 422}  # a malformed key; the key's first request still running; reused elsewhere
    if route.content_types is not None:
        statuses.add(415)  # a Content-Type the route does not read, refused before anything else
    return statuses


def _parameters(schemas: Schemas, route: Route) -> list[dict[str, Any]]:
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
        for name in _PARAMETER.findall(route.path)
    ]
    if route.query is not None:
        from pydantic import TypeAdapter

        query = TypeAdapter(described(route.query)).json_schema()
        required = set(query.get("required", ()))
        for name, schema in query["properties"].items():
            parameters.append({"name": name, "in": "query", "required": name in required, "schema": schema})
    if route.idempotent:
        from chalicelib.services import idempotency

        parameters.append(
            {
                "name": idempotency.HEADER,
                "in": "header",
                "required": False,
                "description": "Retry safely: the first answer is replayed for 24 hours (docs/idempotency.md).",
                "schema": {"type": "string", "pattern": f"^[\\x20-\\x7e]{{1,{idempotency.MAX_KEY_LENGTH}}}$"},
            }
        )
    return parameters


def _request_body(schemas: Schemas, route: Route) -> dict[str, Any]:
    model = getattr(importlib.import_module(BODY_MODELS), str(route.body))
    required = any(field.is_required() for field in model.model_fields.values())
    return {"required": required, "content": {"application/json": {"schema": schemas.ref(model, "validation")}}}


def operation(schemas: Schemas, route: Route, method: str) -> dict[str, Any]:
    if not route.answers:
        raise ValueError(f"{method} {route.path} declares no answers")
    headers = {**HEADERS, **(RATE_LIMIT_HEADERS if route.bucket is not None else {})}
    responses: dict[str, Any] = {}
    for status, named in sorted(route.answers.items()):
        answer = described(named)
        response: dict[str, Any] = {"description": _reason(status, answer), "headers": headers}
        content = _content(schemas, answer)
        if content is not None:
            response["content"] = content
        responses[str(status)] = response
    error = {"application/json": {"schema": schemas.ref(described("Error"))}}
    for status in sorted(error_statuses(route) - set(route.answers)):
        responses[str(status)] = {"description": ERROR_REASONS[status], "headers": headers, "content": error}
    spec: dict[str, Any] = {
        # A view serving several methods is one operation per method.
        "operationId": route.view.__name__ if len(route.methods) == 1 else f"{route.view.__name__}_{method.lower()}",
        "summary": route.summary,
        "tags": [route.dialect],
        "parameters": _parameters(schemas, route),
        "responses": responses,
    }
    scheme = SECURITY.get(route.dialect)
    spec["security"] = [{scheme: [route.scope] if route.scope else []}] if scheme else []
    if route.scope is not None:
        spec["x-deployd-scope"] = route.scope
    if route.bucket is not None:
        spec["x-deployd-rate-limit-bucket"] = route.bucket
    if route.body is not None and method in ("POST", "PUT", "PATCH"):
        spec["requestBody"] = _request_body(schemas, route)
    return spec


def _reason(status: int, answer: Any) -> str:
    if answer is None:
        return "Done; no content"
    return {200: "OK", 201: "Created", 202: "Accepted"}.get(status, ERROR_REASONS.get(status, "Answer"))


def routes() -> list[Route]:
    return [route for documented in DOCUMENTED_DIALECTS for route in documented.routes]


@functools.cache
def document(server: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every documented route, served from `server`."""
    schemas = Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for route in routes():
        for method in route.methods:
            paths.setdefault(route.path, {})[method.lower()] = operation(schemas, route, method)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "deployd",
            "version": "1",
            "description": "deployd's own API: projects, deployments, previews, webhooks, deploy hooks and the "
            "Slack integration of an organization (native), organizations and keys (admin). Errors are "
            '{"error": {"code", "message", "field"?}}.',
        },
        "servers": [{"url": server}],
        "paths": paths,
        "components": {"schemas": schemas.components, "securitySchemes": SECURITY_SCHEMES},
    }
