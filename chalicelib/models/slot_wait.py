"""Deployments waiting for a build slot of their organization, in the order they asked."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.infra.resources import SLOT_WAITS
from chalicelib.models.attributes import IntegerAttribute
from chalicelib.models.base import table_meta


class SlotWait(Model):
    Meta = table_meta(SLOT_WAITS.logical)

    org_slug = UnicodeAttribute(hash_key=True)
    position = UnicodeAttribute(range_key=True)  # "<enqueued epoch ms, 15 digits>#<deployment id, 15 digits>"
    deployment_id = IntegerAttribute()
    project_id = IntegerAttribute()
    task_token = UnicodeAttribute()


class SlotWaitRepository:
    @staticmethod
    def oldest(org_slug: str, count: int) -> list[SlotWait]:
        """The first `count` in the organization's line, oldest first (one page: `count` is a plan's slots)."""
        return list(SlotWait.query(org_slug, limit=count, consistent_read=True))
