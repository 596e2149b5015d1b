"""The event stream on the embedded stack: a deployment triggered and built becomes the messages of a webhook
registered for its organization, one per event (created, every status move, promoted), numbered in order, each
on the delivery queue; a rollback is one more promoted message."""

from __future__ import annotations

import json
from typing import Any

import requests

from chalicelib.aws import client, queue_url
from chalicelib.infra.resources import WEBHOOK_QUEUE
from chalicelib.models.registry import next_id
from chalicelib.models.webhook import Webhook
from chalicelib.models.webhook_delivery import WebhookDelivery
from chalicelib.services import deployments
from tests.support.polling import wait_until


def _bodies(hook: Webhook, deployment_id: int) -> list[dict[str, Any]]:
    """The webhook's messages about one deployment in sequence order, as stored for delivery."""
    found = [json.loads(d.body) for d in WebhookDelivery.query(hook.id, consistent_read=True)]
    mine = [body for body in found if body["data"]["deployment"]["id"] == deployment_id]
    return sorted(mine, key=lambda body: body["data"]["sequence"])


def _enqueued_or_taken(hook: Webhook, delivery_ids: set[str]) -> bool:
    """Whether every message was put on the delivery queue: seen waiting there, or already tried by a consumer.
    Read through to the end, hiding what it reads for 2 seconds only, so a consumer of the queue barely waits."""
    sqs = client("sqs")
    url = queue_url(WEBHOOK_QUEUE.logical)
    seen: set[str] = set()
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=2).get(
        "Messages", []
    ):
        for message in messages:
            body = json.loads(message["Body"])
            if body["webhook_id"] == hook.id:
                seen.add(body["delivery_id"])
    tried = {d.id for d in WebhookDelivery.query(hook.id, consistent_read=True) if d.attempts}
    return seen | tried >= delivery_ids


def test_a_deployment_built_and_rolled_back_is_one_message_per_event_numbered_in_order(
    stack, api_key, repo_factory, project_factory, pipeline
):
    # Given a project with one live deployment, and a webhook of its organization for every event (registered
    # while the stream may still be telling the first deployment's events: those may reach it too)
    org_slug, headers = api_key
    project = project_factory(org_slug, repo_factory()).project
    first = pipeline.deploy(org_slug, project.id)
    hook = Webhook(id=next_id("webhook"), org_slug=org_slug, url="https://hooks.example.com/in", secret="whsec_x")
    hook.save()

    # When a second deployment is triggered and goes live
    second = pipeline.deploy(org_slug, project.id)

    # Then the webhook has its created event, every status move and its promotion, numbered 1, 2, 3, ...
    def complete() -> list[dict[str, Any]]:
        bodies = _bodies(hook, second.id)
        return bodies if bodies and bodies[-1]["type"] == "deployment.promoted" else []

    bodies = wait_until(complete, timeout=30, what="the second deployment's promoted message")
    assert [body["data"]["sequence"] for body in bodies] == list(range(1, len(bodies) + 1))
    types = [body["type"] for body in bodies]
    assert types[0] == "deployment.created" and types[-1] == "deployment.promoted"
    moves = [(b["data"]["previous_status"], b["data"]["deployment"]["status"]) for b in bodies[1:-1]]
    assert set(types[1:-1]) == {"deployment.status_changed"}
    assert moves[0][0] == "queued" and moves[-1] == ("deploying", "deployed")
    assert all(before[1] == after[0] for before, after in zip(moves, moves[1:], strict=False))  # a chain
    assert bodies[0]["data"]["deployment"]["status"] == "queued"
    assert bodies[-1]["data"]["project"] == {"id": project.id, "slug": project.slug, "name": project.name}
    # and the promoted message shows the deployment exactly as the native API's GET does
    got = requests.get(
        f"{stack.api_url}/api/v1/public/projects/{project.id}/deployments/{second.id}", headers=headers, timeout=10
    )
    assert bodies[-1]["data"]["deployment"] == got.json()["data"]

    # When production rolls back to the first deployment
    deployments.rollback(org_slug, project.id, first.id)

    # Then the first deployment's promotion is one more message, numbered after all of its earlier events
    def rolled_back() -> dict[str, Any] | None:
        latest = _bodies(hook, first.id)
        return latest[-1] if latest and latest[-1]["data"]["sequence"] > first.event_seq else None

    promoted = wait_until(rolled_back, timeout=30, what="the rollback's promoted message")
    assert promoted["type"] == "deployment.promoted" and promoted["data"]["sequence"] == first.event_seq + 1
    assert promoted["data"]["deployment"]["is_active"] is True
    # and every message was put on the delivery queue
    ids = {d.id for d in WebhookDelivery.query(hook.id, consistent_read=True)}
    assert wait_until(lambda: _enqueued_or_taken(hook, ids), timeout=10, what="every message on the queue")
