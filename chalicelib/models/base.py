"""Shared pieces of the PynamoDB models: table naming from the resource catalogue, transactions."""

from __future__ import annotations

import functools
import time
from typing import Any

import pynamodb.connection.base
from pynamodb.connection import Connection
from pynamodb.transactions import TransactWrite

from chalicelib.aws import botocore_session
from chalicelib.settings import get_settings

# PynamoDB makes a botocore session per connection and thread (pynamodb.connection.base.Connection.session);
# made here, they share one reader of botocore's service models and endpoint rules instead of each parsing
# them again. Nothing is created until a connection is first used.
pynamodb.connection.base.get_session = botocore_session  # type: ignore[attr-defined]


def table_meta(logical: str) -> Any:
    """A Meta class for a model stored in the catalogue's table `logical`."""
    settings = get_settings()

    class Meta:
        table_name = settings.resource_name(logical)
        region = settings.region

    return Meta


@functools.cache
def _connection() -> Connection:
    return Connection(region=get_settings().region)


def batch_get(request_items: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """One BatchGetItem across tables (at most 100 keys in all), in DynamoDB's own request form; each table's
    items as raw attribute maps (Model.from_raw_data reads them). Keys DynamoDB leaves unprocessed are asked
    again, after a short backoff."""
    found: dict[str, list[dict[str, Any]]] = {table: [] for table in request_items}
    asking, attempt = request_items, 0
    while asking:
        if attempt:
            time.sleep(min(1.0, 0.05 * 2**attempt))
        answer = _connection().client.batch_get_item(RequestItems=asking)
        for table, items in answer.get("Responses", {}).items():
            found[table].extend(items)
        asking, attempt = answer.get("UnprocessedKeys") or {}, attempt + 1
    return found


def transaction() -> TransactWrite:
    """A DynamoDB write transaction: all of its conditional writes happen, or none."""
    return TransactWrite(connection=_connection())
