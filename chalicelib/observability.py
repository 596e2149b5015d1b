"""The Powertools Logger every module logs through: structured JSON, one object per line.

Lines about a deployment carry deployment_id and project_id (see `deployment_context`). The keys are
kept per thread (context variables), because the embedded stack runs several workers in one process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from aws_lambda_powertools import Logger

logger = Logger(service="deployd")


_KEYS = ("deployment_id", "project_id")


@contextlib.contextmanager
def deployment_context(deployment_id: int, project_id: int) -> Iterator[None]:
    """Log lines inside carry these ids; an enclosing context's ids come back on the way out."""
    previous = {k: v for k, v in logger.thread_safe_get_current_keys().items() if k in _KEYS}
    logger.thread_safe_append_keys(deployment_id=deployment_id, project_id=project_id)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(list(_KEYS))
        if previous:
            logger.thread_safe_append_keys(**previous)


# ---- metrics: CloudWatch embedded metric format (EMF), one JSON line per data point ----

METRICS_NAMESPACE = "deployd"
DEPLOYMENT_EVENTS = {
    "started": "DeploymentsStarted",
    "succeeded": "DeploymentsSucceeded",
    "failed": "DeploymentsFailed",
    "cancelled": "DeploymentsCancelled",
}


def _emit(name: str, unit: str, value: float) -> None:
    # single_metric writes its line at once: no shared buffer to flush, safe from the embedded stack's threads.
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    try:
        with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=METRICS_NAMESPACE) as metric:
            metric.add_dimension(name="service", value="deployd")
    except Exception:  # a metric is never worth failing the request or the build it describes
        logger.exception("could not emit metric", extra={"metric": name})


def deployment_event(event: str) -> None:
    """Count a deployment that started, succeeded, failed or was cancelled."""
    _emit(DEPLOYMENT_EVENTS[event], "Count", 1)


def build_duration(seconds: float) -> None:
    """Wall time of a build, from the start of its checkout to its outcome."""
    _emit("BuildDuration", "Seconds", seconds)


def queue_wait(seconds: float) -> None:
    """Time a deployment spent queued: from its creation to a build worker claiming it."""
    _emit("QueueWait", "Seconds", seconds)
