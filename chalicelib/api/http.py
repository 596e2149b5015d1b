"""Request parsing and JSON responses shared by the dialects (errors are rendered by api/dialect.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Response
from chalice.app import Request

from chalicelib.errors import InvalidInput, NotFound
from chalicelib.services.integers import ascii_integer
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from pydantic import BaseModel

    from chalicelib.api.answers import Paged
    from chalicelib.services.listing import Page

# Chalice rejects a request whose Content-Type is not listed; clients send all of these with JSON bodies.
CONTENT_TYPES = [
    "application/json",
    "application/vnd.github+json",
    "application/vnd.github.v3+json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/octet-stream",
]

M = TypeVar("M", bound="BaseModel")


def public_api_url(request: Request | None) -> str:
    """The API's base URL for the links responses carry: DEPLOYD_API_URL when configured; else, behind API
    Gateway, the URL this request came in on (its domain and stage, as the execute-api URL has them); else
    the local default. A custom domain with a base path mapping needs DEPLOYD_API_URL (PublicApiUrl)."""
    settings = get_settings()
    if settings.api_url_configured or request is None:
        return settings.api_url
    context = request.context or {}
    domain, stage = context.get("domainName"), context.get("stage")
    if isinstance(domain, str) and isinstance(stage, str) and domain and stage:
        return f"https://{domain}/{stage}"
    return settings.api_url


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    all_headers: dict[str, str | list[str]] = dict(headers or {})
    if body is not None:
        all_headers["Content-Type"] = "application/json"
    return Response(
        body=json.dumps(body, separators=(",", ":")) if body is not None else "",
        status_code=status,
        headers=all_headers,
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(raw: bytes | str) -> Any:
    """Strict JSON: NaN and Infinity are refused (they are not JSON, and clients cannot parse them back),
    and absurdly deep nesting is an error like any other malformed body, never a crash."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        detail = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidInput(f"request body is not valid JSON: {detail}") from exc


def json_body(request: Request) -> dict[str, Any]:
    raw = request.raw_body
    if not raw or not raw.strip():
        return {}
    body = load_json(raw)
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    return body


def _describe(error: Any) -> tuple[str, str]:
    field = ".".join(str(p) for p in error.get("loc", ())) or "body"
    if error.get("type") == "extra_forbidden":
        return field, f"{field}: unknown field"
    return field, f"{field}: {error.get('msg', 'invalid')}"


def parse(model: type[M], body: dict[str, Any]) -> M:
    from pydantic import ValidationError  # loaded already: `model` is a pydantic model

    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [_describe(e) for e in exc.errors()]
        raise InvalidInput("; ".join(m for _, m in errors), field=errors[0][0] if errors else None) from exc


def int_param(value: str | None, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise InvalidInput(f"{name} is required", field=name)
        return default
    number = ascii_integer(value, signed=True)
    if number is None:
        raise InvalidInput(f"{name} must be an integer", field=name)
    return number


def path_id(value: str, name: str) -> int:
    """Numeric ids in paths; anything else names nothing, so it is a 404 rather than a 400."""
    number = ascii_integer(value)
    if number is None:
        raise NotFound(f"{name} {value!r} not found")
    return number


def paged(page: Page[Any]) -> Paged:
    """A listing page's `meta` (deployments, webhook deliveries, promotions)."""
    return {"page": page.page, "per_page": page.per_page, "total": page.total, "total_pages": page.total_pages}
