"""Idempotency-Key at the HTTP edge: `answer_once` runs a covered request's view at most once per organization
and key, and answers a retry with the first answer, replayed (docs/idempotency.md).

Only a success is stored: an answer of 400 or more, raised or returned, deletes the claim, so a request refused
before it did anything (validation, 401, 403, 404, 409, 429) can be retried with the same key once fixed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from chalice import Response
from chalice.app import Request

from chalicelib.services import idempotency

REPLAYED_HEADER = "Idempotent-Replayed"
# What a replay shows in place of a secret the first answer showed once: secrets are kept only as hashes.
MASKED = "****************"
# The view's own headers worth replaying; rate-limit and correlation headers are the retry's own.
_REPLAYED_HEADERS = frozenset({"content-type", "location"})
_PARAMETER = re.compile(r"\{(\w+)\+?\}")


class _NotStored(Exception):
    """Carries an error answer out of the idempotent execution, so the claim is deleted rather than stored."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _path(request: Request) -> str:
    params = request.uri_params or {}
    return _PARAMETER.sub(lambda m: str(params.get(m.group(1), m.group(0))), request.path)


def _query(request: Request) -> dict[str, list[str]]:
    query: Any = request.query_params or {}
    return {name: list(query.getlist(name)) if hasattr(query, "getlist") else [query[name]] for name in query}


def _text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode()
    return body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))


def _stored(response: Response, one_time: tuple[str, ...]) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "headers": {k: str(v) for k, v in response.headers.items() if k.lower() in _REPLAYED_HEADERS},
        "body": _masked(_text(response.body), one_time),
    }


def _masked(body: str, one_time: tuple[str, ...]) -> str:
    """The answer as stored: each one-time field of its `data` (a secret shown once) replaced by MASKED."""
    if not one_time:
        return body
    document = json.loads(body)
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict):
        return body
    for field in one_time:
        if field in data:
            data[field] = MASKED
    return json.dumps(document, separators=(",", ":"))


def answer_once(
    request: Request, org_slug: str, answer: Callable[[], Response], one_time: tuple[str, ...] = ()
) -> Response:
    """`answer()`, or, for a retry of a request with the same Idempotency-Key, the first request's answer (its
    `one_time` fields masked: they were shown once and are not stored)."""
    sent = request.headers.get(idempotency.HEADER)
    if sent is None:
        return answer()
    key = idempotency.valid_key(sent)
    fingerprint = idempotency.fingerprint(request.method, _path(request), _query(request), request.raw_body)

    first: list[Response] = []

    def work() -> dict[str, Any]:
        response = answer()
        if response.status_code >= 400:
            raise _NotStored(response)
        first.append(response)
        return _stored(response, one_time)

    try:
        outcome = idempotency.once(org_slug, key, fingerprint, work, request.lambda_context)
    except _NotStored as refused:
        return refused.response
    if first and not outcome.replayed:
        return first[0]  # the first answer itself, one-time fields and all
    stored = outcome.result
    headers: dict[str, Any] = dict(stored["headers"])
    if outcome.replayed:
        headers[REPLAYED_HEADER] = "true"
    return Response(body=stored["body"], status_code=int(stored["status"]), headers=headers)
