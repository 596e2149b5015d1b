"""The activation worker: built deployments made live (chalicelib.workers.activation_worker)."""

from __future__ import annotations

from chalice.app import SQSEvent

from chalicelib.functions import Entry
from chalicelib.infra.resources import ACTIVATION_QUEUE
from chalicelib.settings import get_settings
from chalicelib.workers.activation_worker import handle_activation
from chalicelib.workers.consumers import consume

blueprint = Entry(__name__)


@blueprint.on_sqs_message(queue=get_settings().resource_name(ACTIVATION_QUEUE.logical), batch_size=10)
def activation_worker(event: SQSEvent) -> dict:
    return consume(event.to_dict(), event.context, handle_activation)
