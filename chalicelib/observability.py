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
