"""The Slack command queue's messages: the slow half of a slash command or a button (services.slack_commands)."""

from __future__ import annotations

from typing import Any

from chalicelib.services import slack_commands


def handle_slack_command(message: dict[str, Any]) -> None:
    slack_commands.run(message)
