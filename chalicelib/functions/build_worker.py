"""The build worker: one deployment's build a batch, from the build queue (chalicelib.workers.build_worker)."""

from __future__ import annotations

from chalice.app import SQSEvent

from chalicelib.functions import Entry
from chalicelib.infra.resources import BUILD_QUEUE
from chalicelib.settings import get_settings
from chalicelib.workers.build_worker import handle_build
from chalicelib.workers.consumers import consume

blueprint = Entry(__name__)


@blueprint.on_sqs_message(queue=get_settings().resource_name(BUILD_QUEUE.logical), batch_size=1)
def build_worker(event: SQSEvent) -> dict:
    return consume(event.to_dict(), event.context, handle_build)
