"""The preview scheduler, every few minutes (chalicelib.workers.scheduler)."""

from __future__ import annotations

from chalice import Rate
from chalice.app import CloudWatchEvent

from chalicelib.functions import Entry
from chalicelib.infra.resources import PREVIEW_SCHEDULE
from chalicelib.workers import scheduler

blueprint = Entry(__name__)


@blueprint.schedule(Rate(PREVIEW_SCHEDULE.every_minutes, unit=Rate.MINUTES))
def preview_scheduler(event: CloudWatchEvent) -> dict:
    return scheduler.handle_event(event.to_dict())
