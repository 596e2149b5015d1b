"""Each dialect's error format, as one table {domain error type -> Answer} (api/dialect.py looks an error up
along its class hierarchy). These tables answer the views' errors and the edge's own refusals alike
(chalicelib.api.edges), so each dialect's format is written once, here. docs/errors.md has the user's view.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.api.dialect import Answer, InternalError, Refused, Renderer, own_status
from chalicelib.errors import (
    AlreadyExists,
    Conflict,
    DomainError,
    FieldRejected,
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unprocessable,
)

Body = Callable[[Any], Any]
Status = int | Callable[[Any], int]


def same_body(body: Body, statuses: Mapping[type[DomainError], Status]) -> dict[type[DomainError], Answer]:
    """Rows that share one body builder and differ by status."""
    return {kind: Answer(status, body) for kind, status in statuses.items()}


# Native (and admin, health): {"error": {"code", "message", "field"?}}; RateLimited is a 429.


def native_body(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    return {"error": body}


# The status each domain error has where a dialect has no reason to differ.
STATUSES: dict[type[DomainError], Status] = {
    DomainError: 400,
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    AlreadyExists: 409,
    Conflict: 409,
    Unprocessable: 422,
    RateLimited: 429,
    InternalError: 500,
    Refused: own_status,
}

NATIVE = Renderer(same_body(native_body, STATUSES))


# Mintlify: {"error": "..."}; an unknown branch (Unprocessable) is a 400, Mintlify's only client error. A reused
# Idempotency-Key is deployd's own addition, answered 422 as in the native API.


def mintlify_body(error: DomainError) -> dict[str, Any]:
    return {"error": error.message}


MINTLIFY = Renderer(same_body(mintlify_body, {**STATUSES, Unprocessable: 400, IdempotencyKeyReused: 422}))


# GitHub: {"message", "documentation_url"}, with GitHub's fixed wordings; a primary rate limit is a 403.

GITHUB_DOCS = "https://docs.github.com/rest"
GITHUB_CODES = {"invalid": "invalid", "missing": "missing_field", "refused": "custom"}


def github(body: Body) -> Body:
    return lambda error: {**body(error), "documentation_url": GITHUB_DOCS}


def github_message(error: DomainError) -> dict[str, Any]:
    return {"message": error.message}


def github_unauthenticated(error: Unauthenticated) -> dict[str, Any]:
    said = "Requires authentication" if error.message == "Requires authentication" else "Bad credentials"
    return {"message": said}


def github_validation(error: Unprocessable) -> dict[str, Any]:
    """GitHub's 422: "Validation Failed" with {resource, field, code, message}; an Unprocessable that names no
    resource (a repository that cannot be read) is the repository's."""
    if isinstance(error, FieldRejected):
        item = {"resource": error.resource, "field": error.field or "", "code": GITHUB_CODES[error.problem]}
    else:
        item = {"resource": "Repository", "field": error.field or "", "code": "custom"}
    return {"message": "Validation Failed", "errors": [{**item, "message": error.message}]}


def _fixed(message: str) -> Body:
    return lambda error: {"message": message}


GITHUB = Renderer(
    {
        DomainError: Answer(400, github(github_message)),
        InvalidInput: Answer(400, github(_fixed("Problems parsing JSON"))),
        Unauthenticated: Answer(401, github(github_unauthenticated)),
        Forbidden: Answer(403, github(lambda e: {"message": f"Resource not accessible by this API key ({e.message})"})),
        RateLimited: Answer(403, github(github_message)),
        NotFound: Answer(404, github(_fixed("Not Found"))),
        AlreadyExists: Answer(409, github(github_message)),
        Conflict: Answer(409, github(github_message)),
        Unprocessable: Answer(422, github(github_validation)),
        InternalError: Answer(500, github(_fixed("Server Error"))),
        Refused: Answer(own_status, github(github_message)),
    }
)


# GitLab: {"message": "401 Unauthorized"}-style for auth and missing resources, Grape's {"error": "x is
# missing"} for bad parameters (an InvalidInput naming its field), model validation errors as
# {"message": {"ref": [...]}}, and {"message": text} for refused state changes.


def gitlab_message(error: DomainError) -> dict[str, Any]:
    return {"message": error.message}


def gitlab_invalid(error: InvalidInput) -> dict[str, Any]:
    return {"error": error.message} if error.field else {"message": error.message}


def gitlab_not_found(error: NotFound) -> dict[str, Any]:
    return {"message": "404 Project Not Found" if error.field == "project" else "404 Not found"}


def gitlab_unprocessable(error: Unprocessable) -> dict[str, Any]:
    if error.field in ("ref", "sha"):
        return {"message": {error.field: [error.message]}}
    return {"message": error.message}


GITLAB = Renderer(
    {
        DomainError: Answer(400, gitlab_message),
        InvalidInput: Answer(400, gitlab_invalid),
        Unauthenticated: Answer(401, _fixed("401 Unauthorized")),
        Forbidden: Answer(403, _fixed("403 Forbidden")),
        RateLimited: Answer(429, _fixed("429 Too Many Requests")),
        NotFound: Answer(404, gitlab_not_found),
        AlreadyExists: Answer(409, gitlab_message),
        Conflict: Answer(409, gitlab_message),
        Unprocessable: Answer(400, gitlab_unprocessable),
        InternalError: Answer(500, _fixed("500 Internal Server Error")),
        Refused: Answer(own_status, lambda e: {"message": f"{e.status} {e.message}"}),
    }
)
