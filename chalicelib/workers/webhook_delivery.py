"""The webhook delivery queue's messages: {"webhook_id", "delivery_id", "not_before"?}, one attempt each.

A message due later than SQS can delay it goes back to the queue until it is due (adapters.webhook_queue).
"""

from __future__ import annotations

import time
from typing import Any

from chalicelib.adapters import webhook_queue
from chalicelib.services import webhook_delivery


def handle_webhook_message(message: dict[str, Any]) -> None:
    webhook_id, delivery_id = int(message["webhook_id"]), str(message["delivery_id"])
    not_before = message.get("not_before")
    if not_before is not None:
        remaining = float(not_before) - time.time()
        if remaining > 0:
            webhook_queue.enqueue(webhook_id, delivery_id, remaining)
            return
    webhook_delivery.deliver(webhook_id, delivery_id)
