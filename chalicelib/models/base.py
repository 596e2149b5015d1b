"""Shared pieces of the PynamoDB models: table naming from the resource catalogue, time stamps, transactions."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.settings import get_settings


def table_meta(logical: str) -> Any:
    """A Meta class for a model stored in the catalogue's table `logical`."""
    settings = get_settings()

    class Meta:
        table_name = settings.resource_name(logical)
        region = settings.region

    return Meta


def utc_now() -> str:
    """ISO-8601 UTC timestamp; the state machine writes the same shape ($$.State.EnteredTime)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def iso(value: str | None) -> str | None:
    """Render any stored timestamp (ours or Step Functions') as ISO-8601 with an explicit +00:00 offset."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).isoformat()


@functools.cache
def _connection() -> Connection:
    return Connection(region=get_settings().region)


def transaction() -> TransactWrite:
    """A DynamoDB write transaction: all of its conditional writes happen, or none."""
    return TransactWrite(connection=_connection())
