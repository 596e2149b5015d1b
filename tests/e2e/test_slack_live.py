"""Live Slack messages end to end: the session's embedded stack (pointed at a fake Slack Web API on loopback) builds
real repositories, and every deployment of a subscribed project shows up in the channel as one message edited in
place, whichever API triggered it; Slack's rate limits are waited out and an uninstalled app is disconnected.

The workspace is connected and channels subscribed through the services themselves (the OAuth flow and the slash
commands have their own tests), called from this process against the stack's local AWS.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Api, RunningStack, gated_build
from tests.support.aws import forget_aws_state
from tests.support.fake_slack import FakeSlack, Message
from tests.support.git import GitRepo
from tests.support.polling import wait_until

STATIC_BUILD = "mkdir -p dist && cp index.html dist/ && echo built"
PIPELINE_ORDER = ["Queued", "Cloning", "Building", "Uploading", "Deploying", "Deployed"]


@pytest.fixture(scope="module")
def stack_aws(stack: RunningStack, fake_slack: FakeSlack) -> Iterator[None]:
    """This process's services read and write the stack's local AWS (tables, KMS) and call the fake Slack while
    the module runs."""
    key_id, secret = stack.aws_key()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{stack.moto_port}")
        patch.setenv("AWS_ACCESS_KEY_ID", key_id)
        patch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        patch.delenv("AWS_SESSION_TOKEN", raising=False)
        patch.delenv("AWS_SECURITY_TOKEN", raising=False)
        patch.setenv("DEPLOYD_SLACK_API_URL", fake_slack.api_url)
        forget_aws_state()
        yield
    forget_aws_state()


class Workspace:
    """An organization with a Slack workspace of its own connected (its own team id and bot token)."""

    def __init__(self, api: Api, fake: FakeSlack) -> None:
        from chalicelib.services import slack_installations

        self.api = api
        self.fake = fake
        self.team_id = f"T{uuid.uuid4().hex[:10].upper()}"
        self.token = f"xoxb-{uuid.uuid4().hex}"
        slack_installations.install(api.org, self.team_id, "E2E Workspace", "UBOT", self.token)

    def subscribe(self, project_id: int | None) -> str:
        """A new channel subscribed to the project (None: to every project); its id."""
        from chalicelib.services import slack_live

        channel = f"C{uuid.uuid4().hex[:10].upper()}"
        slack_live.subscribe(self.api.org, self.team_id, channel, project_id)
        return channel

    def messages(self, channel: str) -> list[Message]:
        return [m for (c, _), m in list(self.fake.messages.items()) if c == channel]

    def message(self, channel: str, status: str, timeout: float = 60) -> Message:
        """The channel's one message, once it shows `status`."""

        def shown() -> Message | None:
            found = self.messages(channel)
            return found[0] if len(found) == 1 and _status(found[0]) == status else None

        return wait_until(shown, timeout, what=f"the message in {channel} to show {status}")

    def calls(self, method: str, channel: str) -> list[Any]:
        return [c for c in self.fake.calls_of(method) if c.params.get("channel") == channel]


@pytest.fixture
def workspace(stack_aws: None, org_api: Callable[..., Api], fake_slack: FakeSlack) -> Callable[[], Workspace]:
    return lambda: Workspace(org_api(), fake_slack)


def _status(message: Message | dict[str, Any]) -> str:
    blocks = message.blocks if isinstance(message, Message) else message["blocks"]
    return str(blocks[0]["text"]["text"]).rsplit(" · ", 1)[1]


def _buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    actions = next(b for b in blocks if b["type"] == "actions")
    return {b["action_id"]: b for b in actions["elements"]}


def test_a_deployment_is_one_message_edited_in_place_through_every_status_to_deployed(
    workspace: Callable[[], Workspace], git_repo: Callable[[str], GitRepo], shared_dir: Path
) -> None:
    # Given a channel subscribed to a project whose build waits for the test
    ws = workspace()
    repo = git_repo("site")
    sha = repo.commit({"index.html": "<h1>v1</h1>"}, "Homepage v1")
    gate = shared_dir / "gate"
    project = ws.api.create_project(repo.path, build_command=gated_build(gate), output_dir="dist")
    channel = ws.subscribe(project["id"])

    # When a deployment is triggered through the native API
    deployment = ws.api.trigger(project["id"], branch="main")

    # Then while it builds the channel shows one message: project, branch, short sha, commit, Cancel and View logs
    building = ws.message(channel, "Building")
    assert project["name"] in building.blocks[0]["text"]["text"]
    summary = repr(building.blocks)
    assert "`main`" in summary and f"`{sha[:7]}`" in summary and "*Homepage v1*" in summary
    running_buttons = _buttons(building.blocks)
    assert set(running_buttons) == {"deployd_cancel", "deployd_logs"}
    assert {b["value"] for b in running_buttons.values()} == {str(deployment["id"])}

    # When the build finishes
    gate.touch()
    done = ws.api.wait_for_status(project["id"], deployment["id"], "deployed")

    # Then the same message (posted once, with the bot's token) now shows deployed, its URL and Roll back
    final = ws.message(channel, "Deployed")
    posts, updates = ws.calls("chat.postMessage", channel), ws.calls("chat.update", channel)
    assert len(posts) == 1 and {c.token for c in posts + updates} == {ws.token}
    assert final.ts == building.ts and {c.params["ts"] for c in updates} == {final.ts}
    assert done["deployment_url"] and f"<{done['deployment_url']}|" in repr(final.blocks)
    rollback = _buttons(final.blocks)["deployd_rollback"]
    assert rollback["value"] == str(deployment["id"]) and rollback["confirm"]["confirm"]["text"] == "Roll back"
    # And it moved forward only, through the pipeline's statuses, never back to an older one
    shown = [_status(c.params) for c in posts + updates]
    assert shown == sorted(shown, key=PIPELINE_ORDER.index) and "Building" in shown


def test_a_failed_build_shows_the_error_and_the_end_of_its_log(
    workspace: Callable[[], Workspace], git_repo: Callable[[str], GitRepo]
) -> None:
    # Given a channel subscribed to every project, and a project whose build fails
    ws = workspace()
    repo = git_repo("broken")
    repo.commit({"index.html": "x"}, "Break the build")
    failing = "echo compiling; echo 'Error: cannot find module left-pad' >&2; exit 3"
    project = ws.api.create_project(repo.path, build_command=failing, output_dir="dist")
    channel = ws.subscribe(None)

    # When it is deployed
    deployment = ws.api.trigger(project["id"])
    failed = ws.api.wait_for_status(project["id"], deployment["id"], "failed")

    # Then the channel's message shows it failed, the error the API shows, and the end of the build log
    message = ws.message(channel, "Failed")
    text = repr(message.blocks)
    assert failed["error_message"] and failed["error_message"] in text
    log_block = next(b["text"]["text"] for b in message.blocks if "```" in b["text"].get("text", "") if "text" in b)
    assert "Error: cannot find module left-pad" in log_block
    assert set(_buttons(message.blocks)) == {"deployd_logs"}
    assert len(ws.calls("chat.postMessage", channel)) == 1


def test_deployments_triggered_through_the_native_api_and_the_github_dialect_both_reach_the_channel(
    workspace: Callable[[], Workspace], git_repo: Callable[[str], GitRepo]
) -> None:
    # Given a channel subscribed to one project, another to a second project
    ws = workspace()
    repo = git_repo("app")
    repo.commit({"index.html": "app"}, "App v1")
    project = ws.api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    other = ws.api.create_project(git_repo("other").path, build_command=STATIC_BUILD, output_dir="dist")
    channel = ws.subscribe(project["id"])
    elsewhere = ws.subscribe(other["id"])

    # When one deployment is triggered natively and one through GitHub's deployments API
    native = ws.api.trigger(project["id"])
    ws.api.wait_for_status(project["id"], native["id"], "deployed")
    created = ws.api.github("POST", f"/repos/{ws.api.org}/{project['slug']}/deployments", json={"ref": "main"})
    assert created.status_code == 201, created.text
    github_id = created.json()["id"]
    ws.api.wait_for_status(project["id"], github_id, "deployed")

    # Then the channel holds one message per deployment, each ending deployed
    def both_deployed() -> list[Message] | None:
        found = ws.messages(channel)
        return found if len(found) == 2 and all(_status(m) == "Deployed" for m in found) else None

    messages = wait_until(both_deployed, 60, what="both deployments' messages to show deployed")
    ids = {_buttons(m.blocks)["deployd_logs"]["value"] for m in messages}
    assert ids == {str(native["id"]), str(github_id)}
    assert len(ws.calls("chat.postMessage", channel)) == 2
    # And the channel subscribed to the other project heard of neither
    assert ws.messages(elsewhere) == [] and ws.calls("chat.postMessage", elsewhere) == []


def test_a_deploy_announced_in_a_subscribed_channel_is_still_one_message(
    workspace: Callable[[], Workspace], git_repo: Callable[[str], GitRepo]
) -> None:
    # Given a channel subscribed to a project
    from chalicelib.services import slack_live

    ws = workspace()
    repo = git_repo("announced")
    repo.commit({"index.html": "x"}, "v1")
    project = ws.api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    channel = ws.subscribe(project["id"])

    # When a deployment is triggered and, while the stack's worker posts its message, the deploy command announces
    # it in that same channel (as the command's worker does)
    deployment = ws.api.trigger(project["id"])
    slack_live.announce(ws.api.org, deployment["id"], ws.team_id, channel)
    ws.api.wait_for_status(project["id"], deployment["id"], "deployed")

    # Then the channel holds one message for it, edited to deployed
    ws.message(channel, "Deployed")
    assert len(ws.calls("chat.postMessage", channel)) == 1


def test_ratelimited_by_slack_the_message_is_posted_after_retry_after(
    workspace: Callable[[], Workspace], git_repo: Callable[[str], GitRepo], fake_slack: FakeSlack
) -> None:
    # Given Slack answers the next chat.postMessage 429 ratelimited, Retry-After 2 s
    ws = workspace()
    repo = git_repo("limited")
    repo.commit({"index.html": "x"}, "v1")
    project = ws.api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    channel = ws.subscribe(project["id"])
    fake_slack.fail("chat.postMessage", "ratelimited", status=429, retry_after=2)

    # When a deployment is triggered
    deployment = ws.api.trigger(project["id"])
    ws.api.wait_for_status(project["id"], deployment["id"], "deployed")

    # Then the message is posted once Slack's wait has passed, and still reaches deployed: one message
    ws.message(channel, "Deployed")
    refused, posted = ws.calls("chat.postMessage", channel)
    assert posted.at - refused.at >= 2
    assert len(ws.messages(channel)) == 1


def test_a_revoked_token_disconnects_the_installation_and_slack_is_not_called_again(
    workspace: Callable[[], Workspace], git_repo: Callable[[str], GitRepo], fake_slack: FakeSlack
) -> None:
    from chalicelib.models.slack_installation import SlackInstallationRepository

    # Given a connected workspace that uninstalled the app (Slack answers its token token_revoked)
    ws = workspace()
    repo = git_repo("revoked")
    repo.commit({"index.html": "x"}, "v1")
    project = ws.api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    channel = ws.subscribe(project["id"])
    fake_slack.revoke(ws.token)

    # When a deployment is triggered
    first = ws.api.trigger(project["id"])

    # Then the organization's installation is disconnected
    wait_until(lambda: SlackInstallationRepository.of_org(ws.api.org) is None, 60, what="the installation to go")
    ws.api.wait_for_status(project["id"], first["id"], "deployed")
    tried = len([c for c in fake_slack.calls if c.token == ws.token])
    assert tried >= 1 and ws.messages(channel) == []

    # And a later deployment makes no Slack call at all
    second = ws.api.trigger(project["id"])
    ws.api.wait_for_status(project["id"], second["id"], "deployed")
    wait_until(lambda: _queue_drained(ws.api.stack), 30, what="the Slack queue to drain")
    assert len([c for c in fake_slack.calls if c.token == ws.token]) == tried


def _queue_drained(stack: RunningStack) -> bool:
    from chalicelib.infra.resources import SLACK_NOTIFY_QUEUE
    from chalicelib.settings import get_settings

    sqs = stack.aws_client("sqs")
    url = sqs.get_queue_url(QueueName=get_settings().resource_name(SLACK_NOTIFY_QUEUE.logical))["QueueUrl"]
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return all(int(v) == 0 for v in counts.values())
