"""Make moto's DynamoDB as atomic per request as DynamoDB itself, for the embedded stack.

moto's server handles requests on many threads without a lock: a conditional write checks and applies
in two steps, and a failed TransactWriteItems restores whole tables from a snapshot taken before it
started, silently undoing writes that other requests made meanwhile. DynamoDB applies each request
atomically; one lock around each item operation gives the emulator the same guarantee, so the races
deployd is designed for resolve the way they would on AWS.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_ITEM_OPERATIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
)
_lock = threading.RLock()
_applied = False


def _serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    return wrapper


def serialize_dynamodb() -> None:
    """Idempotent: wraps moto's DynamoDB backend item operations in one lock, once per process."""
    global _applied
    with _lock:
        if _applied:
            return
        from moto.dynamodb.models import DynamoDBBackend

        for name in _ITEM_OPERATIONS:
            setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name)))
        _applied = True
