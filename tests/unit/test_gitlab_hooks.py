"""GitLab project hooks with AWS in moto: which deployment events become a Deployment Hook (running once, success,
failed, canceled), what an external deployer's body leaves out, the token rules of a PUT, targets refused at
registration, and GitLab's delivery headers."""

from __future__ import annotations

import itertools
import json
import ssl
import subprocess
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.addresses import NonPublicAddress
from chalicelib.aws import client
from chalicelib.infra.resources import WEBHOOK_QUEUE
from chalicelib.models.attributes import utc_now
from chalicelib.models.deployment import Deployment
from chalicelib.models.project import Project
from chalicelib.models.webhook import Webhook, WebhookRepository
from chalicelib.models.webhook_delivery import WebhookDelivery
from chalicelib.services import gitlab_hooks, webhook_delivery, webhook_fanout
from chalicelib.services.events import Event
from chalicelib.services.gitlab_params import HookFields
from chalicelib.settings import get_settings
from chalicelib.vocabulary import EventType, Status
from tests.support.receiver import Receiver

_ids = itertools.count(7000)


def _deployment(status: str, project_id: int = 1, **fields: Any) -> Deployment:
    fields.setdefault("org_slug", "acme")
    fields.setdefault("environment", "production")
    return Deployment(
        id=next(_ids),
        project_id=project_id,
        seq=1,
        branch="main",
        commit_sha="c" * 40,
        commit_message="Fix the header\n\nlonger text",
        status=status,
        event_seq=1,
        created_at=utc_now(),
        updated_at=utc_now(),
        **fields,
    )


def _moved(before: str, after: str) -> Event:
    return Event(EventType.STATUS_CHANGED, 2, _deployment(after), utc_now(), previous_status=before)


def test_a_built_deployment_is_told_running_once_then_its_end_and_never_created_or_promoted() -> None:
    # Given every event of a deployment deployd builds, from queued to deployed
    chain = [Status.QUEUED, Status.CLONING, Status.BUILDING, Status.UPLOADING, Status.DEPLOYING, Status.DEPLOYED]
    created = Event(EventType.CREATED, 1, _deployment(Status.QUEUED), utc_now())
    moves = [_moved(before, after) for before, after in zip(chain, chain[1:], strict=False)]
    promoted = Event(EventType.PROMOTED, 7, _deployment(Status.DEPLOYED), utc_now())
    # When GitLab's statuses are read off them
    told = [gitlab_hooks.status_told(event) for event in [created, *moves, promoted]]
    # Then only the first running and the success are news
    assert told == [None, "running", None, None, None, "success", None]
    # And a failure or a cancellation is told in GitLab's words, from whichever running step
    assert gitlab_hooks.status_told(_moved(Status.BUILDING, Status.FAILED)) == "failed"
    assert gitlab_hooks.status_told(_moved(Status.QUEUED, Status.CANCELLED)) == "canceled"
    # And an external deployer's deployment recorded as running is told when it is recorded
    reported = Event(EventType.CREATED, 1, _deployment(Status.DEPLOYING), utc_now())
    assert gitlab_hooks.status_told(reported) == "running"


@pytest.fixture
def world(tables: Any, settings_env: Callable[..., None]) -> Project:
    settings_env(DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS="false")
    client("sqs").create_queue(QueueName=get_settings().resource_name(WEBHOOK_QUEUE.logical))
    number = next(_ids)
    project = Project(
        id=number,
        org_slug="acme",
        slug=f"site-{number}",
        name=f"Site {number}",
        repo_url="https://gitlab.example.com/acme/site.git",
        default_branch="main",
        build_command=None,
        output_dir=".",
        build_timeout_seconds=600,
    )
    project.save()
    return project


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hook", "http://10.0.0.7/", "http://169.254.169.254/latest/"])
def test_a_hook_to_a_private_target_is_refused_and_not_stored(world: Project, url: str) -> None:
    # When a hook is registered for a loopback, private or metadata address
    with pytest.raises(NonPublicAddress) as refused:
        gitlab_hooks.create("acme", str(world.id), HookFields(url=url))
    # Then it is a 400 on `url`, and nothing was stored
    assert refused.value.field == "url"
    assert WebhookRepository.of_org("acme") == []


def test_a_new_url_without_a_token_drops_the_token_and_the_same_url_keeps_it(world: Project) -> None:
    # Given a hook with a token
    hook = gitlab_hooks.create(
        "acme", str(world.id), HookFields(url="https://93.184.215.14/a", token="t0k", switches={})
    )
    # When a PUT repeats its URL without a token (python-gitlab always sends the URL)
    kept = gitlab_hooks.update(
        "acme", str(world.id), hook.id, HookFields(url="https://93.184.215.14/a", switches={"push_events": False})
    )
    # Then the token stays
    assert kept.secret == "t0k"
    # When a PUT moves it to another URL without a token
    moved = gitlab_hooks.update("acme", str(world.id), hook.id, HookFields(url="https://93.184.215.14/b"))
    # Then the token is not sent to the new address
    assert moved.secret == "" and moved.url == "https://93.184.215.14/b"
    assert gitlab_hooks.options_of(moved)["push_events"] is False


def test_an_external_deployers_deployment_is_told_without_a_job_and_with_its_commit_page(world: Project) -> None:
    # Given a hook for deployment events, and a hook for pushes only, on the project
    told = gitlab_hooks.create(
        "acme",
        str(world.id),
        HookFields(url="https://93.184.215.14/in", token="t0k", switches={"deployment_events": True}),
    )
    silent = gitlab_hooks.create("acme", str(world.id), HookFields(url="https://93.184.215.14/push"))
    deployment = _deployment(Status.FAILED, project_id=world.id, managed=False, environment="review/feature-x")
    deployment.save()
    # When its failure is fanned out
    webhook_fanout.fan_out([Event(EventType.STATUS_CHANGED, 2, deployment, utc_now(), previous_status="deploying")])
    # Then the deployment hook has GitLab's body, with no job (deployd did not build it)
    (delivery,) = WebhookDelivery.query(told.id)
    body = json.loads(delivery.body)
    assert delivery.event_type == "deployment" and body["status"] == "failed"
    assert body["deployable_id"] is None and body["deployable_url"] is None
    assert body["environment"] == "review/feature-x"
    assert body["environment_slug"] == "review-feature-x" and body["environment_tier"] == "development"
    assert body["commit_url"] == f"https://gitlab.example.com/acme/site/commit/{'c' * 40}"
    assert body["commit_title"] == "Fix the header" and body["short_sha"] == "cccccccc"
    # And the hook without deployment events got nothing
    assert list(WebhookDelivery.query(silent.id)) == []
    # And the delivery carries GitLab's headers: UUIDs that stay the same on every attempt, and the token
    headers = webhook_delivery.headers(told, delivery, utc_now())
    assert headers["X-Gitlab-Event"] == "Deployment Hook" and headers["X-Gitlab-Token"] == "t0k"
    assert uuid.UUID(headers["X-Gitlab-Event-UUID"]) == uuid.UUID(
        webhook_delivery.headers(told, delivery, utc_now())["X-Gitlab-Event-UUID"]
    )
    assert uuid.UUID(headers["Idempotency-Key"]) != uuid.UUID(headers["X-Gitlab-Event-UUID"])
    assert "X-Gitlab-Token" not in webhook_delivery.headers(silent, delivery, utc_now())


def test_a_put_turns_a_hook_deployd_disabled_back_on(world: Project) -> None:
    # Given a hook deployd disabled after a 410
    hook = gitlab_hooks.create("acme", str(world.id), HookFields(url="https://93.184.215.14/in", token="t0k"))
    WebhookRepository.update(hook, [Webhook.active.set(False), Webhook.disabled_reason.set("410 Gone")])
    assert not gitlab_hooks.get("acme", str(world.id), hook.id).active
    # When the owner saves it again
    saved = gitlab_hooks.update("acme", str(world.id), hook.id, HookFields(url="https://93.184.215.14/in"))
    # Then it is delivered to again, with its token
    assert saved.active and saved.disabled_reason is None and saved.secret == "t0k"


@pytest.fixture
def self_signed(tmp_path: Path) -> ssl.SSLContext:
    """A server-side TLS context with a certificate for 127.0.0.1 that no authority signed."""
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def test_enable_ssl_verification_false_lets_a_self_signed_receiver_get_its_messages(
    world: Project, settings_env: Callable[..., None], self_signed: ssl.SSLContext
) -> None:
    # Given an https receiver on loopback with a self-signed certificate, and two hooks to it
    settings_env(DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS="true", DEPLOYD_WEBHOOK_RETRY_SECONDS="")
    receiver = Receiver()
    receiver._server.socket = self_signed.wrap_socket(receiver._server.socket, server_side=True)
    threading.Thread(target=receiver._server.serve_forever, daemon=True).start()
    try:
        url = f"https://127.0.0.1:{receiver.port}/hook"
        checked = gitlab_hooks.create("acme", str(world.id), HookFields(url=url))
        unchecked = gitlab_hooks.create(
            "acme", str(world.id), HookFields(url=url, switches={"enable_ssl_verification": False})
        )
        for hook in (checked, unchecked):
            WebhookDelivery(
                webhook_id=hook.id, id="msg_1_2", event_type="deployment", deployment_id=1, body="{}", expires_at=0
            ).save()
            # When deployd delivers a message to each
            webhook_delivery.deliver(hook.id, "msg_1_2")
        # Then the hook that checks certificates failed its attempt, and the one that does not was answered
        failed = WebhookDelivery.get(checked.id, "msg_1_2")
        assert failed.attempts[0].status_code is None and "CERTIFICATE_VERIFY_FAILED" in (
            failed.attempts[0].error or ""
        )
        delivered = WebhookDelivery.get(unchecked.id, "msg_1_2")
        assert delivered.status == "succeeded" and len(receiver) == 1
    finally:
        receiver._server.shutdown()
        receiver._server.server_close()
