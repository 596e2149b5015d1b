"""Observability: the Powertools Logger every module logs through, X-Ray tracing and EMF metrics.

Logs are structured JSON, one object per line. Lines of an API request carry its correlation_id; lines
about a deployment carry deployment_id and project_id (`deployment_context`); lines of any Lambda
invocation carry the function, its request id and cold_start (`invocation`). These keys are kept per
thread (context variables), never process-wide, because the embedded stack runs several requests and
workers in one process: Powertools' `set_correlation_id` and `inject_lambda_context` append their keys
for the whole process, so they are not used.

The Logger is made with its first use, not at import: importing Powertools loads its metrics, tracer and log
buffers too (about 8 ms, docs/cold-start.md), which a function's cold start pays with its first log line or
logging scope (its first request's) instead of before it can answer anything.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Tracer

SERVICE = "deployd"


@functools.cache
def _powertools_logger() -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE)


class _FirstUse:
    """Stands for the Powertools Logger, made (once) when an attribute of it is first asked for."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(_powertools_logger(), name)


logger = cast("Logger", _FirstUse())


@contextlib.contextmanager
def _log_keys(**keys: Any) -> Iterator[None]:
    """Log lines inside carry `keys`; on the way out the keys are exactly what they were before.

    The previous keys are put back as a new mapping rather than by removing ours in place: threads that
    copied this context (a build's heartbeat and log threads) share the mapping and keep their keys.
    """
    previous = dict(logger.thread_safe_get_current_keys())
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_clear_keys()
        if previous:
            logger.thread_safe_append_keys(**previous)


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
