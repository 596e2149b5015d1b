"""The Powertools Logger every module logs through: structured JSON, one object per line.

Lines about a deployment carry deployment_id and project_id (see `deployment_context`). The keys are
kept per thread (context variables), because the embedded stack runs several workers in one process.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from aws_lambda_powertools import Logger

logger = Logger(service="deployd")


@contextlib.contextmanager
def deployment_context(deployment_id: int, project_id: int) -> Iterator[None]:
    logger.thread_safe_append_keys(deployment_id=deployment_id, project_id=project_id)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(["deployment_id", "project_id"])
