"""The GitHub dialect's HTTP edge: its blueprint, `endpoint` (authentication, scope, rate limit, GitHub's
error bodies and the x-ratelimit-* headers on every response, errors included) and the request parsing its
routes share (JSON bodies, query parameters, paging, the Link header).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api.http import CONTENT_TYPES, error_boundary, json_response, load_json
from chalicelib.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthenticated
from chalicelib.services import auth, rate_limits
from chalicelib.services import github as rules
from chalicelib.services.github import ValidationFailed
from chalicelib.services.integers import ascii_integer
from chalicelib.services.listing import Page
from chalicelib.services.rate_limits import RateLimitState

if TYPE_CHECKING:
    from pydantic import BaseModel

github = Blueprint("chalicelib.api.github")

DOCS = "https://docs.github.com/rest"
View = Callable[..., Response]
M = TypeVar("M", bound="BaseModel")
REPO = "/repos/{owner}/{repo}"


# Errors and headers


def render_error(status: int, error: DomainError) -> Response:
    body: dict[str, Any]
    if isinstance(error, ValidationFailed):
        body = {"message": "Validation Failed", "errors": error.errors}
    elif status == 422:
        body = {"message": "Validation Failed", "errors": [_error_item("Repository", error, "custom")]}
    elif status == 400:
        body = {"message": "Problems parsing JSON"}
    elif isinstance(error, rate_limits.RateLimited):
        body = {"message": error.message}
    elif isinstance(error, Unauthenticated):
        body = {
            "message": "Requires authentication" if error.message == "Requires authentication" else "Bad credentials"
        }
    elif isinstance(error, Forbidden):
        body = {"message": f"Resource not accessible by this API key ({error.message})"}
    elif isinstance(error, NotFound):
        body = {"message": "Not Found"}
    elif isinstance(error, Conflict):
        body = {"message": error.message}
    else:
        body = {"message": "Server Error"}
    body["documentation_url"] = DOCS
    return json_response(status, body)


def _error_item(resource: str, error: DomainError, code: str) -> dict[str, str]:
    return {"resource": resource, "field": error.field or "", "code": code, "message": error.message}


guarded = error_boundary(render_error)


def _with_rate_limits(response: Response, limits: RateLimitState | None) -> Response:
    if limits is None:
        return response
    response.headers.update(rate_limits.headers(limits))
    return response


def _client_address(request: Request) -> str:
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def endpoint(path: str, method: str, scope: str) -> Callable[[View], View]:
    """Register `view(principal, **path_params)` at `path` behind authentication, a scope and the rate limit."""

    def decorate(view: View) -> View:
        def admitted(limits: list[RateLimitState], params: dict[str, str]) -> Response:
            request = github.current_request
            admission = rules.admit(request.headers.get("authorization"), _client_address(request))
            limits.append(admission.limits)
            principal = admission.principal()
            principal.require(scope)
            return view(principal, **params)

        @functools.wraps(view)
        def handler(**params: str) -> Response:
            limits: list[RateLimitState] = []
            response = guarded(admitted)(limits, params)
            return _with_rate_limits(response, limits[0] if limits else None)

        github.route(path, methods=[method], content_types=CONTENT_TYPES)(handler)
        return handler

    return decorate


# Request parsing


def parse_body(request: Request) -> dict[str, Any]:
    raw = request.raw_body
    if not raw or not raw.strip():
        return {}
    try:
        body = load_json(raw)
    except InvalidInput as exc:
        raise InvalidInput("Problems parsing JSON") from exc
    if not isinstance(body, dict):
        raise InvalidInput("Problems parsing JSON")
    return body


def parse_model(model: type[M], resource: str, body: dict[str, Any]) -> M:
    from pydantic import ValidationError  # loaded already: `model` is a pydantic model

    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        code = "missing_field" if first.get("type") == "missing" else "invalid"
        raise ValidationFailed(resource, field, code, f"{field}: {first.get('msg', 'invalid')}") from exc


def query_params(request: Request, resource: str) -> dict[str, str]:
    """Query parameters; a parameter given twice is not a string, so it is invalid."""
    params: Any = request.query_params or {}
    single: dict[str, str] = {}
    for name in params:
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        if len(values) > 1:
            raise ValidationFailed(resource, name, "invalid", f"{name} must be given once")
        single[name] = values[0]
    return single


def paging(query: Mapping[str, str], resource: str) -> tuple[int, int]:
    def number(name: str, default: int, highest: int | None) -> int:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        number = ascii_integer(raw, digits=10)
        if number is None or not 1 <= number <= (highest or 10**9):
            limit = f" between 1 and {highest}" if highest else " of 1 or more"
            raise ValidationFailed(resource, name, "invalid", f"{name} must be an integer{limit}")
        return number

    return number("page", 1, None), number("per_page", rules.DEFAULT_PER_PAGE, rules.MAX_PER_PAGE)


def link_header(url: str, query: Mapping[str, str], page: Page[Any]) -> dict[str, str]:
    """GitHub's Link header (next, last, first, prev); none when one page holds everything."""
    last = page.last_page

    def link(number: int, rel: str) -> str:
        params = {**query, "per_page": str(page.per_page), "page": str(number)}
        return f'<{url}?{urlencode(params)}>; rel="{rel}"'

    links = []
    if page.page < last:
        links += [link(page.page + 1, "next"), link(last, "last")]
    if page.page > 1:
        links += [link(min(page.page - 1, last), "prev"), link(1, "first")]
    return {"Link": ", ".join(links)} if links else {}


def without_paging(query: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in query.items() if k not in ("page", "per_page")}


def creator_of(principal: auth.Principal) -> str:
    return f"api-key:{principal.key_id}"
