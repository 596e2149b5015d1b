"""The webhook delivery queue: one SQS message per attempt due, {"webhook_id", "delivery_id"}.

SQS delays a message by 15 minutes at most, so a longer wait rides along as "not_before" (epoch seconds) and
the worker puts the message back, again delayed by at most 15 minutes, until it is due.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence

from chalicelib.aws import client, queue_url
from chalicelib.infra.resources import WEBHOOK_QUEUE

MAX_DELAY_SECONDS = 900
SEND_BATCH = 10  # SQS's most entries in one SendMessageBatch


def enqueue(webhook_id: int, delivery_id: str, delay_seconds: float = 0) -> None:
    """Ask for an attempt to deliver the message `delay_seconds` from now."""
    message: dict[str, object] = {"webhook_id": webhook_id, "delivery_id": delivery_id}
    delay = max(0, math.ceil(delay_seconds))
    if delay > MAX_DELAY_SECONDS:
        message["not_before"] = time.time() + delay_seconds
    client("sqs").send_message(
        QueueUrl=queue_url(WEBHOOK_QUEUE.logical),
        MessageBody=json.dumps(message),
        DelaySeconds=min(delay, MAX_DELAY_SECONDS),
    )


def enqueue_now(messages: Sequence[tuple[int, str]]) -> None:
    """Ask for a first attempt at each (webhook id, message id) now, ten to a request. Raises if SQS took any
    of them not: the caller's batch is retried, and a message enqueued twice is attempted once (the attempt
    is recorded conditionally) or delivered twice, which at-least-once allows."""
    sqs, url = client("sqs"), queue_url(WEBHOOK_QUEUE.logical)
    for start in range(0, len(messages), SEND_BATCH):
        chunk = messages[start : start + SEND_BATCH]
        entries = [
            {"Id": str(index), "MessageBody": json.dumps({"webhook_id": webhook_id, "delivery_id": delivery_id})}
            for index, (webhook_id, delivery_id) in enumerate(chunk)
        ]
        failed = sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed") or []
        if failed:
            raise RuntimeError(f"SQS refused {len(failed)} of {len(chunk)} webhook messages: {failed[0]}")
