"""The event stream on the embedded stack, end to end: a webhook registered through the native API, a deployment
triggered, built and rolled back; the receiver on loopback gets one message per event (created, every status
move, promoted), each verified with the `standardwebhooks` library, numbered in order per deployment."""

from __future__ import annotations

import json
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook as Verifier

from chalicelib.services import deployments
from tests.support.polling import wait_until
from tests.support.receiver import Receiver, running


def _verified(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """Every message the receiver got, each verified as a Standard Webhooks receiver verifies it."""
    verifier = Verifier(secret)
    bodies = []
    for request in list(receiver.received):
        headers = {name.lower(): value for name, value in request.headers.items()}
        verifier.verify(request.body, headers)  # raises on a bad signature or timestamp
        assert headers["webhook-id"].startswith("msg_")
        bodies.append(json.loads(request.body))
    return bodies


def _of(bodies: list[dict[str, Any]], deployment_id: int) -> list[dict[str, Any]]:
    """One deployment's messages in sequence order, each once (delivery is at least once)."""
    unique = {body["data"]["sequence"]: body for body in bodies if body["data"]["deployment"]["id"] == deployment_id}
    return [unique[sequence] for sequence in sorted(unique)]


def test_a_deployment_built_and_rolled_back_reaches_the_receiver_as_verified_messages_numbered_in_order(
    stack, api_key, repo_factory, project_factory, pipeline
):
    # Given a project with one live deployment, and a receiver subscribed to every event of the organization
    org_slug, headers = api_key
    project = project_factory(org_slug, repo_factory()).project
    first = pipeline.deploy(org_slug, project.id)
    with running() as receiver:
        created = requests.post(
            f"{stack.api_url}/api/v1/public/webhooks", json={"url": receiver.url()}, headers=headers, timeout=10
        )
        assert created.status_code == 201, created.text
        secret = created.json()["data"]["secret"]

        # When a second deployment is triggered and goes live
        second = pipeline.deploy(org_slug, project.id)

        # Then the receiver got its created event, every status move and its promotion, numbered 1, 2, 3, ...
        def complete() -> list[dict[str, Any]]:
            mine = _of(_verified(receiver, secret), second.id)
            return mine if mine and mine[-1]["type"] == "deployment.promoted" else []

        bodies = wait_until(complete, timeout=30, what="the second deployment's promoted message")
        assert [body["data"]["sequence"] for body in bodies] == list(range(1, len(bodies) + 1))
        types = [body["type"] for body in bodies]
        assert types[0] == "deployment.created" and types[-1] == "deployment.promoted"
        moves = [(b["data"]["previous_status"], b["data"]["deployment"]["status"]) for b in bodies[1:-1]]
        assert set(types[1:-1]) == {"deployment.status_changed"}
        assert moves[0][0] == "queued" and moves[-1] == ("deploying", "deployed")
        assert all(before[1] == after[0] for before, after in zip(moves, moves[1:], strict=False))  # a chain
        assert bodies[0]["data"]["deployment"]["status"] == "queued"
        assert "previous_status" not in bodies[0]["data"]
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
            latest = _of(_verified(receiver, secret), first.id)
            return latest[-1] if latest and latest[-1]["data"]["sequence"] > first.event_seq else None

        promoted = wait_until(rolled_back, timeout=30, what="the rollback's promoted message")
        assert promoted["type"] == "deployment.promoted" and promoted["data"]["sequence"] == first.event_seq + 1
        assert promoted["data"]["deployment"]["is_active"] is True
