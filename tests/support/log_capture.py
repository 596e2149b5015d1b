"""The log lines the Powertools Logger writes, captured as dicts through its own JSON formatter."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.observability import logger


class JsonLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logger.registered_formatter)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def about(self, deployment_id: int) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("deployment_id") == deployment_id]

    def of_request(self, correlation_id: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("correlation_id") == correlation_id]

    def saying(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["message"] == message]


@pytest.fixture
def log_lines() -> Iterator[JsonLines]:
    handler = JsonLines()
    target = logging.getLogger(logger.service)  # the standard logger the Powertools Logger writes through
    target.addHandler(handler)
    yield handler
    target.removeHandler(handler)
