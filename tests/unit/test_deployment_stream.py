"""The deployments stream's Lambda handler (app.deployment_events): a record whose messages cannot be enqueued
is reported as a batch item failure by its sequence number, so Lambda reads the shard again from it; the other
records of the batch are handled."""

from __future__ import annotations

from typing import Any

from chalicelib.infra.resources import DEPLOYMENTS
from chalicelib.models.deployment import Deployment
from chalicelib.models.project import Project
from chalicelib.models.webhook import Webhook
from chalicelib.models.webhook_delivery import WebhookDelivery


def _created(deployment_id: int, org_slug: str, sequence_number: str) -> dict[str, Any]:
    image = Deployment(
        id=deployment_id,
        project_id=77,
        seq=1,
        org_slug=org_slug,
        environment="production",
        branch="main",
        commit_sha="c" * 40,
        status="queued",
        event_seq=1,
    ).serialize()
    return {
        "eventID": f"event-{sequence_number}",
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{DEPLOYMENTS.logical}/stream/x",
        "dynamodb": {"Keys": {"id": {"N": str(deployment_id)}}, "NewImage": image, "SequenceNumber": sequence_number},
    }


def test_a_record_whose_message_cannot_be_enqueued_is_retried_and_the_others_are_not(tables: None) -> None:
    from chalicelib.functions.deployment_events import deployment_events

    # Given an organization with a webhook, and no delivery queue to put its messages on
    Project(
        id=77,
        org_slug="acme",
        slug="site",
        name="Site",
        repo_url="https://example.com/s.git",
        default_branch="main",
        output_dir=".",
        build_timeout_seconds=60,
    ).save()
    Webhook(id=5, org_slug="acme", url="https://hooks.example.com/", secret="whsec_x").save()
    # When a batch holds a deployment of another organization (nobody subscribed) and one of acme's
    response = deployment_events({"Records": [_created(1, "quiet-org", "100"), _created(2, "acme", "101")]}, None)
    # Then only acme's record is reported failed, to be read again
    assert response == {"batchItemFailures": [{"itemIdentifier": "101"}]}
    # and its message is stored, never tried: the retry enqueues it
    (stored,) = WebhookDelivery.query(5)
    assert stored.status == "pending" and stored.attempts == []
