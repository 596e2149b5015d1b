"""Chalice middleware, registered in app.py: correlation ids for API requests, and every Lambda entry point
(API, SQS, schedule, plain functions) logged with its context and traced (`observability.invocation`).

A request's correlation id is the client's X-Request-Id when it is sane (1 to 128 visible ASCII
characters), else API Gateway's request id (the Lambda request id on Chalice's local server, which has
none). Every response echoes it in X-Request-Id, errors included. Event handlers set no correlation id:
their lines are joined to the rest of a deployment's story by deployment_id, which the API's
"deployment queued" line carries next to the request's correlation id.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from chalice import Response
from chalice.app import Request

from chalicelib.observability import correlation, invocation, logger

REQUEST_ID_HEADER = "X-Request-Id"
_SANE_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")


def request_id(request: Request | None) -> str:
    """The request's correlation id (see the module's docstring)."""
    if request is None:  # no route matched: API Gateway answers those itself
        return str(uuid.uuid4())
    supplied = request.headers.get(REQUEST_ID_HEADER)
    if supplied is not None and _SANE_REQUEST_ID.fullmatch(supplied):
        return str(supplied)
    gateway = (request.context or {}).get("requestId") or getattr(request.lambda_context, "aws_request_id", None)
    return str(gateway or uuid.uuid4())


def correlate(request: Request | None, get_response: Callable[[Request | None], Response]) -> Response:
    """http middleware: the request's lines carry its correlation id, and so does its response."""
    correlation_id = request_id(request)
    started = time.perf_counter()
    with correlation(correlation_id):
        try:
            response = get_response(request)
        except Exception:  # what Chalice would answer, but with the id the client can quote
            logger.exception("unhandled error in request")
            response = Response(
                body={"Code": "InternalServerError", "Message": "An internal server error occurred."},
                status_code=500,
            )
        if request is not None:
            logger.info(
                "request",
                extra={
                    "method": request.method,
                    "route": request.path,
                    "status": response.status_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                },
            )
    response.headers[REQUEST_ID_HEADER] = correlation_id
    return response


def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """all middleware: one invocation of any entry point, with its Lambda context in the logs, traced."""
    if event is None or isinstance(event, Request):  # None: an API event that matched no route
        name, lambda_context = "api", getattr(event, "lambda_context", None)
    else:  # SQSEvent, CloudWatchEvent, LambdaFunctionEvent, ...; the embedded stack's timer passes no context
        lambda_context = getattr(event, "context", None)
        name = getattr(lambda_context, "function_name", None) or type(event).__name__
    with invocation(name, lambda_context):
        return get_response(event)
