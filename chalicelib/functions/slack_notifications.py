"""Live Slack messages of deployments, from the Slack notification queue (chalicelib.workers.slack_notifications)."""

from __future__ import annotations

from chalice.app import SQSEvent

from chalicelib.functions import Entry
from chalicelib.infra.resources import SLACK_NOTIFY_QUEUE
from chalicelib.settings import get_settings
from chalicelib.workers.consumers import consume
from chalicelib.workers.slack_notifications import handle_slack_notification

blueprint = Entry(__name__)


# One live Slack message a batch: a rate-limited workspace holds up its own message only.
@blueprint.on_sqs_message(queue=get_settings().resource_name(SLACK_NOTIFY_QUEUE.logical), batch_size=1)
def slack_notifications(event: SQSEvent) -> dict:
    return consume(event.to_dict(), event.context, handle_slack_notification)
