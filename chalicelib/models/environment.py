"""Environments of a project (production now; one per preview branch later).

`active_deployment_id` is what the environment's URL serves. `in_flight` is the set of deployment ids
not yet terminal: set ADD on trigger and DELETE on every terminal transition, both idempotent, so the
state machine, the worker and the API can each release a deployment without double counting.
"""

from __future__ import annotations

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib.infra.resources import ENVIRONMENTS
from chalicelib.models.attributes import IntegerAttribute, IntegerSetAttribute, TimestampAttribute
from chalicelib.models.base import table_meta

PRODUCTION = "production"


class Environment(Model):
    Meta = table_meta(ENVIRONMENTS.logical)

    project_id = IntegerAttribute(hash_key=True)
    name = UnicodeAttribute(range_key=True)
    id = IntegerAttribute(null=True)  # public numeric id (GitHub, GitLab), set when the environment is first used
    host = UnicodeAttribute(null=True)
    external_url = UnicodeAttribute(null=True)
    # Deployments of this environment whose latest GitHub state is success (for auto_inactive).
    live_ids = IntegerSetAttribute(null=True)
    active_deployment_id = IntegerAttribute(null=True)
    active_seq = IntegerAttribute(null=True)
    in_flight = IntegerSetAttribute(null=True)
    # The line of promotions (services.promotions): the one that holds the environment now, and the ones recorded
    # after it, each waiting for its turn (the lowest id next). A set emptied by DELETE disappears.
    promoting = IntegerAttribute(null=True)
    promotion_waiting = IntegerSetAttribute(null=True)
    # A branch preview's build running right now (at most one: see services.preview_build_lock).
    builder = IntegerAttribute(null=True)
    created_at = TimestampAttribute(null=True)
    updated_at = TimestampAttribute(null=True)
    # A branch preview taken down (deleted, branch gone, idle past its time to live); a new trigger revives it.
    removed_at = TimestampAttribute(null=True)
    removed_reason = UnicodeAttribute(null=True)
    # GitHub's environment settings (PUT /environments/{name}): stored and shown, not enforced.
    wait_timer = IntegerAttribute(null=True)
    prevent_self_review = BooleanAttribute(null=True)
    reviewers = UnicodeAttribute(null=True)  # JSON list of {type, id}
    deployment_branch_policy = UnicodeAttribute(null=True)  # JSON {protected_branches, custom_branch_policies}


def serving(deployment_id: int, seq: int) -> list[Action]:
    """The writes that make an environment serve a deployment: its id, and its place in the project's numbering
    (which a later activation compares to keep the newest)."""
    return [Environment.active_deployment_id.set(deployment_id), Environment.active_seq.set(seq)]


class EnvironmentRepository:
    @staticmethod
    def find(project_id: int, name: str) -> Environment | None:
        try:
            return Environment.get(project_id, name, consistent_read=True)
        except DoesNotExist:
            return None

    @staticmethod
    def list(project_id: int) -> list[Environment]:
        return list(Environment.query(project_id, consistent_read=True))
