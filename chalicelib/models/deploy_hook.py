"""Deploy hooks: a secret URL that triggers a deployment of one branch of a project.

The item is keyed by the SHA-256 of the URL's secret, never the secret: a call finds its hook with one consistent
read of that digest, and a deleted hook's item is gone, so its URL stops working with the next call. The hook also
holds its current job (the last deployment it asked for), which repeated calls collapse into.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.errors import NotFound
from chalicelib.infra.resources import DEPLOY_HOOKS
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import try_delete, try_save, try_update, unchanged
from chalicelib.models.registry import next_id


class DeployHooksByProject(GlobalSecondaryIndex["DeployHook"]):
    class Meta:
        index_name = DEPLOY_HOOKS.indexes[0].name
        projection = AllProjection()

    project_id = IntegerAttribute(hash_key=True)
    id = IntegerAttribute(range_key=True)


class DeployHook(Model):
    Meta = table_meta(DEPLOY_HOOKS.logical)

    digest = UnicodeAttribute(hash_key=True)  # SHA-256 (hex) of the URL's secret
    id = IntegerAttribute()
    org_slug = UnicodeAttribute()
    project_id = IntegerAttribute()
    name = UnicodeAttribute()
    branch = UnicodeAttribute()
    created_at = TimestampAttribute(default_for_new=utc_now)
    # The current job: claimed by the call that starts it (job_id, job_created_at), then the deployment it made.
    # A job whose deployment is missing is being created by another call right now.
    job_id = UnicodeAttribute(null=True)
    job_created_at = TimestampAttribute(null=True)
    job_deployment_id = IntegerAttribute(null=True)

    by_project = DeployHooksByProject()


class DeployHookRepository:
    @staticmethod
    def find(digest: str) -> DeployHook | None:
        try:
            return DeployHook.get(digest, consistent_read=True)
        except DoesNotExist:
            return None

    @staticmethod
    def of_project(project_id: int) -> list[DeployHook]:
        """The project's hooks, oldest first."""
        return list(DeployHook.by_project.query(project_id))

    @staticmethod
    def create(hook: DeployHook) -> DeployHook:
        hook.id = next_id("deploy_hook")
        if not try_save(hook, DeployHook.digest.does_not_exist()):
            raise RuntimeError("a deploy hook secret was drawn twice")
        return hook

    @staticmethod
    def delete(hook: DeployHook) -> None:
        if not try_delete(DeployHook(digest=hook.digest), DeployHook.id == hook.id):
            raise NotFound(f"deploy hook {hook.id} not found")

    @staticmethod
    def claim_job(hook: DeployHook, job_id: str, now: datetime) -> bool:
        """Make `job_id` the hook's current job, if its job is still the one `hook` was read with (and the hook
        still exists). False when another call claimed first."""
        condition = DeployHook.id.exists() & unchanged(DeployHook.job_id, hook.job_id)
        actions = [
            DeployHook.job_id.set(job_id),
            DeployHook.job_created_at.set(now),
            DeployHook.job_deployment_id.remove(),
        ]
        return try_update(DeployHook(digest=hook.digest), actions, condition)

    @staticmethod
    def record_job_deployment(digest: str, job_id: str, deployment_id: int) -> bool:
        """The job's deployment exists: later calls collapse into it until it starts building."""
        condition = DeployHook.job_id == job_id
        return try_update(DeployHook(digest=digest), [DeployHook.job_deployment_id.set(deployment_id)], condition)

    @staticmethod
    def abandon_job(digest: str, job_id: str) -> None:
        """The job made no deployment: the next call starts a new one instead of waiting for it."""
        actions = [
            DeployHook.job_id.remove(),
            DeployHook.job_created_at.remove(),
            DeployHook.job_deployment_id.remove(),
        ]
        try_update(DeployHook(digest=digest), actions, DeployHook.job_id == job_id)
