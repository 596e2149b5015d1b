"""Outbound webhook subscriptions. One model for every dialect's hooks: `dialect` says whose format a delivery
is in (native Standard Webhooks, GitHub's repository hooks, GitLab's project hooks)."""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, ListAttribute, MapAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.errors import NotFound
from chalicelib.infra.resources import WEBHOOKS
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import try_delete, try_save, try_update
from chalicelib.models.registry import next_id

EVERY_EVENT = "*"


class WebhooksByOrg(GlobalSecondaryIndex["Webhook"]):
    class Meta:
        index_name = WEBHOOKS.indexes[0].name
        projection = AllProjection()

    org_slug = UnicodeAttribute(hash_key=True)
    id = IntegerAttribute(range_key=True)


class Webhook(Model):
    Meta = table_meta(WEBHOOKS.logical)

    id = IntegerAttribute(hash_key=True)
    org_slug = UnicodeAttribute()
    dialect = UnicodeAttribute(default="native")  # native | github | gitlab: the format of its deliveries
    project_id = IntegerAttribute(null=True)  # only this project's events; None: every project of the org
    url = UnicodeAttribute()
    events = ListAttribute(of=UnicodeAttribute, default=lambda: [EVERY_EVENT])
    description = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    # The signing secret (whsec_... natively; GitHub's secret, GitLab's token). Signing needs it in the clear;
    # the table is encrypted at rest, and the API shows a secret only in the response that made it.
    secret = UnicodeAttribute()
    # After a rotation the previous secret also signs (a second signature) until it expires.
    previous_secret = UnicodeAttribute(null=True)
    previous_secret_expires_at = TimestampAttribute(null=True)
    # Since when every message to it has failed (cleared by a success); why it was disabled, if it was.
    failing_since = TimestampAttribute(null=True)
    disabled_reason = UnicodeAttribute(null=True)
    # What a dialect's API keeps of a hook beyond the fields above, shown back as given (GitLab: the other
    # *_events switches, enable_ssl_verification, name, the push branch filter).
    dialect_options: MapAttribute[str, Any] = MapAttribute(null=True)
    created_at = TimestampAttribute(default_for_new=utc_now)
    updated_at = TimestampAttribute(default_for_new=utc_now)

    by_org = WebhooksByOrg()

    def wants(self, project_id: int, event_type: str | None) -> bool:
        """Whether an event of `event_type` (its dialect's name for it; None: any) about a deployment of
        `project_id` is delivered to it."""
        if not self.active or (self.project_id is not None and self.project_id != project_id):
            return False
        return event_type is None or EVERY_EVENT in self.events or event_type in self.events


class WebhookRepository:
    @staticmethod
    def find(webhook_id: int) -> Webhook | None:
        try:
            return Webhook.get(webhook_id, consistent_read=True)
        except DoesNotExist:
            return None

    @staticmethod
    def get(org_slug: str, webhook_id: int) -> Webhook:
        """The organization's webhook; another organization's is indistinguishable from none."""
        webhook = WebhookRepository.find(webhook_id)
        if webhook is None or webhook.org_slug != org_slug:
            raise NotFound(f"webhook {webhook_id} not found")
        return webhook

    @staticmethod
    def of_org(org_slug: str) -> list[Webhook]:
        """The organization's webhooks, oldest first."""
        return list(Webhook.by_org.query(org_slug))

    @staticmethod
    def create(webhook: Webhook) -> Webhook:
        """Store a new webhook under the next id of the webhooks sequence."""
        webhook.id = next_id("webhook")
        if not try_save(webhook, Webhook.id.does_not_exist()):
            raise RuntimeError(f"webhook id {webhook.id} was handed out twice")
        return webhook

    @staticmethod
    def update(webhook: Webhook, actions: list[Action], condition: Condition | None = None) -> bool:
        """Apply `actions` (and a new updated_at) if the webhook still exists and `condition` holds."""
        guard = Webhook.id.exists() if condition is None else Webhook.id.exists() & condition
        return try_update(webhook, [*actions, Webhook.updated_at.set(utc_now())], guard)

    @staticmethod
    def delete(org_slug: str, webhook_id: int) -> None:
        if not try_delete(Webhook(id=webhook_id), Webhook.org_slug == org_slug):
            raise NotFound(f"webhook {webhook_id} not found")
