"""Shared pieces of the PynamoDB models: table naming from the resource catalogue, time stamps, transactions."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
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


_RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def cancellation_codes(exc: TransactWriteError) -> set[str]:
    return {reason.code for reason in (exc.cancellation_reasons or []) if reason is not None and reason.code}


def condition_failed(exc: TransactWriteError) -> bool:
    """True when a transaction was refused because one of its conditions did not hold."""
    return "ConditionalCheckFailed" in cancellation_codes(exc)


def transact(write: Callable[[TransactWrite], None], attempts: int = 5) -> None:
    """Run one write transaction built by `write`.

    DynamoDB cancels a transaction that touches an item another transaction is writing at that moment
    (TransactionConflict); that says nothing about our conditions, so it is retried with jittered backoff.
    A failed condition is never retried: the caller decides what it means.
    """
    for attempt in range(attempts):
        try:
            with transaction() as tx:
                write(tx)
            return
        except TransactWriteError as exc:
            codes = cancellation_codes(exc)
            if attempt == attempts - 1 or "ConditionalCheckFailed" in codes or not codes & _RETRYABLE:
                raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
