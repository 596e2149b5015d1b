"""One message to one webhook and every attempt to deliver it. The item's id is the message's webhook-id (the
receiver's idempotency key): the same on every retry and redelivery, and derived from the event, so a fan-out
that runs twice for one event (a stream batch retried) makes the same item, not a second message."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from pynamodb.attributes import ListAttribute, MapAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.errors import ConditionFailed
from chalicelib.infra.resources import WEBHOOK_DELIVERIES
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import batch_get, table_meta
from chalicelib.models.conditional import transact, try_save, try_update
from chalicelib.models.webhook import Webhook

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


# GitHub names a delivery twice: X-GitHub-Delivery, a GUID, and the delivery log's integer id. Both derive from
# the stored message (its webhook and id), so they are the same on every retry and redelivery, and one message
# id (the same event told to two hooks) gives each hook its own GUID.
_GITHUB_DELIVERIES = uuid.UUID("5d0b8a2e-7c1f-5b43-9a38-2f1d0e6c4b71")


def github_guid(webhook_id: int, delivery_id: str) -> str:
    return str(uuid.uuid5(_GITHUB_DELIVERIES, f"{webhook_id}/{delivery_id}"))


def github_delivery_number(webhook_id: int, delivery_id: str) -> int:
    """The GUID's first 48 bits: an integer a JavaScript client reads back exactly."""
    return uuid.UUID(github_guid(webhook_id, delivery_id)).int >> 80


def expiry(now_epoch_seconds: int) -> int:
    return now_epoch_seconds + int(RETENTION.total_seconds())


# One attempt to record: the message as read, the attempt, the message's new status and next attempt.
AttemptRecord = tuple["WebhookDelivery", Attempt, str, "datetime | None"]


def _attempt_write(
    delivery: WebhookDelivery, attempt: Attempt, status: str, next_attempt_at: datetime | None
) -> tuple[list[Action], Condition]:
    seen = len(delivery.attempts)
    actions: list[Action] = [
        WebhookDelivery.attempts.set(WebhookDelivery.attempts.append([attempt])),
        WebhookDelivery.status.set(status),
        WebhookDelivery.next_attempt_at.set(next_attempt_at)
        if next_attempt_at is not None
        else WebhookDelivery.next_attempt_at.remove(),
    ]
    return actions, (size(WebhookDelivery.attempts) == seen) & (WebhookDelivery.status == "pending")


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

    @staticmethod
    def find_many(keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], WebhookDelivery]:
        """The stored messages among `keys` ((webhook id, message id) pairs), read together."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        return {(d.webhook_id, d.id): d for d in WebhookDelivery.batch_get(unique, consistent_read=True)}

    @staticmethod
    def find_with_webhooks(
        keys: Iterable[tuple[int, str]],
    ) -> tuple[dict[tuple[int, str], WebhookDelivery], dict[int, Webhook]]:
        """The stored messages among `keys` and the webhooks they belong to, in one read (at most 50 keys)."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}, {}
        deliveries, webhooks = WebhookDelivery.Meta.table_name, Webhook.Meta.table_name
        found = batch_get(
            {
                deliveries: {
                    "Keys": [{"webhook_id": {"N": str(hook)}, "id": {"S": message}} for hook, message in unique],
                    "ConsistentRead": True,
                },
                webhooks: {
                    "Keys": [{"id": {"N": str(hook)}} for hook in dict.fromkeys(hook for hook, _ in unique)],
                    "ConsistentRead": True,
                },
            }
        )
        messages = [WebhookDelivery.from_raw_data(item) for item in found[deliveries]]
        hooks = [Webhook.from_raw_data(item) for item in found[webhooks]]
        return {(m.webhook_id, m.id): m for m in messages}, {hook.id: hook for hook in hooks}

    @staticmethod
    def create_many(deliveries: Iterable[WebhookDelivery]) -> None:
        """Store new messages together. Unconditional, so only for messages `find_many` has just found absent
        and that nothing else can write meanwhile: a message is first written by the fan-out of its event, and
        one event is fanned out by one invocation at a time (a stream shard's records of one deployment reach
        one batch at a time, in order); nothing else knows of the message until it is enqueued."""
        with WebhookDelivery.batch_write() as batch:
            for delivery in deliveries:
                if delivery.created_at is None:
                    delivery.created_at = utc_now()
                batch.save(delivery)

    @staticmethod
    def of_webhook(webhook_id: int) -> list[WebhookDelivery]:
        """The webhook's messages, newest first (ids sort by deployment, then sequence)."""
        return list(WebhookDelivery.query(webhook_id, scan_index_forward=False))

    @staticmethod
    def record_attempt(
        delivery: WebhookDelivery, attempt: Attempt, status: str, next_attempt_at: datetime | None
    ) -> bool:
        """Append an attempt and the message's new state, if no other attempt was recorded since `delivery` was
        read (a message redelivered by SQS to two workers records one of their attempts); False otherwise."""
        return try_update(delivery, *_attempt_write(delivery, attempt, status, next_attempt_at))

    @staticmethod
    def record_attempts(records: Sequence[AttemptRecord]) -> list[bool]:
        """Record each attempt as record_attempt does, for distinct messages: in one transaction when every
        condition holds; when one does not, the transaction wrote nothing and each is recorded on its own."""
        if len(records) == 1:
            return [WebhookDeliveryRepository.record_attempt(*records[0])]

        def write(tx: TransactWrite) -> None:
            for record in records:
                actions, condition = _attempt_write(*record)
                tx.update(record[0], actions=actions, condition=condition)

        try:
            transact(write)
        except ConditionFailed:
            return [WebhookDeliveryRepository.record_attempt(*record) for record in records]
        return [True] * len(records)

    @staticmethod
    def reopen(delivery: WebhookDelivery, now: datetime) -> None:
        """Make the message pending again with an attempt due now (a redelivery asked for)."""
        try_update(
            delivery,
            [WebhookDelivery.status.set("pending"), WebhookDelivery.next_attempt_at.set(now)],
            WebhookDelivery.id.exists(),
        )
