"""Live Slack messages on moto with the fake Slack Web API: one message per deployment and channel, edited in
place, never set back to an older state; Slack's refusals retried, or the installation disconnected."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.adapters import slack_queue
from chalicelib.adapters.slack_queue import Notification
from chalicelib.aws import client, queue_url
from chalicelib.infra.resources import CATALOGUE, SLACK_NOTIFY_QUEUE
from chalicelib.models.deployment import Deployment
from chalicelib.models.project import Project
from chalicelib.models.slack_installation import SlackInstallationRepository
from chalicelib.models.slack_live_message import SlackLiveMessageRepository
from chalicelib.models.slack_subscription import SlackSubscriptionRepository
from chalicelib.services import organizations, slack_installations, slack_live
from chalicelib.services.events import Event
from chalicelib.settings import get_settings
from chalicelib.vocabulary import EventType
from tests.support.fake_slack import FakeSlack, running
from tests.support.polling import wait_until

TEAM = "T0FAKE0001"
TOKEN = "xoxb-unit-token"


@pytest.fixture
def fake_slack(settings_env: Callable[..., None]) -> Iterator[FakeSlack]:
    with running() as fake:
        yield fake


@pytest.fixture
def slack(tables: Any, fake_slack: FakeSlack, settings_env: Callable[..., None]) -> FakeSlack:
    """An organization "acme" with the fake workspace connected, the catalogue's KMS keys and the Slack queue."""
    settings_env(DEPLOYD_SLACK_API_URL=fake_slack.api_url)
    kms = client("kms")
    for key in CATALOGUE.encryption_keys:
        key_id = kms.create_key(Description=key.description)["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=key.alias(get_settings().resource_name(key.logical)), TargetKeyId=key_id)
    client("sqs").create_queue(QueueName=get_settings().resource_name(SLACK_NOTIFY_QUEUE.logical))
    organizations.create("acme", None, "pro")
    slack_installations.install("acme", TEAM, "Fake Workspace", "UBOT", TOKEN)
    Project(
        id=7,
        org_slug="acme",
        slug="site",
        name="Site",
        repo_url="https://git.example/site.git",
        default_branch="main",
        output_dir=".",
        build_timeout_seconds=60,
    ).save()
    return fake_slack


def _deployment(status: str, event_seq: int, id: int = 42, project_id: int = 7, **fields: Any) -> Deployment:
    deployment = Deployment(
        id=id,
        project_id=project_id,
        seq=1,
        org_slug="acme",
        environment="production",
        branch="main",
        commit_sha="0123456789abcdef0123456789abcdef01234567",
        commit_message="Fix the pricing page",
        status=status,
        event_seq=event_seq,
        **fields,
    )
    deployment.save()
    return deployment


def _notification(sequence: int, channel: str = "C1", attempt: int = 0) -> Notification:
    return Notification("acme", 42, TEAM, channel, sequence, attempt)


def _queued() -> list[dict[str, Any]]:
    """The notifications visible on the Slack queue now (a delayed one is not, until its delay passed)."""
    answer = client("sqs").receive_message(
        QueueUrl=queue_url(SLACK_NOTIFY_QUEUE.logical), MaxNumberOfMessages=10, VisibilityTimeout=0
    )
    return [json.loads(m["Body"]) for m in answer.get("Messages", [])]


def _counts() -> dict[str, int]:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=queue_url(SLACK_NOTIFY_QUEUE.logical),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return {
        "visible": int(attributes["ApproximateNumberOfMessages"]),
        "delayed": int(attributes["ApproximateNumberOfMessagesDelayed"]),
    }


def _header(message: Any) -> str:
    return str(message.blocks[0]["text"]["text"])


def test_the_first_event_posts_the_message_and_later_ones_edit_it_in_place(slack: FakeSlack) -> None:
    # Given a queued deployment whose first event reaches a channel
    _deployment("queued", 1)
    slack_live.deliver(_notification(1))
    # When it builds, then goes live, and each event reaches the worker
    _deployment("building", 3)
    slack_live.deliver(_notification(3))
    _deployment("deployed", 6, deployment_url="http://site.test/")
    slack_live.deliver(_notification(6))
    # Then the channel holds one message, posted with the bot's token and edited twice, now showing the end
    assert len(slack.calls_of("chat.postMessage")) == 1 and len(slack.calls_of("chat.update")) == 2
    assert {call.token for call in slack.calls} == {TOKEN}
    (message,) = slack.messages.values()
    assert message.channel == "C1" and message.edits == 2
    assert _header(message) == "Site · Deployed" and "http://site.test/" in message.text


def test_a_late_notification_never_sets_the_message_back(slack: FakeSlack) -> None:
    # Given a message that shows the deployment's sixth event
    _deployment("deployed", 6, deployment_url="http://site.test/")
    slack_live.deliver(_notification(6))
    # When the notification of its third event arrives late, or the sixth's again
    slack_live.deliver(_notification(3))
    slack_live.deliver(_notification(6))
    # Then Slack is not called again
    assert len(slack.calls) == 1


def test_the_sequence_guard_refuses_an_older_state_and_a_second_holder(slack: FakeSlack) -> None:
    # Given a claimed message that shows sequence 4, rendered by worker A
    message = SlackLiveMessageRepository.claim("acme", 42, TEAM, "C1")
    assert SlackLiveMessageRepository.lease(message, "A", 4, 30)
    assert SlackLiveMessageRepository.rendered(message, "A", 4, "1.000001")
    # When anyone asks to render sequence 3, or 4 again
    # Then they are refused: the message shows a newer state
    assert not SlackLiveMessageRepository.lease(message, "B", 3, 30)
    assert not SlackLiveMessageRepository.lease(message, "B", 4, 30)
    # And while B renders sequence 6, C (sequence 7) must wait: one holder at a time
    assert SlackLiveMessageRepository.lease(message, "B", 6, 30)
    assert not SlackLiveMessageRepository.lease(message, "C", 7, 30)
    # And a holder whose lease was taken over cannot record its older state over a newer one
    assert not SlackLiveMessageRepository.rendered(message, "C", 7, "1.000001")
    assert SlackLiveMessageRepository.rendered(message, "B", 6, "1.000001")
    assert not SlackLiveMessageRepository.rendered(message, "B", 5, "1.000001")
    stored = SlackLiveMessageRepository.find(42, TEAM, "C1")
    assert stored is not None and stored.rendered_seq == 6 and stored.lease_holder is None
    # And a lease that ran out (its holder died) is taken over
    assert SlackLiveMessageRepository.lease(stored, "D", 7, -1)
    assert SlackLiveMessageRepository.lease(stored, "E", 7, 30)


def test_concurrent_first_events_post_one_message(slack: FakeSlack) -> None:
    from chalicelib.local.moto_compat import serialize_dynamodb

    serialize_dynamodb()  # moto applies a conditional write atomically only so (DynamoDB always does)
    # Given a deployment whose first notifications reach several workers at once
    _deployment("queued", 1)
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        slack_live.deliver(_notification(1))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly one message was posted; the others found it claimed (shown already, or busy: put back for later)
    assert len(slack.calls_of("chat.postMessage")) == 1 and len(slack.messages) == 1


def test_ratelimited_is_retried_after_the_wait_slack_asked_for(slack: FakeSlack) -> None:
    # Given Slack answers the next post ratelimited, Retry-After 2 s
    _deployment("queued", 1)
    slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=2)
    # When the worker delivers
    slack_live.deliver(_notification(1))
    # Then nothing is recorded as shown, and the notification is back on the queue as its second attempt
    stored = SlackLiveMessageRepository.find(42, TEAM, "C1")
    assert stored is not None and stored.ts is None and stored.rendered_seq == 0 and stored.lease_holder is None
    # (delayed by the Retry-After: not visible at once, visible within a few seconds)
    assert _counts() == {"visible": 0, "delayed": 1}
    # And the deployment's next event within the wait does not call Slack either: it waits too
    _deployment("cloning", 2)
    slack_live.deliver(_notification(2))
    assert len(slack.calls_of("chat.postMessage")) == 1 and _counts() == {"visible": 0, "delayed": 2}
    again = wait_until(lambda: len(_queued()) == 2 or None, timeout=10, what="the notifications to come back")
    assert again
    # And once the wait is over the retried attempt posts the message, showing the deployment now
    slack_live.deliver(_notification(1, attempt=1))
    assert len(slack.calls_of("chat.postMessage")) == 2 and len(slack.messages) == 1
    (message,) = slack.messages.values()
    assert _header(message) == "Site · Cloning"


def test_a_worker_that_read_the_message_before_slacks_refusal_waits_too(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a worker that read the deployment's message just before another worker's post was refused, Retry-After 60 s
    _deployment("queued", 1)
    SlackLiveMessageRepository.claim("acme", 42, TEAM, "C1")
    read_before = SlackLiveMessageRepository.find(42, TEAM, "C1")
    slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=60)
    slack_live.deliver(_notification(1))
    assert len(slack.calls_of("chat.postMessage")) == 1
    # When that worker renders the deployment's next event with its copy (which shows no wait)
    _deployment("cloning", 2)
    monkeypatch.setattr(SlackLiveMessageRepository, "find", staticmethod(lambda *_: read_before))
    delays: list[float] = []
    enqueue = slack_queue.enqueue
    monkeypatch.setattr(slack_queue, "enqueue", lambda n, delay=0: delays.append(delay) or enqueue(n, delay))
    slack_live.deliver(_notification(2))
    # Then the lease refuses it: Slack is not called, and its notification comes back after Slack's wait
    assert len(slack.calls_of("chat.postMessage")) == 1
    assert _counts() == {"visible": 0, "delayed": 2}
    assert len(delays) == 1 and 55 < delays[0] <= 60


def test_a_server_error_is_retried_and_given_up_after_the_last_delay(slack: FakeSlack) -> None:
    _deployment("queued", 1)
    slack.fail("chat.postMessage", "internal_error", status=500)
    slack_live.deliver(_notification(1))
    assert _counts() == {"visible": 0, "delayed": 1}  # back in 2 s
    slack.fail("chat.postMessage", "internal_error", status=503)
    slack_live.deliver(_notification(1, channel="C2", attempt=len(slack_live.RETRY_DELAYS_SECONDS)))
    assert _counts() == {"visible": 0, "delayed": 1}  # the last attempt failed: given up, nothing more queued


@pytest.mark.parametrize("error", ["token_revoked", "account_inactive"])
def test_an_uninstalled_app_disconnects_the_installation_and_stops(slack: FakeSlack, error: str) -> None:
    # Given the workspace uninstalled the app
    _deployment("queued", 1)
    slack.fail("chat.postMessage", error)
    # When the worker delivers
    slack_live.deliver(_notification(1))
    # Then the organization's installation is gone, nothing is retried, and later events call Slack no more
    assert SlackInstallationRepository.of_org("acme") is None
    assert _queued() == []
    _deployment("building", 3)
    slack_live.deliver(_notification(3))
    assert len(slack.calls) == 1


def test_notify_reaches_subscribed_and_announced_channels_only(slack: FakeSlack) -> None:
    # Given a channel subscribed to the project, one to every project, one to another project
    slack_live.subscribe("acme", TEAM, "C-SITE", 7)
    slack_live.subscribe("acme", TEAM, "C-ALL", None)
    Project(id=8, org_slug="acme", slug="other", name="Other", repo_url="x", default_branch="main",
            output_dir=".", build_timeout_seconds=60).save()  # fmt: skip
    slack_live.subscribe("acme", TEAM, "C-OTHER", 8)
    # And the deployment's message already in a fourth channel (announced by the deploy command)
    deployment = _deployment("queued", 1)
    slack_live.announce("acme", 42, TEAM, "C-DEPLOY")
    # When a change of the deployment is a status change and a promotion
    changed = _deployment("deployed", 5, deployment_url="http://site.test/")
    events = [
        Event(EventType.STATUS_CHANGED, 4, changed, changed.updated_at, previous_status="deploying"),
        Event(EventType.PROMOTED, 5, changed, changed.updated_at),
    ]
    assert deployment.id == changed.id
    enqueued = slack_live.notify(events)
    # Then each interested channel gets one notification, of the change's last sequence
    queued = _queued()
    assert enqueued == 3
    assert sorted((n["channel_id"], n["sequence"]) for n in queued) == [("C-ALL", 5), ("C-DEPLOY", 5), ("C-SITE", 5)]


def test_a_batch_of_many_deployments_reads_the_organizations_subscriptions_once(
    slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given channels subscribed to two projects of the organization and one to all of them
    Project(id=8, org_slug="acme", slug="other", name="Other", repo_url="x", default_branch="main",
            output_dir=".", build_timeout_seconds=60).save()  # fmt: skip
    slack_live.subscribe("acme", TEAM, "C-SITE", 7)
    slack_live.subscribe("acme", TEAM, "C-OTHER", 8)
    slack_live.subscribe("acme", TEAM, "C-ALL", None)
    read = []
    of_org = SlackSubscriptionRepository.of_org
    monkeypatch.setattr(SlackSubscriptionRepository, "of_org", lambda org: read.append(org) or of_org(org))
    # When one batch of the stream's records (one invocation of its consumer) changes a deployment of each project
    site = _deployment("deployed", 3)
    other = _deployment("deployed", 2, id=43, project_id=8)
    subscribed: dict[str, Any] = {}
    enqueued = sum(
        slack_live.notify(
            [Event(EventType.STATUS_CHANGED, d.event_seq, d, d.updated_at, previous_status="deploying")], subscribed
        )
        for d in (site, other)
    )
    # Then each deployment reaches its own project's channel and the channel of all, from one read of the subscriptions
    assert enqueued == 4
    assert sorted((n["deployment_id"], n["channel_id"]) for n in _queued()) == [
        (42, "C-ALL"), (42, "C-SITE"), (43, "C-ALL"), (43, "C-OTHER"),
    ]  # fmt: skip
    assert read == ["acme"]


def test_subscriptions_are_listed_and_unsubscribing_twice_says_so(slack: FakeSlack) -> None:
    slack_live.subscribe("acme", TEAM, "C1", 7)
    slack_live.subscribe("acme", TEAM, "C1", 7)  # again: nothing changes
    slack_live.subscribe("acme", TEAM, "C2", None)
    assert sorted(slack_live.subscriptions("acme"), key=lambda s: s["channel_id"]) == [
        {"channel_id": "C1", "project_id": 7},
        {"channel_id": "C2", "project_id": None},
    ]
    assert slack_live.unsubscribe("acme", TEAM, "C1", 7) is True
    assert slack_live.unsubscribe("acme", TEAM, "C1", 7) is False
    assert slack_live.unsubscribe("acme", TEAM, "C2", 7) is False  # subscribed to all, not to that project
    assert slack_live.subscriptions("acme") == [{"channel_id": "C2", "project_id": None}]
    # And another workspace connected instead: its channels are listed, the first workspace's are not
    slack_live.subscribe("acme", "T0OTHER", "C9", None)
    slack_installations.install("acme", "T0OTHER", "Other", "UBOT", "xoxb-other")
    assert slack_live.subscriptions("acme") == [{"channel_id": "C9", "project_id": None}]
