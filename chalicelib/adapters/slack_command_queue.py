"""The Slack command queue: the slow half of a slash command or a button, one SQS message each, handed to the
command worker after the API acknowledged the request within Slack's 3 seconds."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.aws import client, queue_url
from chalicelib.infra.resources import SLACK_COMMAND_QUEUE


def enqueue(message: dict[str, Any]) -> None:
    client("sqs").send_message(QueueUrl=queue_url(SLACK_COMMAND_QUEUE.logical), MessageBody=json.dumps(message))
