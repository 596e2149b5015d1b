"""The webhook delivery queue: one SQS message per attempt due, {"webhook_id", "delivery_id"}.

SQS delays a message by 15 minutes at most, so a longer wait rides along as "not_before" (epoch seconds) and
the worker puts the message back, again delayed by at most 15 minutes, until it is due.
"""

from __future__ import annotations

import json
import math
import time

from chalicelib.aws import client, queue_url
from chalicelib.infra.resources import WEBHOOK_QUEUE

MAX_DELAY_SECONDS = 900


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
