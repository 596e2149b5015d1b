"""The Slack notifications queue: one SQS message per live message to post or edit in one channel,
{"org_slug", "deployment_id", "team_id", "channel_id", "sequence", "attempt"}.

A retry waits at most SQS's 15 minutes (Slack's Retry-After is seconds to a minute in practice)."""

from __future__ import annotations

import json
import math
from typing import NamedTuple

from chalicelib.aws import client, queue_url
from chalicelib.infra.resources import SLACK_NOTIFY_QUEUE

MAX_DELAY_SECONDS = 900


class Notification(NamedTuple):
    org_slug: str
    deployment_id: int
    team_id: str
    channel_id: str
    sequence: int  # the event that asked for it: the channel must show this sequence or a newer one
    attempt: int = 0  # Slack calls that already failed for it

    @staticmethod
    def from_message(body: dict[str, object]) -> Notification:
        return Notification(
            org_slug=str(body["org_slug"]),
            deployment_id=int(str(body["deployment_id"])),
            team_id=str(body["team_id"]),
            channel_id=str(body["channel_id"]),
            sequence=int(str(body["sequence"])),
            attempt=int(str(body.get("attempt") or 0)),
        )


def enqueue(notification: Notification, delay_seconds: float = 0) -> None:
    client("sqs").send_message(
        QueueUrl=queue_url(SLACK_NOTIFY_QUEUE.logical),
        MessageBody=json.dumps(notification._asdict()),
        DelaySeconds=min(max(0, math.ceil(delay_seconds)), MAX_DELAY_SECONDS),
    )
