"""Shared pieces of the PynamoDB models: table naming from the resource catalogue, transactions."""

from __future__ import annotations

import functools
import time
from typing import Any

import pynamodb.connection.base
from pynamodb.connection import Connection
from pynamodb.models import Model
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


def read_together(*keys: tuple[type[Model], Any, Any]) -> list[Any]:
    """The items of (model, hash key, range key or None), strongly consistent, in one BatchGetItem across their
    tables; each a model instance, or None where there is no such item. For items a step needs all of at once."""
    wanted = [
        model.get_operation_kwargs_from_class(hash_key, range_key=range_key) for model, hash_key, range_key in keys
    ]
    request: dict[str, dict[str, Any]] = {}
    for kwargs in wanted:
        table = request.setdefault(kwargs["TableName"], {"Keys": [], "ConsistentRead": True})
        if kwargs["Key"] not in table["Keys"]:
            table["Keys"].append(kwargs["Key"])
    found = batch_get(request)
    items: list[Any] = []
    for (model, _, _), kwargs in zip(keys, wanted, strict=True):
        key = kwargs["Key"]
        raw = next((item for item in found[kwargs["TableName"]] if all(item.get(k) == v for k, v in key.items())), None)
        items.append(model.from_raw_data(raw) if raw is not None else None)
    return items


# PynamoDB sends a transaction's writes grouped by kind, in this order, whatever order they were added in.
_WIRE_ORDER = {"condition_check": 0, "delete": 1, "save": 2, "update": 3}


class OrderedTransactWrite(TransactWrite):
    """A TransactWrite that remembers the order its writes were added in, so that DynamoDB's cancellation
    reasons (one per write, in the order sent) can be told by the position the caller gave each write."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kinds: list[str] = []

    def condition_check(self, *args: Any, **kwargs: Any) -> None:
        self.kinds.append("condition_check")
        super().condition_check(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> None:
        self.kinds.append("delete")
        super().delete(*args, **kwargs)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.kinds.append("save")
        super().save(*args, **kwargs)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.kinds.append("update")
        super().update(*args, **kwargs)

    def added_position(self, sent_position: int) -> int:
        """The position (in the order added) of the write sent at `sent_position`."""
        sent = sorted(range(len(self.kinds)), key=lambda added: _WIRE_ORDER[self.kinds[added]])
        return sent[sent_position] if sent_position < len(sent) else sent_position


def transaction() -> OrderedTransactWrite:
    """A DynamoDB write transaction: all of its conditional writes happen, or none."""
    return OrderedTransactWrite(connection=_connection())
