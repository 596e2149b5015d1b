"""Delivering native webhook messages to a real receiver on loopback, with AWS in moto (in-process): Standard
Webhooks signatures the `standardwebhooks` library verifies, the retry schedule, 410, Retry-After, redirects,
and targets refused at registration and at delivery."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as Verifier
from standardwebhooks.webhooks import WebhookVerificationError

from chalicelib.adapters.addresses import NonPublicAddress
from chalicelib.aws import client
from chalicelib.infra.resources import WEBHOOK_QUEUE
from chalicelib.models.attributes import utc_now
from chalicelib.models.webhook import Webhook, WebhookRepository
from chalicelib.models.webhook_delivery import WebhookDelivery, WebhookDeliveryRepository, expiry, message_id
from chalicelib.services import webhook_delivery, webhooks
from chalicelib.services.inputs import WebhookCreate
from chalicelib.settings import get_settings
from tests.support.receiver import Answer, running

ORG = "acme"
_sequences = itertools.count(1)


@pytest.fixture
def world(tables: Any, settings_env: Callable[..., None]) -> Iterator[None]:
    """The tables and the delivery queue; local receivers allowed unless a test says otherwise."""
    settings_env(DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS="true", DEPLOYD_WEBHOOK_RETRY_SECONDS="0,5")
    client("sqs").create_queue(QueueName=get_settings().resource_name(WEBHOOK_QUEUE.logical))
    yield


def register(url: str, **fields: Any) -> webhooks.IssuedWebhook:
    return webhooks.create(ORG, WebhookCreate(url=url, **fields))


def message(webhook: Webhook, event_type: str = "deployment.created") -> WebhookDelivery:
    sequence = next(_sequences)
    body = json.dumps({"type": event_type, "timestamp": utc_now().isoformat(), "data": {"sequence": sequence}})
    delivery = WebhookDelivery(
        webhook_id=webhook.id,
        id=message_id(7, sequence),
        event_type=event_type,
        deployment_id=7,
        body=body,
        expires_at=expiry(int(time.time())),
    )
    assert WebhookDeliveryRepository.create(delivery)
    return delivery


def reread(delivery: WebhookDelivery) -> WebhookDelivery:
    found = WebhookDeliveryRepository.find(delivery.webhook_id, delivery.id)
    assert found is not None
    return found


def queued() -> list[dict[str, Any]]:
    """The delivery queue's messages due now (taken off the queue)."""
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().resource_name(WEBHOOK_QUEUE.logical))["QueueUrl"]
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def test_a_message_is_signed_so_the_standardwebhooks_library_verifies_it(world: None) -> None:
    with running() as receiver:
        # Given a webhook and a message for it
        issued = register(receiver.url())
        delivery = message(issued.webhook)

        # When it is delivered
        webhook_delivery.deliver(issued.webhook.id, delivery.id)

        # Then the receiver verifies it with the secret it was given, and the message is done
        (got,) = receiver.received
        payload = Verifier(issued.secret).verify(got.body, got.headers)
        assert payload == json.loads(delivery.body)
        assert got.headers["webhook-id"] == delivery.id
        assert got.headers["Content-Type"] == "application/json"
        assert got.headers["User-Agent"] == "deployd-webhooks"
        assert got.headers["webhook-signature"].startswith("v1,")
        with pytest.raises(WebhookVerificationError):
            Verifier(webhooks.new_secret()).verify(got.body, got.headers)
        done = reread(delivery)
        assert done.status == "succeeded" and done.next_attempt_at is None
        assert [(a.status_code, a.error) for a in done.attempts] == [(200, None)]


def test_after_a_rotation_both_the_old_and_the_new_secret_verify(world: None) -> None:
    with running() as receiver:
        issued = register(receiver.url())
        rotated = webhooks.rotate_secret(ORG, issued.webhook.id)
        delivery = message(issued.webhook)

        webhook_delivery.deliver(issued.webhook.id, delivery.id)

        (got,) = receiver.received
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        Verifier(rotated.secret).verify(got.body, got.headers)
        Verifier(issued.secret).verify(got.body, got.headers)
        assert rotated.secret != issued.secret


def test_a_failing_receiver_is_retried_on_the_schedule_with_the_same_webhook_id_then_given_up(
    world: None,
) -> None:
    with running(Answer(500)) as receiver:
        # Given a schedule of two retries (immediately, then 5 s) and a receiver that always fails
        issued = register(receiver.url())
        delivery = message(issued.webhook)

        # When the first attempt fails: the next is due at once and queued
        webhook_delivery.deliver(issued.webhook.id, delivery.id)
        first = reread(delivery)
        assert first.status == "pending"
        assert first.next_attempt_at is not None and first.next_attempt_at - first.attempts[0].at < timedelta(seconds=1)
        assert queued() == [{"webhook_id": issued.webhook.id, "delivery_id": delivery.id}]

        # When the second fails: the next waits 5 s (SQS holds the message back meanwhile)
        webhook_delivery.deliver(issued.webhook.id, delivery.id)
        second = reread(delivery)
        assert second.status == "pending"
        assert second.next_attempt_at is not None
        assert timedelta(seconds=4.5) < second.next_attempt_at - second.attempts[1].at < timedelta(seconds=6)
        assert queued() == []

        # When the third fails: the schedule is spent and the message failed, nothing more queued
        webhook_delivery.deliver(issued.webhook.id, delivery.id)
        last = reread(delivery)
        assert last.status == "failed" and last.next_attempt_at is None
        assert [a.status_code for a in last.attempts] == [500, 500, 500]
        assert {r.headers["webhook-id"] for r in receiver.received} == {delivery.id}

        # And a message that is no longer pending is not sent again
        webhook_delivery.deliver(issued.webhook.id, delivery.id)
        assert len(receiver) == 3


def test_410_gone_fails_the_message_and_disables_the_webhook_at_once(world: None) -> None:
    with running(Answer(410)) as receiver:
        issued = register(receiver.url())
        delivery, other = message(issued.webhook), message(issued.webhook)

        webhook_delivery.deliver(issued.webhook.id, delivery.id)

        assert reread(delivery).status == "failed"
        webhook = webhooks.get(ORG, issued.webhook.id)
        assert webhook.active is False and "410" in (webhook.disabled_reason or "")
        assert queued() == []
        # the webhook's other messages are no longer sent
        webhook_delivery.deliver(issued.webhook.id, other.id)
        assert len(receiver) == 1 and reread(other).attempts == []


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(world: None, status: int) -> None:
    with running(Answer(status, {"Retry-After": "120"})) as receiver:
        issued = register(receiver.url())
        delivery = message(issued.webhook)

        webhook_delivery.deliver(issued.webhook.id, delivery.id)

        after = reread(delivery)
        assert after.status == "pending" and after.attempts[0].status_code == status
        assert after.next_attempt_at is not None
        assert after.next_attempt_at - after.attempts[0].at >= timedelta(seconds=119)
        assert queued() == []  # held back by SQS, not due yet


def test_a_redirect_is_a_failure_and_is_not_followed(world: None) -> None:
    with running(Answer(302, {"Location": "/elsewhere"})) as receiver:
        issued = register(receiver.url())
        delivery = message(issued.webhook)

        webhook_delivery.deliver(issued.webhook.id, delivery.id)

        assert [r.path for r in receiver.received] == ["/hook"]
        (attempt,) = reread(delivery).attempts
        assert attempt.status_code == 302 and "redirect" in (attempt.error or "")
        assert reread(delivery).status == "pending"


def test_a_target_resolving_to_loopback_is_refused_at_delivery_when_private_targets_are_not_allowed(
    world: None, settings_env: Callable[..., None]
) -> None:
    with running() as receiver:
        # Given a webhook registered while local targets were allowed, to a name that resolves to 127.0.0.1
        issued = register(receiver.url(host="localhost"))
        delivery = message(issued.webhook)

        # When they no longer are, and the message is delivered
        settings_env(DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS="false")
        webhook_delivery.deliver(issued.webhook.id, delivery.id)

        # Then nothing reached the receiver, and the attempt says why
        assert len(receiver) == 0
        (attempt,) = reread(delivery).attempts
        assert attempt.status_code is None and "loopback" in (attempt.error or "")


@pytest.mark.parametrize(
    "url",
    ["http://localhost:8080/hook", "http://127.0.0.1/hook", "http://10.1.2.3/", "http://169.254.169.254/latest/"],
)
def test_a_private_target_is_refused_at_registration(world: None, settings_env: Callable[..., None], url: str) -> None:
    settings_env(DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS="false")
    with pytest.raises(NonPublicAddress) as refused:
        register(url)
    assert refused.value.field == "url"
    assert webhooks.list_all(ORG) == []


def test_an_endpoint_failing_for_five_days_is_disabled_and_says_so(world: None) -> None:
    with running(Answer(500)) as receiver:
        issued = register(receiver.url())
        WebhookRepository.update(issued.webhook, [Webhook.failing_since.set(utc_now() - timedelta(days=5, hours=1))])
        delivery = message(issued.webhook)

        webhook_delivery.deliver(issued.webhook.id, delivery.id)

        webhook = webhooks.get(ORG, issued.webhook.id)
        assert webhook.active is False and "5 days" in (webhook.disabled_reason or "")
        assert queued() == []


def test_a_success_ends_the_failing_streak(world: None) -> None:
    with running(Answer(500), Answer(204)) as receiver:
        issued = register(receiver.url())
        delivery = message(issued.webhook)

        webhook_delivery.deliver(issued.webhook.id, delivery.id)
        assert webhooks.get(ORG, issued.webhook.id).failing_since is not None
        webhook_delivery.deliver(issued.webhook.id, delivery.id)

        assert reread(delivery).status == "succeeded"
        assert webhooks.get(ORG, issued.webhook.id).failing_since is None
        assert len(receiver) == 2


def test_a_message_due_later_than_sqs_can_delay_goes_back_to_the_queue(world: None) -> None:
    with running() as receiver:
        issued = register(receiver.url())
        delivery = message(issued.webhook)

        consume(
            _sqs_event({"webhook_id": issued.webhook.id, "delivery_id": delivery.id, "not_before": time.time() + 3600})
        )

        assert len(receiver) == 0 and reread(delivery).attempts == []
        assert queued() == []  # back on the queue, delayed


def test_a_redelivery_sends_a_delivered_message_again_with_the_same_webhook_id(world: None) -> None:
    with running() as receiver:
        issued = register(receiver.url())
        delivery = message(issued.webhook)
        webhook_delivery.deliver(issued.webhook.id, delivery.id)

        webhooks.redeliver(ORG, issued.webhook.id, delivery.id)
        (due,) = queued()
        consume(_sqs_event(due))

        assert [r.headers["webhook-id"] for r in receiver.received] == [delivery.id, delivery.id]
        assert [a.status_code for a in reread(delivery).attempts] == [200, 200]


def test_another_organizations_webhook_is_not_found(world: None) -> None:
    issued = register("https://hooks.example.com/deployd")
    from chalicelib.errors import NotFound

    with pytest.raises(NotFound):
        webhooks.get("someone-else", issued.webhook.id)
    with pytest.raises(NotFound):
        webhooks.rotate_secret("someone-else", issued.webhook.id)


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(
    world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_delivery, "TIMEOUT_SECONDS", 0.5)
    with running(Answer(200, delay_seconds=2)) as receiver:
        issued = register(receiver.url())
        delivery = message(issued.webhook)

        webhook_delivery.deliver(issued.webhook.id, delivery.id)

        (attempt,) = reread(delivery).attempts
        assert attempt.status_code is None and "no answer within 0.5 s" in (attempt.error or "")
        assert attempt.duration_ms < 1500
        assert reread(delivery).status == "pending" and len(receiver) == 1


def test_a_url_changed_to_a_private_target_is_refused(world: None, settings_env: Callable[..., None]) -> None:
    from chalicelib.services.inputs import WebhookUpdate

    issued = register("https://hooks.example.com/deployd")
    settings_env(DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS="false")

    with pytest.raises(NonPublicAddress):
        webhooks.update(ORG, issued.webhook.id, WebhookUpdate(url="http://[::ffff:127.0.0.1]:9000/"))
    assert webhooks.get(ORG, issued.webhook.id).url == "https://hooks.example.com/deployd"


def test_a_disabled_webhook_gets_nothing_and_refuses_a_redelivery_until_turned_on(world: None) -> None:
    from chalicelib.errors import Conflict
    from chalicelib.services.inputs import WebhookUpdate

    with running() as receiver:
        issued = register(receiver.url())
        delivery = message(issued.webhook)
        webhooks.update(ORG, issued.webhook.id, WebhookUpdate(active=False))

        webhook_delivery.deliver(issued.webhook.id, delivery.id)
        with pytest.raises(Conflict):
            webhooks.redeliver(ORG, issued.webhook.id, delivery.id)
        assert len(receiver) == 0

        webhooks.update(ORG, issued.webhook.id, WebhookUpdate(active=True))
        webhooks.redeliver(ORG, issued.webhook.id, delivery.id)
        (due,) = queued()
        consume(_sqs_event(due))
        assert len(receiver) == 1 and reread(delivery).status == "succeeded"


def consume(event: dict[str, Any]) -> dict[str, Any]:
    """The delivery queue's handler, as Lambda calls it."""
    from chalicelib.workers import webhook_delivery as deliveries

    return deliveries.consume(event)


def _sqs_event(*bodies: dict[str, Any]) -> dict[str, Any]:
    records = [
        {"messageId": f"m{index}", "receiptHandle": f"r{index}", "body": json.dumps(body), "eventSource": "aws:sqs"}
        for index, body in enumerate(bodies)
    ]
    return {"Records": records}


def test_a_batch_is_attempted_at_once_so_a_slow_receiver_holds_up_only_its_own_message(world: None) -> None:
    import threading

    from chalicelib.workers import webhook_delivery as deliveries

    with running(Answer(delay_seconds=3)) as slow, running() as fast:
        # Given a batch holding a message to a slow receiver, two to a fast one, and one of those twice
        slow_message = message(register(slow.url()).webhook)
        fast_hook = register(fast.url()).webhook
        first, second = message(fast_hook), message(fast_hook)
        bodies = [{"webhook_id": m.webhook_id, "delivery_id": m.id} for m in (slow_message, first, second, first)]
        results: list[dict[str, Any]] = []

        # When the batch is handled
        handling = threading.Thread(target=lambda: results.append(deliveries.consume(_sqs_event(*bodies))))
        handling.start()

        # Then the fast receiver has both its messages, once each, while the slow one has still not answered
        deadline = time.monotonic() + 2.5
        while len(fast) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sorted(got.headers["webhook-id"] for got in fast.received) == sorted([first.id, second.id])
        while {reread(first).status, reread(second).status} != {"succeeded"} and time.monotonic() < deadline:
            time.sleep(0.02)  # recorded once the receiver has answered
        assert reread(first).status == reread(second).status == "succeeded"
        assert reread(slow_message).status == "pending"
        handling.join(timeout=10)
        assert results == [{"batchItemFailures": []}]
        assert reread(slow_message).status == "succeeded"
        assert len(fast) == 2 and [a.status_code for a in reread(first).attempts] == [200]


def _made(status_code: int = 200) -> Any:
    from chalicelib.models.webhook_delivery import Attempt

    return Attempt(at=utc_now(), status_code=status_code, duration_ms=3, error=None)


def test_attempts_are_recorded_together_and_a_message_changed_meanwhile_alone(world: None) -> None:
    with running() as receiver:
        hook = register(receiver.url()).webhook
        first, second, third = message(hook), message(hook), message(hook)
        stale = reread(second)
        assert WebhookDeliveryRepository.record_attempt(second, _made(500), "pending", utc_now())

        # One group: the second message's record was read before another attempt was recorded on it
        written = WebhookDeliveryRepository.record_attempts(
            [
                (first, _made(), "succeeded", None),
                (stale, _made(), "succeeded", None),
                (third, _made(), "succeeded", None),
            ]
        )

        assert written == [True, False, True]
        assert reread(first).status == reread(third).status == "succeeded"
        assert [(a.status_code) for a in reread(second).attempts] == [500] and reread(second).status == "pending"


def test_attempts_that_end_while_another_is_written_are_written_in_one_group(
    world: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    with running() as receiver:
        hook = register(receiver.url()).webhook
        deliveries = [message(hook) for _ in range(5)]
        groups: list[int] = []
        slow_write = threading.Event()
        real = WebhookDeliveryRepository.record_attempts

        def observed(records: Any) -> list[bool]:
            groups.append(len(records))
            if len(groups) == 1:
                slow_write.wait(10)  # the first write takes a while: the other attempts end meanwhile
            return real(records)

        monkeypatch.setattr(WebhookDeliveryRepository, "record_attempts", staticmethod(observed))
        log = webhook_delivery.AttemptLog()
        answers: list[bool] = []

        def record(delivery: WebhookDelivery) -> None:
            answers.append(log.record(delivery, _made(), "succeeded", None))

        threads = [threading.Thread(target=record, args=(delivery,)) for delivery in deliveries]
        threads[0].start()
        deadline = time.monotonic() + 10
        while not groups and time.monotonic() < deadline:
            time.sleep(0.01)
        for thread in threads[1:]:
            thread.start()
        while len(log._waiting) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        slow_write.set()
        for thread in threads:
            thread.join(timeout=10)

        assert groups == [1, 4] and answers == [True] * 5
        assert all(reread(d).status == "succeeded" and len(reread(d).attempts) == 1 for d in deliveries)
