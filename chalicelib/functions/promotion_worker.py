"""The promotion worker: the steps of each promotion (chalicelib.workers.promotion_worker)."""

from __future__ import annotations

from chalice.app import SQSEvent

from chalicelib.functions import Entry
from chalicelib.infra.resources import PROMOTION_QUEUE
from chalicelib.settings import get_settings
from chalicelib.workers.consumers import consume
from chalicelib.workers.promotion_worker import handle_promotion_step

blueprint = Entry(__name__)


# One step per invocation: a step that waits on a health check holds up no other environment's promotion.
@blueprint.on_sqs_message(queue=get_settings().resource_name(PROMOTION_QUEUE.logical), batch_size=1)
def promotion_worker(event: SQSEvent) -> dict:
    return consume(event.to_dict(), event.context, handle_promotion_step)
