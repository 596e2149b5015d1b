"""The webhook delivery queue's messages: {"webhook_id", "delivery_id", "not_before"?}, one attempt each.

A batch's messages and their webhooks are read together, then every message is attempted at once, each in its own
thread: a slow or dead receiver holds up only its own message's attempt. Attempts that end at about the same time
are recorded in one write (services.webhook_delivery.AttemptLog). A message due later than SQS can delay
it goes back to the queue until it is due (adapters.webhook_queue). A message twice in one batch (SQS delivers at
least once) is attempted once.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from chalicelib.adapters import webhook_queue
from chalicelib.services import webhook_delivery

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord


def _key(message: dict[str, Any]) -> tuple[int, str]:
    return int(message["webhook_id"]), str(message["delivery_id"])


def _requeued(message: dict[str, Any]) -> bool:
    """Put a message that is not due yet back on the queue; whether it was."""
    not_before = message.get("not_before")
    if not_before is None:
        return False
    remaining = float(not_before) - time.time()
    if remaining <= 0:
        return False
    webhook_queue.enqueue(*_key(message), remaining)
    return True


def consume(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    import asyncio  # here, not at the top: every function's cold start imports this module, only this one runs it

    from aws_lambda_powertools.utilities.batch import (
        AsyncBatchProcessor,
        EventType,
        async_process_partial_response,
    )

    records = event.get("Records", [])
    # Each message's first record in the batch is the one attempted.
    first: dict[tuple[int, str], str] = {}
    for record in records:
        first.setdefault(_key(json.loads(record["body"])), record["messageId"])
    found = webhook_delivery.read_messages(first)
    log = webhook_delivery.AttemptLog()  # the batch's attempts written together as they end

    def handle(record: SQSRecord) -> None:
        message = json.loads(record.body)
        key = _key(message)
        if _requeued(message) or first[key] != record.message_id or key not in found:
            return
        webhook_delivery.attempt(*found[key], record=log.record)

    async def record_handler(record: SQSRecord) -> None:
        await asyncio.to_thread(handle, record)

    processor = AsyncBatchProcessor(event_type=EventType.SQS)
    response = async_process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
