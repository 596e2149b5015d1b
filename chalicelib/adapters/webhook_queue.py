"""The webhook delivery queue: one message per delivery attempt due, {"webhook_id", "delivery_id"}.

The fan-out enqueues a new message's first attempt; the delivery worker enqueues each retry with its delay.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from chalicelib import aws
from chalicelib.infra.resources import WEBHOOK_QUEUE
from chalicelib.settings import get_settings

# SQS delays a message at most 15 minutes; a longer wait is the worker's to stretch (it re-enqueues).
MAX_DELAY_SECONDS = 900


@functools.cache
def _url(sqs: Any, name: str) -> str:
    """The queue's URL, looked up once per client (a new stack or test account makes a new client)."""
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def enqueue(webhook_id: int, delivery_id: str, delay_seconds: int = 0) -> None:
    """Ask for an attempt to deliver the message `delivery_id` to webhook `webhook_id`, `delay_seconds` from now
    (clamped to 0..900, SQS's limit)."""
    sqs = aws.client("sqs")
    sqs.send_message(
        QueueUrl=_url(sqs, get_settings().resource_name(WEBHOOK_QUEUE.logical)),
        MessageBody=json.dumps({"webhook_id": webhook_id, "delivery_id": delivery_id}),
        DelaySeconds=max(0, min(int(delay_seconds), MAX_DELAY_SECONDS)),
    )
