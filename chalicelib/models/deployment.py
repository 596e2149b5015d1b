"""Deployments: the one ledger every dialect reads and writes.

Status moves queued -> cloning -> building -> uploading -> deploying -> deployed, or ends failed or
cancelled. Every move is a conditional write naming the state it leaves (see `transition`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.errors import NotFound
from chalicelib.infra.resources import DEPLOYMENTS
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import try_update
from chalicelib.vocabulary import NON_TERMINAL, Status


class DeploymentsByProject(GlobalSecondaryIndex["Deployment"]):
    class Meta:
        index_name = DEPLOYMENTS.indexes[0].name
        projection = AllProjection()

    project_id = IntegerAttribute(hash_key=True)
    seq = IntegerAttribute(range_key=True)


class Deployment(Model):
    Meta = table_meta(DEPLOYMENTS.logical)

    id = IntegerAttribute(hash_key=True)
    project_id = IntegerAttribute()
    seq = IntegerAttribute()
    org_slug = UnicodeAttribute()
    # Its organization's plan, when the request that recorded it knew it (services.caller_plan): a plan never changes,
    # so handing out the organization's build slots on its behalf needs no read of the organization.
    org_plan = UnicodeAttribute(null=True)
    environment = UnicodeAttribute()
    # The ref asked for (branch, tag or commit SHA); `ref_type` says which.
    branch = UnicodeAttribute()
    ref_type = UnicodeAttribute(default="branch")
    commit_sha = UnicodeAttribute()
    commit_message = UnicodeAttribute(null=True)
    commit_author = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    error_message = UnicodeAttribute(null=True)
    deployment_url = UnicodeAttribute(null=True)
    artifact_prefix = UnicodeAttribute(null=True)
    build_time_seconds = IntegerAttribute(null=True)
    execution_arn = UnicodeAttribute(null=True)
    # Who asked for it, in the terms of the API that created it (an API key id, a GitHub login): GitHub's
    # `creator`. Stored under the name `triggered_by`, which it had before the field below existed.
    creator = UnicodeAttribute(null=True, attr_name="triggered_by")
    # Through what it was triggered: api, slack:<team>/<user>, schedule, github, gitlab, mintlify or
    # deploy_hook:<name>. None on deployments recorded before deployd kept it (docs/slack.md, "Who triggered a
    # deployment").
    triggered_by = UnicodeAttribute(null=True, attr_name="trigger")
    # Which API created it (native, github, gitlab) and whether deployd builds it (`managed`) or an
    # external deployer reports its progress (a project without a build command).
    source = UnicodeAttribute(default="native")
    managed = BooleanAttribute(default=True)
    # GitHub's deployment fields; payload is stored as JSON text, payload_is_text when given as a string.
    task = UnicodeAttribute(default="deploy")
    payload = UnicodeAttribute(default="{}")
    payload_is_text = BooleanAttribute(default=False)
    description = UnicodeAttribute(null=True)
    original_environment = UnicodeAttribute(null=True)
    transient_environment = BooleanAttribute(default=False)
    production_environment = BooleanAttribute(default=True)
    environment_url = UnicodeAttribute(null=True)
    # Highest pipeline state already published as a deployment status (0 queued, 1 in progress, 2 ended).
    reported_rank = IntegerAttribute(null=True)
    # The first of the three status ids taken at its creation for its pipeline's queued, in_progress and success
    # statuses (services.statuses.pipeline_report), so the claim and the activation take none; absent on older ones.
    status_ids_from = IntegerAttribute(null=True)
    inactive = BooleanAttribute(default=False)
    slot_held = BooleanAttribute(null=True)  # holds one of its organization's build slots
    # The state machine's Build task token, stored when a worker claims the deployment: a build that runs
    # elsewhere (CodeBuild) is answered by whoever handles its completion event. Never shown by the API.
    task_token = UnicodeAttribute(null=True)
    # The CodeBuild build ("<project>:<uuid>") of a deployment built on AWS; set once, by a conditional write.
    build_id = UnicodeAttribute(null=True)
    # Names the one staging prefix a CodeBuild build may upload to and the build-events handler promotes
    # from (adapters.build_output); drawn by the worker's claim, a conditional write. Never shown by the API.
    staging_nonce = UnicodeAttribute(null=True)
    destroyed = BooleanAttribute(default=False)
    created_at = TimestampAttribute(default_for_new=utc_now)
    updated_at = TimestampAttribute(default_for_new=utc_now)
    started_at = TimestampAttribute(null=True)
    deployed_at = TimestampAttribute(null=True)
    finished_at = TimestampAttribute(null=True)
    # The sequence of its last event (webhooks): 1 when created; every write that changes `status` adds 1, and a
    # promotion (an environment starts serving it) adds 1 more, in the same write. None on items older than it.
    event_seq = IntegerAttribute(null=True)
    # When and where an environment last started serving it (a deploy that went live there, or a rollback).
    promoted_at = TimestampAttribute(null=True)
    promoted_environment = UnicodeAttribute(null=True)

    by_project = DeploymentsByProject()

    @property
    def is_terminal(self) -> bool:
        return self.status not in NON_TERMINAL

    @property
    def supersedable(self) -> bool:
        """Whether a newer successful deployment of its environment makes it inactive (GitHub's auto_inactive: not
        a transient environment's, nor a production one's)."""
        return not (self.transient_environment or self.production_environment)

    @property
    def listed_live(self) -> bool:
        """Whether it joins its environment's live set once successful: the deployments something may retire later
        (a newer deployment supersedes the supersedable ones; removing a preview retires its transient ones). A
        production deployment of a lasting environment is retired by neither, so production's set stays empty and
        going live there reads no earlier deployment."""
        return bool(self.transient_environment) or not self.production_environment


def promotion(environment: str, now: datetime) -> list[Action]:
    """The actions that record an environment starting to serve a deployment: one more event (promoted)."""
    return [
        Deployment.promoted_at.set(now),
        Deployment.promoted_environment.set(environment),
        Deployment.event_seq.add(1),
    ]


class DeploymentRepository:
    @staticmethod
    def get(deployment_id: int) -> Deployment:
        try:
            return Deployment.get(deployment_id, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"deployment {deployment_id} not found") from exc

    @staticmethod
    def find(deployment_id: int) -> Deployment | None:
        try:
            return Deployment.get(deployment_id, consistent_read=True)
        except DoesNotExist:
            return None

    @staticmethod
    def page(project_id: int, newest_seq: int, size: int) -> list[Deployment]:
        """The deployments numbered newest_seq - size + 1 .. newest_seq, newest first.

        A fixed range of the per-project sequence: reads are proportional to the page, and a number left
        unused (a trigger that failed after reserving it) makes one page short instead of shifting later
        pages onto each other.
        """
        oldest_seq = max(1, newest_seq - size + 1)
        if newest_seq < 1 or size < 1:
            return []
        return list(
            Deployment.by_project.query(
                project_id,
                Deployment.seq.between(oldest_seq, newest_seq),
                scan_index_forward=False,
            )
        )

    @staticmethod
    def transition(deployment: Deployment, leaving: Iterable[Status], to: Status, **fields: Any) -> bool:
        """Move to `to` only if the stored status is one of `leaving`. False when another writer got there first.

        Counts the move as the deployment's next event (`event_seq`) in the same write."""
        leaving = tuple(leaving)
        now = utc_now()
        actions: list[Action] = [
            Deployment.status.set(to),
            Deployment.updated_at.set(now),
            Deployment.event_seq.add(1),
        ]
        actions += [getattr(Deployment, name).set(value) for name, value in fields.items()]
        return try_update(deployment, actions, Deployment.status.is_in(*leaving))
