"""The fan-out: each event becomes one stored message per webhook that wants it, with its body rendered in the
webhook's dialect, and one message on the delivery queue; fanning the same event out again makes nothing new."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.aws import client
from chalicelib.infra.resources import WEBHOOK_QUEUE
from chalicelib.models.attributes import utc_now
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import Environment
from chalicelib.models.project import Project
from chalicelib.models.webhook import Webhook
from chalicelib.models.webhook_delivery import Attempt, WebhookDelivery, WebhookDeliveryRepository, expiry, message_id
from chalicelib.services import webhook_fanout
from chalicelib.services.events import Event
from chalicelib.settings import get_settings
from chalicelib.vocabulary import EventType, Status

_ids = itertools.count(9000)


@pytest.fixture
def queue(tables: None) -> Callable[[], list[dict[str, Any]]]:
    """The delivery queue; calling it takes every message waiting on it."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=get_settings().resource_name(WEBHOOK_QUEUE.logical))["QueueUrl"]

    def take() -> list[dict[str, Any]]:
        taken: list[dict[str, Any]] = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                taken.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return taken

    return take


def _project(org_slug: str = "acme") -> Project:
    number = next(_ids)
    project = Project(
        id=number,
        org_slug=org_slug,
        slug=f"site-{number}",
        name=f"Site {number}",
        repo_url="https://example.com/site.git",
        default_branch="main",
        build_command="true",
        output_dir=".",
        build_timeout_seconds=600,
    )
    project.save()
    return project


def _event(project: Project, kind: EventType = EventType.STATUS_CHANGED, sequence: int = 2) -> Event:
    deployment = Deployment(
        id=next(_ids),
        project_id=project.id,
        seq=1,
        org_slug=project.org_slug,
        environment="production",
        branch="main",
        commit_sha="b" * 40,
        status=Status.CLONING,
        event_seq=sequence,
        created_at=utc_now(),
        updated_at=utc_now(),
    )
    deployment.save()
    previous = Status.QUEUED.value if kind == EventType.STATUS_CHANGED else None
    return Event(kind, sequence, deployment, deployment.updated_at, previous_status=previous)


def _hook(project: Project, **fields: Any) -> Webhook:
    fields.setdefault("org_slug", project.org_slug)
    hook = Webhook(id=next(_ids), url="https://hooks.example.com/in", secret="whsec_" + "A" * 32, **fields)
    hook.save()
    return hook


def _deliveries(hook: Webhook) -> list[WebhookDelivery]:
    return list(WebhookDelivery.query(hook.id))


def test_an_event_is_one_stored_message_per_wanting_webhook_and_one_message_on_the_queue(
    queue: Callable[[], list[dict[str, Any]]],
) -> None:
    # Given two webhooks of the organization: one for every event, one for this project's status changes
    project = _project()
    every = _hook(project)
    status_only = _hook(project, project_id=project.id, events=[EventType.STATUS_CHANGED.value])
    Environment(project_id=project.id, name="production", id=project.id).save()
    event = _event(project)
    # When the status change is fanned out
    assert webhook_fanout.fan_out([event]) == 2
    # Then each webhook has the message, with the event's id, and the queue asks to deliver each once
    expected_id = message_id(event.deployment.id, 2)
    for hook in (every, status_only):
        (delivery,) = _deliveries(hook)
        assert (delivery.id, delivery.event_type, delivery.status) == (
            expected_id,
            "deployment.status_changed",
            "pending",
        )
        assert delivery.attempts == []
        assert delivery.expires_at > utc_now().timestamp() + 29 * 86400  # kept 30 days
    assert sorted(queue(), key=lambda m: m["webhook_id"]) == [
        {"webhook_id": every.id, "delivery_id": expected_id},
        {"webhook_id": status_only.id, "delivery_id": expected_id},
    ]


def test_the_native_body_is_standard_webhooks_payload_with_the_deployment_the_sequence_and_the_project(
    queue: Callable[[], list[dict[str, Any]]],
) -> None:
    # Given a webhook and a status change of a deployment
    project = _project()
    hook = _hook(project)
    event = _event(project, sequence=3)
    # When it is fanned out
    webhook_fanout.fan_out([event])
    # Then the stored body is {type, timestamp, data} with the native deployment JSON
    body = json.loads(_deliveries(hook)[0].body)
    assert body["type"] == "deployment.status_changed"
    assert body["timestamp"] == event.occurred_at.isoformat()
    data = body["data"]
    assert data["sequence"] == 3
    assert data["previous_status"] == "queued"
    assert data["project"] == {"id": project.id, "slug": project.slug, "name": project.name}
    assert data["deployment"]["id"] == event.deployment.id
    assert data["deployment"]["status"] == "cloning"
    assert data["deployment"]["is_active"] is False
    assert set(data["deployment"]) >= {"commit_sha", "branch", "environment", "created_at", "deployment_url"}


def test_a_created_or_promoted_event_has_no_previous_status(queue: Callable[[], list[dict[str, Any]]]) -> None:
    project = _project()
    hook = _hook(project)
    webhook_fanout.fan_out([_event(project, EventType.CREATED, sequence=1)])
    (delivery,) = _deliveries(hook)
    assert "previous_status" not in json.loads(delivery.body)["data"]


def test_the_same_event_fanned_out_again_makes_no_second_message(queue: Callable[[], list[dict[str, Any]]]) -> None:
    # Given an event fanned out, and its message tried once by the delivery worker
    project = _project()
    hook = _hook(project)
    event = _event(project)
    webhook_fanout.fan_out([event])
    assert len(queue()) == 1
    delivery = _deliveries(hook)[0]
    delivery.update(actions=[WebhookDelivery.attempts.set([Attempt(at=utc_now(), status_code=500, duration_ms=3)])])
    # When the stream hands the same record over again
    assert webhook_fanout.fan_out([event]) == 0
    # Then there is still one message, untouched, and nothing more on the queue
    (again,) = _deliveries(hook)
    assert again.body == delivery.body and len(again.attempts) == 1
    assert queue() == []


def test_a_message_stored_but_never_enqueued_is_enqueued_when_the_event_comes_again(
    queue: Callable[[], list[dict[str, Any]]],
) -> None:
    # Given a message stored for an event, whose fan-out crashed before it reached the queue
    project = _project()
    hook = _hook(project)
    event = _event(project)
    stored = WebhookDelivery(
        webhook_id=hook.id,
        id=message_id(event.deployment.id, event.sequence),
        event_type=event.type.value,
        body="{}",
        expires_at=expiry(int(utc_now().timestamp())),
    )
    assert WebhookDeliveryRepository.create(stored)
    # When the stream retries the record
    webhook_fanout.fan_out([event])
    # Then the message is enqueued (delivery is at least once), and no second one is stored
    assert queue() == [{"webhook_id": hook.id, "delivery_id": stored.id}]
    assert len(_deliveries(hook)) == 1


def test_webhooks_that_do_not_want_the_event_get_nothing(queue: Callable[[], list[dict[str, Any]]]) -> None:
    # Given webhooks of another project, of other events only, an inactive one, and another organization's
    project = _project()
    other_project = _project()
    ignored = [
        _hook(project, project_id=other_project.id),
        _hook(project, events=[EventType.PROMOTED.value]),
        _hook(project, active=False),
        _hook(project, org_slug="someone-else"),
    ]
    # When a status change of the project is fanned out
    assert webhook_fanout.fan_out([_event(project)]) == 0
    # Then none of them has a message, and the queue is empty
    assert all(_deliveries(hook) == [] for hook in ignored)
    assert queue() == []
