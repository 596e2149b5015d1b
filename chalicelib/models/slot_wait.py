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
    def oldest(org_slug: str) -> SlotWait | None:
        for wait in SlotWait.query(org_slug, limit=1, consistent_read=True):
            return wait
        return None
