"""Deployment statuses (GitHub's model): an append-only history per deployment.

deployd appends them itself for deployments it builds (queued, in_progress, success, failure, error);
external deployers append them through the GitHub dialect.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib.infra.resources import DEPLOYMENT_STATUSES
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.registry import next_id

STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


class DeploymentStatus(Model):
    Meta = table_meta(DEPLOYMENT_STATUSES.logical)

    deployment_id = IntegerAttribute(hash_key=True)
    id = IntegerAttribute(range_key=True)
    state = UnicodeAttribute()
    description = UnicodeAttribute(default="")
    environment = UnicodeAttribute()
    target_url = UnicodeAttribute(default="")
    log_url = UnicodeAttribute(default="")
    environment_url = UnicodeAttribute(default="")
    creator = UnicodeAttribute(null=True)
    created_at = TimestampAttribute(default_for_new=utc_now)
    updated_at = TimestampAttribute(default_for_new=utc_now)


class DeploymentStatusRepository:
    @staticmethod
    def append(deployment_id: int, **fields: Any) -> DeploymentStatus:
        status = DeploymentStatus(deployment_id=deployment_id, id=next_id("deployment-status"), **fields)
        status.save(condition=DeploymentStatus.id.does_not_exist())
        return status

    @staticmethod
    def latest(deployment_id: int) -> DeploymentStatus | None:
        for status in DeploymentStatus.query(deployment_id, scan_index_forward=False, limit=1, consistent_read=True):
            return status
        return None

    @staticmethod
    def history(deployment_id: int) -> list[DeploymentStatus]:
        """Newest first."""
        return list(DeploymentStatus.query(deployment_id, scan_index_forward=False, consistent_read=True))

    @staticmethod
    def find(deployment_id: int, status_id: int) -> DeploymentStatus | None:
        try:
            return DeploymentStatus.get(deployment_id, status_id, consistent_read=True)
        except DoesNotExist:
            return None
