"""The request parsing the GitHub dialect's routes share (JSON bodies, query parameters, paging, the Link
header). Its admission is api/dialects.py's `admit_github`, its error format api/renderers.py's GITHUB.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from chalice.app import Request

from chalicelib.api import dialects
from chalicelib.api.http import load_json
from chalicelib.errors import FieldRejected, InvalidInput

if TYPE_CHECKING:
    from chalicelib.services import auth
    from chalicelib.services.listing import Page


if TYPE_CHECKING:
    from pydantic import BaseModel

dialect = dialects.github

M = TypeVar("M", bound="BaseModel")
REPO = "/repos/{owner}/{repo}"


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
        problem = "missing" if first.get("type") == "missing" else "invalid"
        raise FieldRejected(resource, field, problem, f"{field}: {first.get('msg', 'invalid')}") from exc


def query_params(request: Request, resource: str) -> dict[str, str]:
    """Query parameters; a parameter given twice is not a string, so it is invalid."""
    params: Any = request.query_params or {}
    single: dict[str, str] = {}
    for name in params:
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        if len(values) > 1:
            raise FieldRejected(resource, name, "invalid", f"{name} must be given once")
        single[name] = values[0]
    return single


def paging(query: Mapping[str, str], resource: str) -> tuple[int, int]:
    from chalicelib.services import github as rules
    from chalicelib.services.integers import ascii_integer

    def number(name: str, default: int, highest: int | None) -> int:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        number = ascii_integer(raw, digits=10)
        if number is None or not 1 <= number <= (highest or 10**9):
            limit = f" between 1 and {highest}" if highest else " of 1 or more"
            raise FieldRejected(resource, name, "invalid", f"{name} must be an integer{limit}")
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
