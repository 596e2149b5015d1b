"""The Slack notifications queue's messages: one live message to bring up to date in one channel
(adapters.slack_queue.Notification). A retry Slack asked for comes back as a new, delayed message."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.slack_queue import Notification
from chalicelib.services import slack_live


def handle_slack_notification(message: dict[str, Any]) -> None:
    slack_live.deliver(Notification.from_message(message))
