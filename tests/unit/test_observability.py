"""Correlation ids, the invocation context in the logs, and tracing only on Lambda.

The middleware is exercised on a small Chalice app of its own (the real app's wiring is covered over HTTP
by tests/integration/test_request_ids.py), with Chalice's test client and Lambda-style handler calls.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from chalice import Chalice, ChaliceUnhandledError, Rate
from chalice.app import CloudWatchEvent, Request, SQSEvent
from chalice.test import Client

from chalicelib import observability
from chalicelib.api.middleware import REQUEST_ID_HEADER, correlate, observe, request_id
from chalicelib.observability import correlation, deployment_context, logger

# ---- fixtures ----


@dataclass
class FakeLambdaContext:
    function_name: str = "deployd-test-build_worker"
    aws_request_id: str = "lambda-request-1"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:deployd-test-build_worker"


def sample_app() -> Chalice:
    """The app's two middleware, registered as app.py does, around a few routes and event handlers."""
    sample = Chalice(app_name="sample")
    sample.register_middleware(observe, "all")
    sample.register_middleware(correlate, "http")

    @sample.route("/work", methods=["GET", "POST"])
    def work() -> dict[str, str]:
        logger.info("working")
        return {"ok": "yes"}

    @sample.route("/broken")
    def broken() -> None:
        raise ValueError("a bug")

    @sample.route("/unhandled")
    def unhandled() -> None:
        raise ChaliceUnhandledError("escapes the view")

    @sample.on_sqs_message(queue="builds")
    def consume(event: SQSEvent) -> None:
        logger.info("consuming")

    @sample.schedule(Rate(1, unit=Rate.MINUTES))
    def tick(event: CloudWatchEvent) -> None:
        logger.info("ticking")

    return sample


@pytest.fixture
def client(tmp_path: Path) -> Iterator[Client]:
    with Client(sample_app(), project_dir=str(tmp_path)) as test_client:  # no .chalice config: no env patched
        yield test_client


def sqs_event() -> dict[str, Any]:
    record = {"messageId": "m-1", "receiptHandle": "r", "body": "{}", "attributes": {}, "messageAttributes": {}}
    return {"Records": [{**record, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:builds"}]}


# ---- correlation ids ----


def test_a_sane_request_id_is_echoed_and_carried_by_every_line_of_the_request(client, log_lines):
    # When a client sends its own request id
    response = client.http.get("/work", headers={"X-Request-Id": "checkout-42.retry:1"})

    # Then the response echoes it, and the view's line and the access line carry it
    assert response.status_code == 200
    assert response.headers[REQUEST_ID_HEADER] == "checkout-42.retry:1"
    working, access = log_lines.saying("working"), log_lines.saying("request")
    assert [line["correlation_id"] for line in working + access] == ["checkout-42.retry:1"] * 2
    assert access[0]["method"] == "GET" and access[0]["route"] == "/work" and access[0]["status"] == 200


@pytest.mark.parametrize("supplied", ["", "two words", "x" * 129, "tab\there", "line\nbreak", "caf\u00e9"], ids=repr)
def test_an_insane_request_id_is_replaced_by_the_lambda_request_id(client, log_lines, supplied):
    # When a client sends a request id that is empty, too long or not visible ASCII
    response = client.http.get("/work", headers={"X-Request-Id": supplied})

    # Then the request gets the Lambda request id instead (Chalice's local server has no API Gateway one)
    (access,) = log_lines.saying("request")
    assert response.headers[REQUEST_ID_HEADER] != supplied
    assert response.headers[REQUEST_ID_HEADER] == access["correlation_id"] == access["function_request_id"]


def test_api_gateways_request_id_is_the_default_and_the_clients_sane_one_wins():
    def request(headers: dict[str, str]) -> Request:
        event = {
            "multiValueQueryStringParameters": None,
            "headers": headers,
            "pathParameters": {},
            "requestContext": {"httpMethod": "GET", "resourcePath": "/work", "requestId": "apigw-7"},
            "stageVariables": None,
            "body": None,
        }
        return Request(event, FakeLambdaContext())

    assert request_id(request({})) == "apigw-7"
    assert request_id(request({"x-request-id": "mine"})) == "mine"
    assert request_id(request({"x-request-id": "not mine"})) == "apigw-7"


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/broken", {}, 500),  # an exception Chalice turns into a 500 inside the view
        ("GET", "/unhandled", {}, 500),  # one that escapes the view: the middleware answers the 500
        ("PUT", "/work", {}, 405),
        ("POST", "/work", {"Content-Type": "text/html"}, 415),
    ],
)
def test_error_responses_carry_the_request_id_too(client, log_lines, method, path, headers, status):
    response = client.http.request(method, path, headers={**headers, "X-Request-Id": "err-1"}, body=b"x")

    assert response.status_code == status
    assert response.headers[REQUEST_ID_HEADER] == "err-1"
    assert log_lines.saying("request")[0]["correlation_id"] == "err-1"


def test_a_requests_keys_do_not_outlive_it(client, log_lines):
    client.http.get("/work", headers={"X-Request-Id": "first"})

    logger.info("after the request")

    (after,) = log_lines.saying("after the request")
    assert "correlation_id" not in after and "function_request_id" not in after


# ---- event handlers ----


def test_an_event_handlers_lines_carry_its_lambda_context_and_no_correlation_id(log_lines):
    # Given an SQS handler behind the middleware
    sample = sample_app()

    # When Lambda invokes it twice
    sample.handler_map["consume"](sqs_event(), FakeLambdaContext())
    sample.handler_map["consume"](sqs_event(), FakeLambdaContext(aws_request_id="lambda-request-2"))

    # Then its lines name the function and the invocation, and only a process's first one is a cold start
    first, second = log_lines.saying("consuming")
    assert first["function_name"] == "deployd-test-build_worker" and first["function_memory_size"] == 256
    assert first["function_arn"].endswith(":function:deployd-test-build_worker")
    assert (first["function_request_id"], second["function_request_id"]) == ("lambda-request-1", "lambda-request-2")
    assert isinstance(first["cold_start"], bool) and second["cold_start"] is False
    assert "correlation_id" not in first


def test_an_invocation_without_a_context_still_runs(log_lines):
    # The embedded stack's schedule timer calls the scheduled handler with no context at all
    event = {
        "version": "0",
        "id": "e-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }
    sample_app().handler_map["tick"](event, None)

    (line,) = log_lines.saying("ticking")
    assert "function_name" not in line and isinstance(line["cold_start"], bool)


# ---- log keys ----


def test_scoped_keys_come_back_exactly_as_they_were():
    with correlation("outer"):
        with deployment_context(7, 8):
            assert logger.thread_safe_get_current_keys() == {
                "correlation_id": "outer",
                "deployment_id": 7,
                "project_id": 8,
            }
            with deployment_context(9, 8):
                assert logger.thread_safe_get_current_keys()["deployment_id"] == 9
            assert logger.thread_safe_get_current_keys()["deployment_id"] == 7
        assert logger.thread_safe_get_current_keys() == {"correlation_id": "outer"}
    assert logger.thread_safe_get_current_keys() == {}


def test_a_thread_that_copied_the_context_keeps_its_keys_after_the_scope_ends():
    # Given a context copied inside a deployment's scope (as the heartbeat and build-log threads do)
    with deployment_context(7, 8):
        copied = contextvars.copy_context()

    # Then leaving the scope does not take the keys from the copy
    assert copied.run(logger.thread_safe_get_current_keys) == {"deployment_id": 7, "project_id": 8}


# ---- tracing ----


def test_no_tracer_is_made_outside_lambda(monkeypatch):
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    observability.tracer.cache_clear()

    assert observability.tracer() is None


def test_on_lambda_tracing_can_still_be_switched_off(monkeypatch):
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    observability.tracer.cache_clear()
    try:
        made = observability.tracer()
        assert made is not None and made.disabled
        sample_app().handler_map["consume"](sqs_event(), FakeLambdaContext())  # no subsegment, no error
    finally:
        observability.tracer.cache_clear()


@dataclass
class RecordingProvider:
    subsegments: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @contextlib.contextmanager
    def in_subsegment(self, name: str) -> Iterator[Any]:
        annotations: dict[str, Any] = {}
        self.subsegments.append((name, annotations))

        class Subsegment:
            @staticmethod
            def put_annotation(key: str, value: Any) -> None:
                annotations[key] = value

        yield Subsegment()


@dataclass
class TracingOn:
    provider: RecordingProvider
    disabled: bool = False


def test_on_lambda_each_invocation_is_a_subsegment(monkeypatch, client):
    # Given tracing on (a tracer whose provider records subsegments)
    provider = RecordingProvider()
    monkeypatch.setattr(observability, "tracer", lambda: TracingOn(provider))

    # When an SQS handler and an API route run
    sample_app().handler_map["consume"](sqs_event(), FakeLambdaContext())
    client.http.get("/work")

    # Then each is one subsegment, annotated with the cold start and the service
    assert [name for name, _ in provider.subsegments] == ["## deployd-test-build_worker", "## api"]
    assert all(set(notes) == {"ColdStart", "Service"} for _, notes in provider.subsegments)
    assert provider.subsegments[0][1]["Service"] == "deployd"
