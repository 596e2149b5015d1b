"""The one HTTP edge: every route is declared through a dialect, and each dialect's renderer answers a domain
error by the nearest class in its hierarchy that the dialect's table names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.api.dialect import DECLARED_BY, Renderer, lookup
from chalicelib.api.renderers import GITHUB, GITLAB, MINTLIFY, NATIVE
from chalicelib.errors import Conflict, DomainError, Forbidden, NotFound, RateLimited
from chalicelib.services import rate_limits

RENDERERS = {"native": NATIVE, "github": GITHUB, "gitlab": GITLAB, "mintlify": MINTLIFY}


class ProjectGone(NotFound):
    """A subclass no table names."""


class Unmapped(DomainError):
    """A domain error no table names, nor any of its bases but DomainError."""

    code = "unmapped"


def _body(response: Any) -> Any:
    return json.loads(response.body)


def test_lookup_takes_the_nearest_class_in_the_hierarchy() -> None:
    # Given a table naming DomainError, NotFound and Conflict
    table = {DomainError: "default", NotFound: "not found", Conflict: "conflict"}

    # Then a class finds its own row, a subclass its nearest mapped ancestor, anything else the default
    assert lookup(table, NotFound) == "not found"
    assert lookup(table, ProjectGone) == "not found"
    assert lookup(table, Unmapped) == "default"
    assert lookup(table, Forbidden) == "default"


@pytest.mark.parametrize("dialect", sorted(RENDERERS))
def test_a_subclass_of_not_found_renders_as_not_found(dialect: str) -> None:
    renderer = RENDERERS[dialect]

    # When a view raises a NotFound subclass that no dialect names
    gone, plain = renderer.render(ProjectGone("project 7 not found")), renderer.render(NotFound("project 7 not found"))

    # Then each dialect answers it exactly as it answers NotFound
    assert gone.status_code == plain.status_code == 404
    assert _body(gone) == _body(plain)


@pytest.mark.parametrize(
    ("dialect", "body"),
    [
        ("native", {"error": {"code": "unmapped", "message": "no such thing"}}),
        ("github", {"message": "no such thing", "documentation_url": "https://docs.github.com/rest"}),
        ("gitlab", {"message": "no such thing"}),
        ("mintlify", {"error": "no such thing"}),
    ],
)
def test_an_unmapped_domain_error_gets_the_tables_default_never_a_500(dialect: str, body: Any) -> None:
    # When a view raises a domain error no row names
    response = RENDERERS[dialect].guard(_raising(Unmapped("no such thing")))()

    # Then the dialect's DomainError row answers it: a client error in the dialect's format
    assert response.status_code == 400
    assert _body(response) == body


def _raising(error: Exception) -> Any:
    def view() -> Any:
        raise error

    return view


def test_a_renderer_without_a_default_row_is_refused() -> None:
    with pytest.raises(ValueError, match="DomainError"):
        Renderer({NotFound: NATIVE.table[NotFound]})


@pytest.mark.parametrize(
    ("dialect", "status", "body"),
    [
        ("github", 403, {"message": "{message}", "documentation_url": "https://docs.github.com/rest"}),
        ("native", 429, {"error": {"code": "rate_limited", "message": "{message}"}}),
        ("gitlab", 429, {"message": "429 Too Many Requests"}),
        ("mintlify", 429, {"error": "{message}"}),
    ],
)
def test_each_dialect_chooses_its_status_for_a_rate_limit(dialect: str, status: int, body: Any) -> None:
    # Given a request over its organization's hourly limit
    state = rate_limits.RateLimitState(limit=1, remaining=0, used=2, reset=10_000, bucket="core")
    error = rate_limits.RateLimited(state)

    # When a dialect renders it
    response = RENDERERS[dialect].render(error)

    # Then GitHub answers 403 (its primary rate limit), every other dialect 429, each in its own format
    assert response.status_code == status
    assert _body(response) == json.loads(json.dumps(body).replace("{message}", error.message))
    assert not isinstance(error, Forbidden) and isinstance(error, RateLimited)


def test_every_route_is_declared_through_a_dialect() -> None:
    from app import app

    # When every route of the app is walked
    undeclared = [
        f"{method} {path}"
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if not getattr(entry.view_function, DECLARED_BY, None)
    ]

    # Then each was declared with Dialect.route (scope, bucket, error renderer), none with a bare blueprint route
    assert app.routes
    assert undeclared == []
