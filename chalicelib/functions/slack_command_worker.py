"""Slack commands and buttons the API acknowledged, answered (chalicelib.workers.slack_commands)."""

from __future__ import annotations

from chalice.app import SQSEvent

from chalicelib.functions import Entry
from chalicelib.infra.resources import SLACK_COMMAND_QUEUE
from chalicelib.settings import get_settings
from chalicelib.workers.consumers import consume
from chalicelib.workers.slack_commands import handle_slack_command

blueprint = Entry(__name__)


# One Slack command or button a batch: each answers its own response_url, none waits behind another.
@blueprint.on_sqs_message(queue=get_settings().resource_name(SLACK_COMMAND_QUEUE.logical), batch_size=1)
def slack_command_worker(event: SQSEvent) -> dict:
    return consume(event.to_dict(), event.context, handle_slack_command)
