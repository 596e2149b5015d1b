"""One message to one webhook and every attempt to deliver it. The item's id is the message's webhook-id (the
receiver's idempotency key): the same on every retry and redelivery, and derived from the event, so a fan-out
that runs twice for one event (a stream batch retried) makes the same item, not a second message."""

from __future__ import annotations

from datetime import timedelta

from pynamodb.attributes import ListAttribute, MapAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib.infra.resources import WEBHOOK_DELIVERIES
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import try_save

RETENTION = timedelta(days=30)


class Attempt(MapAttribute[str, object]):
    at = TimestampAttribute()
    status_code = IntegerAttribute(null=True)  # None: no HTTP answer (timeout, refused connection, refused target)
    duration_ms = IntegerAttribute()
    error = UnicodeAttribute(null=True)


class WebhookDelivery(Model):
    Meta = table_meta(WEBHOOK_DELIVERIES.logical)

    webhook_id = IntegerAttribute(hash_key=True)
    id = UnicodeAttribute(range_key=True)  # the message id (webhook-id, X-GitHub-Delivery, X-Gitlab-Event-UUID)
    event_type = UnicodeAttribute()
    deployment_id = IntegerAttribute(null=True)
    body = UnicodeAttribute()  # the exact JSON text sent, rendered once in the webhook's dialect
    status = UnicodeAttribute(default="pending")  # pending | succeeded | failed
    attempts = ListAttribute(of=Attempt, default=list)
    next_attempt_at = TimestampAttribute(null=True)
    created_at = TimestampAttribute(default_for_new=utc_now)
    expires_at = IntegerAttribute()  # the table's TTL attribute (epoch seconds)


def message_id(deployment_id: int, sequence: int) -> str:
    """The message id of a deployment's event: events of a deployment have distinct sequences, and ids sort by
    deployment, then sequence (so a webhook's deliveries list newest first by id)."""
    return f"msg_{deployment_id:012d}_{sequence:06d}"


def expiry(now_epoch_seconds: int) -> int:
    return now_epoch_seconds + int(RETENTION.total_seconds())


class WebhookDeliveryRepository:
    @staticmethod
    def find(webhook_id: int, delivery_id: str) -> WebhookDelivery | None:
        try:
            return WebhookDelivery.get(webhook_id, delivery_id, consistent_read=True)
        except DoesNotExist:
            return None

    @staticmethod
    def create(delivery: WebhookDelivery) -> bool:
        """Store a new message; False if it exists already (the same event fanned out again)."""
        if delivery.created_at is None:
            delivery.created_at = utc_now()
        return try_save(delivery, WebhookDelivery.id.does_not_exist())
