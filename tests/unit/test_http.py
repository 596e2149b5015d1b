"""Request parsing, and the error boundary every dialect's routes go through (here the native dialect's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from chalice import BadRequestError

from chalicelib.api.http import int_param, parse, path_id
from chalicelib.api.renderers import NATIVE
from chalicelib.errors import (
    AlreadyExists,
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unprocessable,
)
from chalicelib.services.inputs import ProjectCreate


@pytest.fixture
def guarded_view() -> Callable[[BaseException], Any]:
    """A view that raises `error`, wrapped by the native dialect's error boundary."""

    def make(error: BaseException) -> Any:
        @NATIVE.guard
        def view() -> Any:
            raise error

        return view

    return make


def _body(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body))


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": 123, "repo_url": "https://x/y.git"}, "name"),
        ({"repo_url": "https://x/y.git"}, "name"),
        ({"name": "site", "repo_url": "https://x/y.git", "colour": "red"}, "colour"),
        ({"name": "site", "repo_url": "https://x/y.git", "slug": "Bad Slug"}, "slug"),
    ],
)
def test_parse_turns_validation_errors_into_invalid_input_naming_the_field(body: dict[str, Any], field: str) -> None:
    # When a bad body is parsed
    with pytest.raises(InvalidInput) as raised:
        parse(ProjectCreate, body)

    # Then the error points at the field and its message names it
    assert raised.value.field == field
    assert raised.value.message.startswith(f"{field}: ")


def test_parse_says_an_unknown_field_is_unknown() -> None:
    with pytest.raises(InvalidInput) as raised:
        parse(ProjectCreate, {"name": "site", "repo_url": "https://x/y.git", "colour": "red"})
    assert raised.value.message == "colour: unknown field"


def test_parse_returns_the_model_for_a_valid_body() -> None:
    project = parse(ProjectCreate, {"name": "site", "repo_url": "https://x/y.git"})
    assert (project.name, project.repo_url) == ("site", "https://x/y.git")


@pytest.mark.parametrize("value", ["abc", "1.5", "1e3", " "])
def test_a_non_integer_query_parameter_is_invalid_input(value: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        int_param(value, "page")
    assert raised.value.field == "page"


def test_integer_query_parameters_parse_and_default() -> None:
    assert int_param("7", "page") == 7
    assert int_param(None, "page", default=1) == 1
    assert int_param("", "per_page", default=20) == 20
    with pytest.raises(InvalidInput):
        int_param(None, "page")


@pytest.mark.parametrize("value", ["abc", "-1", "1.0", "", "1" * 19])
def test_a_path_id_that_is_not_a_number_names_nothing(value: str) -> None:
    # When such an id is used in a path, Then it is a 404, not a 400
    with pytest.raises(NotFound):
        path_id(value, "project")


def test_a_numeric_path_id_is_its_number() -> None:
    assert path_id("42", "project") == 42


@pytest.mark.parametrize(
    "error, status",
    [
        (InvalidInput("x"), 400),
        (Unauthenticated("x"), 401),
        (Forbidden("x"), 403),
        (NotFound("x"), 404),
        (AlreadyExists("x"), 409),
        (Conflict("x"), 409),
        (Unprocessable("x"), 422),
        (DomainError("x"), 400),  # a caller's error no row names: the table's default, never a 500
    ],
)
def test_each_domain_error_maps_to_its_http_status(error: DomainError, status: int) -> None:
    assert NATIVE.status_for(error) == status


def test_a_subclass_of_a_domain_error_keeps_its_parents_status() -> None:
    class ProjectNotFound(NotFound):
        pass

    assert NATIVE.status_for(ProjectNotFound("no project 7")) == 404


@pytest.mark.parametrize(
    "error, status, code",
    [
        (NotFound("project 7 not found"), 404, "not_found"),
        (InvalidInput("name: too short", field="name"), 400, "invalid_input"),
        (Conflict("already deployed"), 409, "conflict"),
        (BadRequestError("bad request"), 400, "invalid_input"),
    ],
)
def test_the_error_boundary_renders_expected_errors_with_their_status(
    guarded_view: Callable[[BaseException], Any], error: BaseException, status: int, code: str
) -> None:
    # When a view raises an expected error
    response = guarded_view(error)()

    # Then the client gets its status and a JSON error body with a stable code
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert _body(response)["error"]["code"] == code


def test_the_error_boundary_names_the_invalid_field() -> None:
    @NATIVE.guard
    def view() -> Any:
        raise InvalidInput("slug: bad", field="slug")

    assert _body(view())["error"] == {"code": "invalid_input", "message": "slug: bad", "field": "slug"}


def test_an_unexpected_exception_becomes_a_500_without_internals(guarded_view: Callable[[BaseException], Any]) -> None:
    # Given a view that fails with an arbitrary exception carrying internal details
    view = guarded_view(RuntimeError("connection to db-internal.corp:5432 refused, password=hunter2"))

    # When it is called
    response = view()

    # Then the client gets a plain 500 JSON error, with no traceback and none of the exception's text
    assert response.status_code == 500
    body = _body(response)
    assert body["error"]["code"] == "internal_error"
    text = json.dumps(body)
    for leak in ("Traceback", "RuntimeError", "hunter2", "db-internal", 'File "'):
        assert leak not in text


def test_the_error_boundary_passes_a_successful_result_through() -> None:
    @NATIVE.guard
    def view(value: int) -> Any:
        return {"value": value}

    assert view(3) == {"value": 3}


def _gateway_request(domain: str, stage: str) -> Any:
    from chalice.app import Request

    event = {
        "multiValueQueryStringParameters": None,
        "headers": {"host": domain},
        "pathParameters": None,
        "requestContext": {"domainName": domain, "stage": stage, "httpMethod": "GET", "resourcePath": "/"},
        "body": None,
        "isBase64Encoded": False,
        "stageVariables": None,
    }
    return Request(event)


def test_links_point_at_the_url_a_request_came_in_on_when_no_api_url_is_configured(settings_env) -> None:
    from chalicelib.api.http import public_api_url

    settings_env(DEPLOYD_API_URL=None)
    request = _gateway_request("abc123.execute-api.eu-west-1.amazonaws.com", "api")
    assert public_api_url(request) == "https://abc123.execute-api.eu-west-1.amazonaws.com/api"


def test_a_configured_api_url_wins_over_the_requests_own(settings_env) -> None:
    from chalicelib.api.http import public_api_url

    settings_env(DEPLOYD_API_URL="https://deploy.example.com/")
    request = _gateway_request("abc123.execute-api.eu-west-1.amazonaws.com", "api")
    assert public_api_url(request) == "https://deploy.example.com"
