"""Promotions: every change of what an environment serves (a deployment's activation, a rollback, an automatic
revert), with the checks that verified it. Keyed by project and a globally unique id, so a project's promotions
list newest first with one Query; the by-environment index lists one environment's the same way."""

from __future__ import annotations

from typing import NamedTuple

from pynamodb.attributes import BooleanAttribute, ListAttribute, MapAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.errors import NotFound
from chalicelib.infra.resources import PROMOTIONS
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta

# Why an environment changed what it serves.
DEPLOY, ROLLBACK, AUTO_REVERT = "deploy", "rollback", "auto_revert"
REASONS = (DEPLOY, ROLLBACK, AUTO_REVERT)
# pending -> verifying -> switching -> verifying (live) -> succeeded; or rejected (the candidate failed before
# anything switched), reverted (the live check failed after the switch, which was switched back) or failed.
PENDING, VERIFYING, SWITCHING = "pending", "verifying", "switching"
SUCCEEDED, REJECTED, REVERTED, FAILED = "succeeded", "rejected", "reverted", "failed"
STATUSES = (PENDING, VERIFYING, SWITCHING, SUCCEEDED, REJECTED, REVERTED, FAILED)
ENDED = (SUCCEEDED, REJECTED, REVERTED, FAILED)
# Where a check fetched the health-check path: the candidate's own deployment URL, or the environment's URL.
CANDIDATE, LIVE = "candidate", "live"


def environment_key(project_id: int, environment: str) -> str:
    """The by-environment index's hash key: one environment of one project."""
    return f"{project_id}#{environment}"


class Check(MapAttribute[str, object]):
    """One verification: GET the health-check path at `url`, up to a few attempts."""

    target = UnicodeAttribute()  # candidate | live
    url = UnicodeAttribute()
    attempts = IntegerAttribute()
    status_code = IntegerAttribute(null=True)  # None: no HTTP answer (timeout, refused connection)
    served_by = IntegerAttribute(null=True)  # the deployment the answer named as serving it, None: it named none
    ok = BooleanAttribute()
    error = UnicodeAttribute(null=True)
    checked_at = TimestampAttribute()


class PromotionsByEnvironment(GlobalSecondaryIndex["Promotion"]):
    class Meta:
        index_name = PROMOTIONS.indexes[0].name
        projection = AllProjection()

    environment_key = UnicodeAttribute(hash_key=True)
    id = IntegerAttribute(range_key=True)


class Promotion(Model):
    Meta = table_meta(PROMOTIONS.logical)

    project_id = IntegerAttribute(hash_key=True)
    id = IntegerAttribute(range_key=True)  # models.registry.next_id("promotion"): newer promotions, higher ids
    environment = UnicodeAttribute()
    environment_key = UnicodeAttribute()  # environment_key(project_id, environment)
    from_deployment_id = IntegerAttribute(null=True)  # None: the environment served nothing before
    to_deployment_id = IntegerAttribute()
    reason = UnicodeAttribute()  # deploy | rollback | auto_revert
    triggered_by = UnicodeAttribute(null=True)
    status = UnicodeAttribute(default=PENDING)
    error_message = UnicodeAttribute(null=True)
    checks = ListAttribute(of=Check, default=list)
    execution_arn = UnicodeAttribute(null=True)
    created_at = TimestampAttribute(default_for_new=utc_now)
    updated_at = TimestampAttribute(default_for_new=utc_now)
    switched_at = TimestampAttribute(null=True)
    finished_at = TimestampAttribute(null=True)

    by_environment = PromotionsByEnvironment()

    @property
    def has_ended(self) -> bool:
        return self.status in ENDED


class PromotionPage(NamedTuple):
    """One page of promotions, newest first, and how many there are in all (the listing's meta)."""

    items: list[Promotion]
    total: int


class PromotionRepository:
    @staticmethod
    def get(project_id: int, promotion_id: int) -> Promotion:
        try:
            return Promotion.get(project_id, promotion_id, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"promotion {promotion_id} not found") from exc

    @staticmethod
    def find(project_id: int, promotion_id: int) -> Promotion | None:
        try:
            return Promotion.get(project_id, promotion_id, consistent_read=True)
        except DoesNotExist:
            return None

    @staticmethod
    def page(project_id: int, environment: str | None, page: int, per_page: int) -> PromotionPage:
        """Page `page` (from 1) of the project's promotions, or of one environment's, newest first. Reads the
        pages before it too (ids are not contiguous per project), and counts the rest with a COUNT query."""
        if page < 1 or per_page < 1:
            return PromotionPage([], 0)
        wanted = page * per_page
        if environment is None:
            newest = Promotion.query(project_id, scan_index_forward=False, limit=wanted, consistent_read=True)
            total = Promotion.count(project_id, consistent_read=True)
        else:
            key = environment_key(project_id, environment)
            newest = Promotion.by_environment.query(key, scan_index_forward=False, limit=wanted)
            total = Promotion.by_environment.count(key)
        return PromotionPage(list(newest)[(page - 1) * per_page :], total)
