"""Webhook deliveries, from the webhook queue (chalicelib.workers.webhook_delivery)."""

from __future__ import annotations

from chalice.app import SQSEvent

from chalicelib.functions import Entry
from chalicelib.infra.resources import WEBHOOK_QUEUE
from chalicelib.settings import get_settings
from chalicelib.workers import webhook_delivery as deliveries

blueprint = Entry(__name__)


# Up to ten messages a batch, read together and attempted at once: a slow receiver holds up its own message only.
@blueprint.on_sqs_message(queue=get_settings().resource_name(WEBHOOK_QUEUE.logical), batch_size=10)
def webhook_delivery(event: SQSEvent) -> dict:
    return deliveries.consume(event.to_dict(), event.context)
