"""What the embedded stack settles when it starts again from a snapshot (chalicelib.services.restart): the work in
flight ended with the process, and a snapshot taken in the middle of a write is made whole."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters import idempotency_records
from chalicelib.aws import client
from chalicelib.errors import IdempotencyKeyInUse
from chalicelib.infra.resources import WEBHOOK_QUEUE
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import Environment
from chalicelib.models.organization import OrganizationRepository
from chalicelib.models.project import Project
from chalicelib.models.registry import RegistryEntry, next_id
from chalicelib.models.slot_wait import SlotWait
from chalicelib.models.webhook_delivery import WebhookDelivery
from chalicelib.services import build_slots, restart
from chalicelib.settings import get_settings
from chalicelib.vocabulary import Status

_seq = itertools.count(1)


def _project() -> Project:
    project = Project(
        id=next_id("project"),
        org_slug="acme",
        slug="site",
        name="Site",
        repo_url="https://example.com/site.git",
        default_branch="main",
        build_command="true",
        output_dir=".",
        build_timeout_seconds=600,
        deployment_seq=9,
        deployment_count=4,
    )
    project.save()
    return project


def _deployment(project: Project, status: Status, **fields: Any) -> Deployment:
    deployment = Deployment(
        id=next_id("deployment"),
        project_id=project.id,
        seq=next(_seq),
        org_slug="acme",
        environment=fields.pop("environment", "production"),
        branch="main",
        commit_sha="a" * 40,
        status=status,
        event_seq=1,
        **fields,
    )
    deployment.save()
    return deployment


def test_a_restart_fails_what_was_in_flight_and_frees_every_slot(tables: None) -> None:
    # Given a free organization (one slot) whose snapshot was taken mid-write: a build holding the slot, a
    # deployment waiting in line for it, a deployment that ended but had not yet given its slot back (the counter
    # says two are held), an environment still naming an ended deployment as in flight, and the deployment
    # sequence behind the ids in use
    OrganizationRepository.create("acme", "Acme", "free")
    project = _project()
    building = _deployment(project, Status.BUILDING, slot_held=True)
    waiting = _deployment(project, Status.QUEUED)
    ended = _deployment(project, Status.DEPLOYED, slot_held=True)
    failed = _deployment(project, Status.FAILED, error_message="exit 1")
    external = _deployment(project, Status.DEPLOYING, managed=False)  # an outside deployer still reporting
    RegistryEntry(name="build-slots#acme", value=2).save()
    SlotWait(
        org_slug="acme",
        position=f"{1:015d}#{waiting.id:015d}",
        deployment_id=waiting.id,
        project_id=project.id,
        task_token="token-of-an-execution-that-is-gone",
    ).save()
    Environment(project_id=project.id, name="production", in_flight={building.id, waiting.id, failed.id}).save()
    preview = _deployment(project, Status.BUILDING, environment="preview-feature")
    Environment(project_id=project.id, name="preview-feature", in_flight={preview.id}, builder=preview.id).save()
    RegistryEntry(name="sequence#deployment", value=building.id).save()

    # When the stack settles after starting again
    assert restart.end_interrupted_work() == 3

    # Then both deployments deployd was building failed as interrupted; the ended ones, and the one an outside
    # deployer reports on, are as they were
    for deployment in (building, waiting, preview):
        after = DeploymentRepository.find(deployment.id)
        assert after is not None
        assert (after.status, after.error_message) == (Status.FAILED, restart.INTERRUPTED)
    statuses = [DeploymentRepository.find(d.id).status for d in (ended, failed, external)]  # type: ignore[union-attr]
    assert statuses == [Status.DEPLOYED, Status.FAILED, Status.DEPLOYING]
    # And no slot is held or waited for: the next deployment gets the organization's one slot at once
    assert build_slots.running("acme") == 0
    assert list(SlotWait.scan()) == []
    assert all(not d.slot_held for d in Deployment.scan())
    # And the environments have nothing in flight, so nothing blocks a rollback or a delete, and the preview's
    # build lock is free for its next build
    assert not Environment.get(project.id, "production").in_flight
    assert Environment.get(project.id, "preview-feature").builder is None
    # And the next id is a new one
    assert next_id("deployment") > external.id


def test_a_restart_asks_again_for_the_attempts_of_pending_webhook_messages(tables: None) -> None:
    # Given a snapshot holding a webhook message waiting for a retry an hour away, one whose retry was due while the
    # stack was down, and one delivered; and the fresh, empty queue of a started stack
    settings = get_settings()
    sqs = client("sqs")
    url = sqs.create_queue(QueueName=settings.resource_name(WEBHOOK_QUEUE.logical))["QueueUrl"]
    now = datetime.now(UTC)
    for message_id, status, due in (
        ("msg_later", "pending", now + timedelta(hours=1)),
        ("msg_overdue", "pending", now - timedelta(minutes=5)),
        ("msg_done", "succeeded", None),
    ):
        WebhookDelivery(
            webhook_id=1,
            id=message_id,
            event_type="deployment.created",
            body="{}",
            status=status,
            next_attempt_at=due,
            expires_at=int(now.timestamp()) + 86400,
        ).save()

    # When the stack settles after starting again
    assert restart.resume_webhook_deliveries() == 2

    # Then the overdue attempt is asked for now, and the later one when it is due (past SQS's longest delay)
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in received] == [{"webhook_id": 1, "delivery_id": "msg_overdue"}]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"


class _ProcessKilled(BaseException):
    """What the work of a request sees when its process is killed: it never finishes, nothing is cleaned up."""


def test_a_request_a_restart_cut_short_runs_when_retried_with_its_key(tables: None) -> None:
    # Given a request with an Idempotency-Key whose process died while it ran: a retry hears "still executing"
    scope = {"org": "acme", "key": "key-1", "idempotency_key": "retry-me"}

    def killed() -> dict[str, Any]:
        raise _ProcessKilled

    with pytest.raises(_ProcessKilled):
        idempotency_records.once(scope, "POST /projects {}", killed)
    with pytest.raises(IdempotencyKeyInUse):
        idempotency_records.once(scope, "POST /projects {}", lambda: {"id": 1})

    # When the stack settles after starting again
    restart.end_interrupted_work()

    # Then the retry runs the request (and a finished request's record is kept: its retry replays)
    first = idempotency_records.once(scope, "POST /projects {}", lambda: {"id": 1})
    assert (first.result, first.replayed) == ({"id": 1}, False)
    restart.end_interrupted_work()
    again = idempotency_records.once(scope, "POST /projects {}", lambda: {"id": 2})
    assert (again.result, again.replayed) == ({"id": 1}, True)


def test_a_restart_ends_the_promotions_that_were_running_and_clears_their_environments_line(tables: None) -> None:
    from chalicelib.models.promotion import Promotion, PromotionRepository, environment_key

    # Given a production deployment waiting for its promotion, which holds the line, and a rollback waiting behind
    OrganizationRepository.create("acme", "Acme", "pro")
    project = _project()
    live = _deployment(project, Status.DEPLOYED)
    candidate = _deployment(project, Status.DEPLOYING)
    running, waiting = next_id("promotion"), next_id("promotion")
    for promotion_id, status, target in ((running, "verifying", candidate), (waiting, "pending", live)):
        Promotion(
            project_id=project.id,
            id=promotion_id,
            environment="production",
            environment_key=environment_key(project.id, "production"),
            to_deployment_id=target.id,
            reason="deploy" if target is candidate else "rollback",
            status=status,
        ).save()
    Environment(
        project_id=project.id,
        name="production",
        active_deployment_id=live.id,
        in_flight={candidate.id},
        promoting=running,
        promotion_waiting={waiting},
    ).save()

    # When deployd starts again
    restart.end_interrupted_work()

    # Then both promotions ended failed, the deployment too, and the environment's line is free for the next one
    for promotion_id in (running, waiting):
        ended = PromotionRepository.get(project.id, promotion_id)
        assert (ended.status, ended.error_message) == ("failed", restart.INTERRUPTED)
    assert DeploymentRepository.get(candidate.id).status == Status.FAILED
    environment = Environment.get(project.id, "production", consistent_read=True)
    assert (environment.promoting, environment.promotion_waiting, environment.in_flight) == (None, None, None)
    assert environment.active_deployment_id == live.id


def test_a_restart_takes_back_the_url_a_deploying_build_had_published_for_its_promotion(tables: None) -> None:
    # Given a build that had published its own URL for its promotion to verify when the process stopped
    from chalicelib.adapters import sites
    from chalicelib.models.route import Route, RouteRepository

    OrganizationRepository.create("acme", "Acme", "pro")
    project = _project()
    candidate = _deployment(project, Status.DEPLOYING, deployment_url="http://sites.test/candidate/")
    label = sites.deployment_label(candidate.id, project.slug, project.org_slug)
    Route(host=label, artifact_prefix="artifacts/x/", deployment_id=candidate.id, project_id=project.id).save()

    # When the stack starts again
    restart.end_interrupted_work()

    # Then the build ended failed, with no URL, and nothing serves it there any more
    ended = DeploymentRepository.get(candidate.id)
    assert (ended.status, ended.deployment_url) == (Status.FAILED, None)
    assert RouteRepository.find(label) is None
