"""Observability: the JSON logger every module logs through, X-Ray tracing and EMF metrics (Powertools).

Logs are structured JSON, one object per line, in Powertools' Logger format (level, location, message, timestamp,
service, then the line's keys). Lines of an API request carry its correlation_id; lines about a deployment carry
deployment_id and project_id (`deployment_context`); lines of any Lambda invocation carry the function, its
request id and cold_start (`invocation`). These keys are kept per thread (a context variable), never
process-wide, because the embedded stack runs several requests and workers in one process.

The logger is the standard library's with a formatter of Powertools' format, not Powertools' Logger: importing
Powertools loads its metrics, tracer and logging buffers (about 8 ms of every cold start, a twentieth of the
whole), while deployd uses its Logger for this format alone. Metrics and the tracer still come from Powertools,
imported with their first use.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "deployd"
# The attributes of every logging.LogRecord (and the keys the format writes itself): anything else on a record
# came with `extra=` and is one of the line's keys.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_keys: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("deployd_log_keys", default={})  # noqa: B039


class JsonFormatter(logging.Formatter):
    """One JSON object per record, as Powertools' Logger writes it: level, location, message, timestamp (with
    milliseconds and the UTC offset), service, the keys of the enclosing scopes, the record's `extra`, and
    exception and exception_name for an error; xray_trace_id on Lambda when tracing is active."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname,
            "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": self.formatTime(record),
            "service": SERVICE,
            **_keys.get(),
        }
        line.update((key, value) for key, value in vars(record).items() if key not in _RECORD_ATTRIBUTES)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = self.formatException(record.exc_info)
            line["exception_name"] = record.exc_info[0].__name__
        trace = os.environ.get("_X_AMZN_TRACE_ID")  # the Lambda runtime's, per invocation
        if trace:
            line["xray_trace_id"] = trace.split(";")[0].replace("Root=", "")
        return json.dumps(
            {key: value for key, value in line.items() if value is not None}, default=str, separators=(",", ":")
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = self.converter(record.created)
        return time.strftime("%Y-%m-%d %H:%M:%S,", moment) + f"{int(record.msecs):03d}" + time.strftime("%z", moment)


def _logger() -> logging.Logger:
    """deployd's logger: JSON lines on stdout, at LOG_LEVEL (Powertools' variable; INFO by default), not passed on
    to the root logger (the Lambda runtime's handler would write every line twice)."""
    made = logging.getLogger(SERVICE)
    if not made.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        made.addHandler(handler)
        made.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO")
        made.propagate = False
    return made


logger = _logger()


@contextlib.contextmanager
def _log_keys(**keys: Any) -> Iterator[None]:
    """Log lines inside carry `keys`; on the way out the keys are exactly what they were before.

    The keys are a new mapping for each scope, never changed in place: threads that copied this context (a
    build's heartbeat and log threads) share the mapping they copied and keep their keys.
    """
    previous = _keys.get()
    _keys.set({**previous, **keys})
    try:
        yield
    finally:
        _keys.set(previous)


def current_keys() -> dict[str, Any]:
    """The keys this thread's next log line carries."""
    return dict(_keys.get())


def deployment_context(deployment_id: int, project_id: int) -> contextlib.AbstractContextManager[None]:
    """Log lines inside carry these ids; an enclosing context's ids come back on the way out."""
    return _log_keys(deployment_id=deployment_id, project_id=project_id)


def correlation(correlation_id: str) -> contextlib.AbstractContextManager[None]:
    """Log lines inside carry `correlation_id`: an API request's id (see chalicelib.api.middleware)."""
    return _log_keys(correlation_id=correlation_id)


# ---- Lambda invocations: their context in the logs, and an X-Ray subsegment each ----

_invocations = itertools.count()  # the process's first invocation is its cold start


@contextlib.contextmanager
def invocation(name: str, lambda_context: Any) -> Iterator[None]:
    """One invocation of a Lambda entry point. Log lines inside carry the keys Powertools'
    `inject_lambda_context` adds (function_name, function_memory_size, function_arn, function_request_id,
    cold_start); on Lambda it is an X-Ray subsegment `## name`, annotated with ColdStart and Service.

    `lambda_context` may be a fake (the embedded stack's) or None (its schedule timer).
    """
    cold_start = next(_invocations) == 0
    keys: dict[str, Any] = {"cold_start": cold_start}
    if lambda_context is not None:
        keys.update(
            function_name=getattr(lambda_context, "function_name", None),
            function_memory_size=getattr(lambda_context, "memory_limit_in_mb", None),
            function_arn=getattr(lambda_context, "invoked_function_arn", None),
            function_request_id=getattr(lambda_context, "aws_request_id", None),
        )
    with _log_keys(**keys), _subsegment(name) as subsegment:
        if subsegment is not None:
            subsegment.put_annotation(key="ColdStart", value=cold_start)
            subsegment.put_annotation(key="Service", value=SERVICE)
        yield


def _subsegment(name: str) -> contextlib.AbstractContextManager[Any]:
    active = tracer()
    if active is None or active.disabled:
        return contextlib.nullcontext()
    return active.provider.in_subsegment(name=f"## {name}")


@functools.cache
def tracer() -> Tracer | None:
    """The X-Ray tracer, made on the first invocation, on Lambda only; None elsewhere.

    Making a Tracer imports the X-Ray SDK, whose recorder builds a botocore client (~150 ms), even where
    Powertools then switches tracing off; so it is never made at import time, nor outside Lambda
    (LAMBDA_TASK_ROOT is the Lambda runtime's own variable, the one Powertools checks).
    POWERTOOLS_TRACE_DISABLED=true still turns it off on Lambda. Only botocore is patched: every boto3
    and PynamoDB call goes through it, so each AWS call is one subsegment.
    """
    if not os.environ.get("LAMBDA_TASK_ROOT"):
        return None
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE, patch_modules=("botocore",))


# ---- metrics: CloudWatch embedded metric format (EMF), one JSON line per data point ----

METRICS_NAMESPACE = "deployd"
DEPLOYMENT_EVENTS = {
    "started": "DeploymentsStarted",
    "succeeded": "DeploymentsSucceeded",
    "failed": "DeploymentsFailed",
    "cancelled": "DeploymentsCancelled",
}


# Whose failure a failed deployment is, the `cause` dimension of DeploymentsFailed. "build": the user's build
# (its command exited non-zero, it passed its time limit or output limits, its commit could not be checked out,
# its project was deleted); nobody but the user can act on it. "platform": deployd's or AWS's (no heartbeat, a
# crashed runner, a CodeBuild FAULT, a pipeline that could not start or step that failed); the operator's.
FailureCause = Literal["build", "platform"]
FAILURE_CAUSES: tuple[FailureCause, ...] = ("build", "platform")


def _emit(name: str, unit: str, value: float, **dimensions: str) -> None:
    # single_metric writes its line at once: no shared buffer to flush, safe from the embedded stack's threads.
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    try:
        with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=METRICS_NAMESPACE) as metric:
            metric.add_dimension(name="service", value="deployd")
            for dimension, dimension_value in dimensions.items():
                metric.add_dimension(name=dimension, value=dimension_value)
    except Exception:  # a metric is never worth failing the request or the build it describes
        logger.exception("could not emit metric", extra={"metric": name})


def deployment_event(event: str, cause: FailureCause | None = None) -> None:
    """Count a deployment that started, succeeded, failed or was cancelled; a failure with its cause."""
    if event == "failed":
        if cause not in FAILURE_CAUSES:
            raise ValueError(f"a failed deployment needs its cause, one of {FAILURE_CAUSES}")
        _emit(DEPLOYMENT_EVENTS[event], "Count", 1, cause=str(cause))
    else:
        _emit(DEPLOYMENT_EVENTS[event], "Count", 1)


def build_duration(seconds: float) -> None:
    """Wall time of a build, from the start of its checkout to its outcome."""
    _emit("BuildDuration", "Seconds", seconds)


def queue_wait(seconds: float) -> None:
    """Time a deployment spent queued: from its creation to a build worker claiming it."""
    _emit("QueueWait", "Seconds", seconds)
