"""Delivering one webhook message: sign it in its webhook's format, POST it, record the attempt, and decide
what comes next (done, a retry on the schedule, failed, or the endpoint disabled).

Each message is its own queue message, so a slow or dead receiver holds up only its own attempts. A message
SQS hands out twice records one attempt: the append is conditional on the attempts seen.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.adapters import webhook_http, webhook_queue
from chalicelib.models.attributes import utc_now
from chalicelib.models.webhook import Webhook, WebhookRepository
from chalicelib.models.webhook_delivery import (
    Attempt,
    AttemptRecord,
    WebhookDelivery,
    WebhookDeliveryRepository,
    github_guid,
)
from chalicelib.observability import logger
from chalicelib.services import github_hooks, gitlab_hooks
from chalicelib.settings import get_settings

USER_AGENT = "deployd-webhooks"
TIMEOUT_SECONDS = 15.0
GITHUB_TIMEOUT_SECONDS = 10.0  # GitHub's own limit for a receiver's answer
# An endpoint every message of which has failed for this long is disabled (as Svix does).
FAILING_LIMIT = timedelta(days=5)
# Answers that ask the sender to slow down: their Retry-After is honoured.
SLOW_DOWN = frozenset({429, 502, 503, 504})


def signatures(webhook: Webhook, msg_id: str, at: datetime, body: str) -> str:
    """Standard Webhooks' webhook-signature: one `v1,<base64>` per secret in force, space-separated."""
    from standardwebhooks.webhooks import Webhook as Signer

    secrets = [webhook.secret]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires is not None and expires > at:
        secrets.append(webhook.previous_secret)
    return " ".join(Signer(secret).sign(msg_id, at, body) for secret in secrets)


def headers(webhook: Webhook, delivery: WebhookDelivery, at: datetime) -> dict[str, str]:
    """The headers of one attempt, in the format of the dialect that registered the webhook."""
    common = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if webhook.dialect == "github":
        github = {
            **common,
            "User-Agent": "GitHub-Hookshot/deployd",
            "X-GitHub-Event": delivery.event_type,
            "X-GitHub-Delivery": github_guid(webhook.id, delivery.id),
            "X-GitHub-Hook-ID": str(webhook.id),
        }
        if webhook.secret:  # a hook made without a secret gets unsigned deliveries, as on GitHub
            digest = hmac.new(webhook.secret.encode(), delivery.body.encode(), hashlib.sha256).hexdigest()
            github["X-Hub-Signature-256"] = f"sha256={digest}"
        return github
    if webhook.dialect == "gitlab":
        return {**common, **gitlab_headers(webhook, delivery)}
    return {
        **common,
        "webhook-id": delivery.id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures(webhook, delivery.id, at, delivery.body),
    }


# GitLab's ids are UUIDs; deployd's are derived from its own, so every attempt of a message carries the same ones.
_GITLAB_UUIDS = uuid.UUID("1d2f8a3e-5b7c-4e60-9a41-0c6f3b2d7e95")


def gitlab_headers(webhook: Webhook, delivery: WebhookDelivery) -> dict[str, str]:
    """GitLab's: the event's UUID (the same for every hook the event reaches), the hook's UUID, an
    Idempotency-Key the same on every retry of this message to this hook, and the token only when there is one
    (GitLab sends no X-Gitlab-Token for a hook without a token)."""
    headers = {
        "X-Gitlab-Event": "Deployment Hook",
        "X-Gitlab-Event-UUID": str(uuid.uuid5(_GITLAB_UUIDS, delivery.id)),
        "X-Gitlab-Webhook-UUID": str(uuid.uuid5(_GITLAB_UUIDS, f"webhook:{webhook.id}")),
        "X-Gitlab-Instance": get_settings().api_url,
        "Idempotency-Key": str(uuid.uuid5(_GITLAB_UUIDS, f"webhook:{webhook.id}:{delivery.id}")),
    }
    if webhook.secret:
        headers["X-Gitlab-Token"] = webhook.secret
    return headers


def verifies_tls(webhook: Webhook) -> bool:
    """Whether an https receiver's certificate is checked: always, unless the hook's owner turned that off where
    the dialect lets them (GitLab's enable_ssl_verification, GitHub's insecure_ssl)."""
    if webhook.dialect == "gitlab":
        return bool(gitlab_hooks.options_of(webhook)["enable_ssl_verification"])
    if webhook.dialect == "github":
        return github_hooks.insecure_ssl(webhook) != "1"
    return True


def next_delay(attempts_made: int, outcome: webhook_http.Outcome) -> float | None:
    """Seconds until the next attempt after `attempts_made` failed ones, or None when the schedule is spent.
    The n-th retry waits the n-th delay of settings.webhook_retry_seconds, or longer if the receiver asked."""
    delays = get_settings().webhook_retry_seconds
    if attempts_made > len(delays):
        return None
    delay = delays[attempts_made - 1]
    if outcome.status_code in SLOW_DOWN and outcome.retry_after_seconds is not None:
        delay = max(delay, outcome.retry_after_seconds)
    return delay


def deliver(webhook_id: int, delivery_id: str) -> None:
    """One attempt at the message, if it is still due: pending, and its webhook still there and active."""
    webhook = WebhookRepository.find(webhook_id)
    delivery = WebhookDeliveryRepository.find(webhook_id, delivery_id)
    if webhook is not None and delivery is not None:
        attempt(webhook, delivery)


def read_messages(keys: Iterable[tuple[int, str]]) -> dict[tuple[int, str], tuple[Webhook, WebhookDelivery]]:
    """The messages among `keys` ((webhook id, message id) pairs) that still exist, with their webhooks: a
    batch's messages and webhooks in one read, however many the batch holds."""
    deliveries, webhooks = WebhookDeliveryRepository.find_with_webhooks(keys)
    return {key: (webhooks[key[0]], delivery) for key, delivery in deliveries.items() if key[0] in webhooks}


# How long the attempt that writes waits for others to join its write (as a database's commit delay).
GROUP_WINDOW_SECONDS = 0.01


class AttemptLog:
    """Records the attempts of one batch of messages together, as a group commit: the first attempt to end
    writes its record after GROUP_WINDOW_SECONDS, with every attempt that ended by then, in one transaction;
    attempts that end while it writes are written together by the next of them. Receivers that answer at about
    the same time cost one write; a slow receiver's attempt, ending later, is written alone, and delays no other
    attempt's record."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[_Pending] = []
        self._writing = False

    def record(self, delivery: WebhookDelivery, made: Attempt, status: str, next_attempt_at: datetime | None) -> bool:
        """What WebhookDeliveryRepository.record_attempt answers for this attempt (blocks until written)."""
        pending = _Pending((delivery, made, status, next_attempt_at))
        with self._lock:
            self._waiting.append(pending)
            leads = not self._writing
            self._writing = True
        if leads:
            self._write_all()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.written

    def _write_all(self) -> None:
        time.sleep(GROUP_WINDOW_SECONDS)  # attempts ending within a moment join the first write
        while True:
            with self._lock:
                group, self._waiting = self._waiting, []
                if not group:
                    self._writing = False
                    return
            try:
                for pending, written in zip(
                    group, WebhookDeliveryRepository.record_attempts([p.record for p in group]), strict=True
                ):
                    pending.written = written
            except Exception as exc:  # each waiting attempt raises it: its queue message comes back
                for pending in group:
                    pending.error = exc
            finally:
                for pending in group:
                    pending.done.set()


@dataclass
class _Pending:
    record: AttemptRecord
    written: bool = False
    error: Exception | None = None
    done: threading.Event = field(default_factory=threading.Event)


Recorder = Callable[[WebhookDelivery, Attempt, str, "datetime | None"], bool]


def attempt(
    webhook: Webhook, delivery: WebhookDelivery, record: Recorder = WebhookDeliveryRepository.record_attempt
) -> None:
    """One attempt at the message as read, if it is still due: pending, and its webhook active. `record` writes
    the attempt (an AttemptLog's, to write a batch's attempts together)."""
    if delivery.status != "pending" or not webhook.active:
        return
    webhook_id, delivery_id = webhook.id, delivery.id
    now = utc_now()
    timeout = GITHUB_TIMEOUT_SECONDS if webhook.dialect == "github" else TIMEOUT_SECONDS
    outcome = webhook_http.post(
        webhook.url,
        delivery.body,
        headers(webhook, delivery, now),
        timeout=timeout,
        allow_private=get_settings().webhook_allow_private_targets,
        verify_tls=verifies_tls(webhook),
    )
    made = Attempt(at=now, status_code=outcome.status_code, duration_ms=outcome.duration_ms, error=outcome.error)
    succeeded = outcome.status_code is not None and 200 <= outcome.status_code < 300
    if succeeded:
        if record(delivery, made, "succeeded", None):
            _succeeded(webhook)
        return
    gone = outcome.status_code == 410
    delay = None if gone else next_delay(len(delivery.attempts) + 1, outcome)
    due = None if delay is None else utc_now() + timedelta(seconds=delay)
    if not record(delivery, made, "failed" if due is None else "pending", due):
        return  # another worker recorded an attempt of this message first: it decides what comes next
    logger.info(
        "webhook attempt failed",
        extra={"webhook_id": webhook_id, "delivery_id": delivery_id, "error": outcome.error, "retry_in": delay},
    )
    if gone:
        _disable(webhook, "the endpoint answered 410 Gone")
        return
    disabled = _failing_too_long(webhook, now)
    if not disabled and delay is not None:
        webhook_queue.enqueue(webhook_id, delivery_id, delay)


def _succeeded(webhook: Webhook) -> None:
    if webhook.failing_since is not None:
        WebhookRepository.update(webhook, [Webhook.failing_since.remove()], Webhook.failing_since.exists())


def _failing_too_long(webhook: Webhook, now: datetime) -> bool:
    """Note when the endpoint started failing; disable it once every message has failed for FAILING_LIMIT."""
    if webhook.failing_since is None:
        WebhookRepository.update(webhook, [Webhook.failing_since.set(now)], Webhook.failing_since.does_not_exist())
        return False
    if now - webhook.failing_since < FAILING_LIMIT:
        return False
    days = FAILING_LIMIT.days
    _disable(webhook, f"every message failed for {days} days (since {webhook.failing_since.isoformat()})")
    return True


def _disable(webhook: Webhook, reason: str) -> None:
    WebhookRepository.update(
        webhook,
        [Webhook.active.set(False), Webhook.disabled_reason.set(reason)],
        Webhook.active == True,  # noqa: E712
    )
