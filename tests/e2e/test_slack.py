"""The Slack app end to end: the session stack is configured with a signing secret and a fake Slack Web API;
requests are signed with slack_sdk's own SignatureVerifier, as Slack signs them, and sent over real HTTP."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from slack_sdk.signature import SignatureVerifier

from tests.e2e.conftest import SLACK_SIGNING_SECRET, Api, RunningStack, gated_build
from tests.support.fake_slack import FakeSlack
from tests.support.git import GitRepo
from tests.support.polling import wait_until

STATIC_BUILD = "mkdir -p dist && cp index.html dist/"
ALICE, BOB = "U0ALICE01", "U0BOB0002"
CHANNEL = "C0DEPLOYS1"


class Workspace:
    """A Slack workspace as deployd sees it: signed requests from its users to /slack/events."""

    def __init__(self, stack: RunningStack, fake: FakeSlack, team_id: str) -> None:
        self.stack = stack
        self.fake = fake
        self.team_id = team_id

    def send(
        self,
        body: str,
        content_type: str = "application/x-www-form-urlencoded",
        timestamp: int | None = None,
        secret: str = SLACK_SIGNING_SECRET,
    ) -> requests.Response:
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": str(signature),
        }
        return requests.post(f"{self.stack.api}/slack/events", data=body.encode(), headers=headers, timeout=30)

    def command(self, text: str, user: str = ALICE, channel: str = CHANNEL) -> tuple[requests.Response, str]:
        response_url = self.fake.response_url()
        form = {
            "team_id": self.team_id,
            "team_domain": "acme",
            "channel_id": channel,
            "channel_name": "deploys",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/deployd",
            "text": text,
            "response_url": response_url,
            "trigger_id": uuid.uuid4().hex,
            "api_app_id": "A0FAKEAPP1",
        }
        return self.send(urlencode(form)), response_url

    def click(self, action_id: str, deployment_id: int, user: str = ALICE) -> tuple[requests.Response, str]:
        response_url = self.fake.response_url()
        payload = {
            "type": "block_actions",
            "team": {"id": self.team_id, "domain": "acme"},
            "user": {"id": user, "username": user.lower()},
            "channel": {"id": CHANNEL, "name": "deploys"},
            "container": {"type": "message", "message_ts": "1.000001", "channel_id": CHANNEL},
            "response_url": response_url,
            "trigger_id": uuid.uuid4().hex,
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "actions",
                    "type": "button",
                    "value": str(deployment_id),
                    "action_ts": str(time.time()),
                }
            ],
        }
        return self.send(urlencode({"payload": json.dumps(payload)})), response_url

    def answer(self, response_url: str) -> str:
        """The text of the (first) answer the command worker posted to `response_url`; it is ephemeral."""
        answers = wait_until(lambda: self.fake.responses_to(response_url), timeout=30, what="a response_url answer")
        assert answers[0]["response_type"] == "ephemeral"
        return str(answers[0]["text"])

    def ask(self, text: str, user: str = ALICE) -> str:
        response, response_url = self.command(text, user)
        assert response.status_code == 200 and response.text == "", response.text
        return self.answer(response_url)


def connect(api: Api, fake: FakeSlack, team_id: str | None = None) -> Workspace:
    """Connect a new workspace to the organization through the OAuth flow, as a browser would."""
    team_id = team_id or f"T{uuid.uuid4().hex[:9].upper()}"
    response = api.post("/integrations/slack")
    assert response.status_code == 201, response.text
    state = parse_qs(urlparse(response.json()["data"]["install_url"]).query)["state"][0]
    code = uuid.uuid4().hex
    fake.grant(code, f"xoxb-{team_id}", team_id, f"Team {team_id}")
    page = requests.get(f"{api.stack.api}/slack/oauth_redirect", params={"code": code, "state": state}, timeout=30)
    assert page.status_code == 200, page.text
    return Workspace(api.stack, fake, team_id)


@pytest.fixture
def workspace(
    stack: RunningStack, fake_slack: FakeSlack, org_api: Callable[..., Api]
) -> Callable[..., tuple[Api, Workspace]]:
    def make(plan: str = "pro") -> tuple[Api, Workspace]:
        api = org_api(plan)
        return api, connect(api, fake_slack)

    return make


def test_connecting_a_workspace_with_oauth(
    stack: RunningStack, fake_slack: FakeSlack, org_api: Callable[..., Api]
) -> None:
    # Given an organization that asks for its "Add to Slack" link
    api = org_api()
    created = api.post("/integrations/slack")
    assert created.status_code == 201, created.text
    install_url = urlparse(created.json()["data"]["install_url"])
    query = parse_qs(install_url.query)
    assert install_url.path.endswith("/oauth/v2/authorize")
    assert query["client_id"] == [fake_slack.client_id] and query["scope"] == ["commands,chat:write"]
    assert query["redirect_uri"] == [f"{stack.api}/slack/oauth_redirect"]
    state = query["state"][0]

    # When Slack redirects back with a forged state, nothing is stored
    fake_slack.grant("code-forged", "xoxb-forged", "T0FORGED01", "Forged")
    forged = requests.get(f"{stack.api}/slack/oauth_redirect", params={"code": "code-forged", "state": "x"}, timeout=30)
    assert forged.status_code == 400 and "text/html" in forged.headers["Content-Type"]
    assert api.get("/integrations/slack").status_code == 404

    # When Slack redirects back with the real state, the workspace is connected and the page names it
    fake_slack.grant("code-1", "xoxb-oauth-token", "T0OAUTH001", "Acme <Corp>")
    page = requests.get(f"{stack.api}/slack/oauth_redirect", params={"code": "code-1", "state": state}, timeout=30)
    assert page.status_code == 200 and "Acme &lt;Corp&gt;" in page.text
    exchange = fake_slack.calls_of("oauth.v2.access")[-1]
    assert exchange.params["redirect_uri"] == f"{stack.api}/slack/oauth_redirect"
    shown = api.get("/integrations/slack").json()["data"]
    assert shown["team_id"] == "T0OAUTH001" and shown["team_name"] == "Acme <Corp>"
    assert shown["allowed_user_ids"] is None and shown["subscriptions"] == [] and shown["installed_at"]

    # And the state is single use: the same redirect again is a 400 page and changes nothing
    fake_slack.grant("code-2", "xoxb-other", "T0OTHER001", "Other")
    again = requests.get(f"{stack.api}/slack/oauth_redirect", params={"code": "code-2", "state": state}, timeout=30)
    assert again.status_code == 400 and "already used" in again.text
    assert api.get("/integrations/slack").json()["data"]["team_id"] == "T0OAUTH001"

    # And who may act is chosen with PATCH (bad ids are the native 400), and DELETE disconnects
    refused = api.request("PATCH", "/integrations/slack", json={"allowed_user_ids": ["not a user"]})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_input"
    patched = api.request("PATCH", "/integrations/slack", json={"allowed_user_ids": [ALICE]})
    assert patched.status_code == 200 and patched.json()["data"]["allowed_user_ids"] == [ALICE]
    assert api.request("DELETE", "/integrations/slack").status_code == 204
    assert api.get("/integrations/slack").status_code == 404


def test_a_key_without_the_integrations_scope_cannot_connect(org_api: Callable[..., Api]) -> None:
    api = org_api(scopes=["projects:read", "integrations:read"])
    refused = api.post("/integrations/slack")
    assert refused.status_code == 403 and "integrations:write" in refused.json()["error"]["message"]
    assert api.get("/integrations/slack").status_code == 404  # may read: nothing is connected


def test_requests_are_refused_unless_signed_fresh_and_new(
    stack: RunningStack, fake_slack: FakeSlack, workspace: Callable[..., tuple[Api, Workspace]]
) -> None:
    api, slack = workspace()
    body = urlencode(
        {
            "team_id": slack.team_id,
            "user_id": ALICE,
            "channel_id": CHANNEL,
            "command": "/deployd",
            "text": "help",
            "response_url": fake_slack.response_url(),
        }
    )
    # A wrong secret, a stale timestamp: 401, nothing done
    assert slack.send(body, secret="not-the-secret").status_code == 401
    stale = slack.send(body, timestamp=int(time.time()) - 600)
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "unauthenticated"
    # A signed request is answered once; the very same request replayed within the window is refused
    stamp = int(time.time())
    first = slack.send(body, timestamp=stamp)
    assert first.status_code == 200 and "deploy <project> [branch]" in first.json()["text"]
    replay = slack.send(body, timestamp=stamp)
    assert replay.status_code == 401 and "replay" in replay.json()["error"]["message"]
    # The Events API's url_verification is answered with its challenge
    challenge = slack.send(
        json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"}), content_type="application/json"
    )
    assert challenge.status_code == 200 and challenge.json() == {"challenge": "c-123"}


def test_an_unconnected_workspace_and_a_disallowed_user_get_ephemeral_answers(
    stack: RunningStack, fake_slack: FakeSlack, workspace: Callable[..., tuple[Api, Workspace]]
) -> None:
    # A workspace no organization connected is told how to connect it
    stranger = Workspace(stack, fake_slack, "T0STRANGER")
    answer, _ = stranger.command("projects")
    assert answer.status_code == 200 and answer.json()["response_type"] == "ephemeral"
    assert "not connected" in answer.json()["text"] and "integrations:write" in answer.json()["text"]

    # A user the organization does not allow is refused, by command and by button, and nothing happens
    api, slack = workspace()
    assert api.request("PATCH", "/integrations/slack", json={"allowed_user_ids": [ALICE]}).status_code == 200
    refused, _ = slack.command("deploy anything", user=BOB)
    assert refused.status_code == 200 and "not allowed" in refused.json()["text"]
    clicked, response_url = slack.click("deployd_cancel", 1, user=BOB)
    assert clicked.status_code == 200
    assert "not allowed" in slack.answer(response_url)
    # Alice may
    assert "has no projects yet" in slack.ask("projects")


def test_every_command_from_deploy_to_rollback(
    fake_slack: FakeSlack, workspace: Callable[..., tuple[Api, Workspace]], git_repo: Callable[..., GitRepo]
) -> None:
    # Given a connected workspace and a project built from a real repository
    api, slack = workspace()
    repo = git_repo()
    first_sha = repo.commit({"index.html": "v1"}, "first version")
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    slug = project["slug"]

    # help and usage errors answer at once
    help_answer, _ = slack.command("help")
    assert "rollback <project> [deployment-id]" in help_answer.json()["text"]
    usage, _ = slack.command("cancel only-one-arg")
    assert "Usage: `/deployd cancel <project> <deployment-id>`" in usage.json()["text"]
    # an unknown project is an ephemeral reason from the worker
    assert "No project `nope`" in slack.ask("deploy nope")
    assert "nothing deployed yet" in slack.ask("projects")

    # deploy: triggered exactly as the native API triggers, by this Slack user, announced in the channel
    deployed = slack.ask(f"deploy {slug}")
    assert f"Deploying *{slug}* `main` {first_sha[:7]}" in deployed
    first_id = int(deployed.rsplit("#", 1)[1].rstrip("."))
    first = api.wait_for_status(project["id"], first_id, "deployed")
    assert first["triggered_by"] == f"slack:{slack.team_id}/{ALICE}"
    fake_slack.wait_for(
        lambda: any(
            c.params.get("channel") == CHANNEL and f"#{first_id}" in json.dumps(c.params)
            for c in fake_slack.calls_of("chat.postMessage")
        )
    )
    # an unknown branch is the native API's error, ephemerally
    assert "branch" in slack.ask(f"deploy {slug} no-such-branch").lower()

    # a second deployment from another commit, through the native API: triggered_by api
    repo.commit({"index.html": "v2"}, "second version")
    second = api.trigger(project["id"])
    assert second["triggered_by"] == "api"
    api.wait_for_status(project["id"], second["id"], "deployed")

    # status: what production serves and the last deployments
    status = slack.ask(f"status {slug}")
    assert f"Production serves #{second['id']}" in status and f"#{first_id} deployed" in status

    # cancel of a finished deployment: it already ended
    assert f"#{first_id} already ended: it is deployed" in slack.ask(f"cancel {slug} {first_id}")

    # rollback without an id: the previous deployed production deployment
    rolled = slack.ask(f"rollback {slug}")
    assert f"back to #{first_id}" in rolled
    assert api.get(f"/projects/{project['id']}").json()["data"]["active_deployment_id"] == first_id
    # and nothing older is left to roll back to
    assert "Nothing to roll back to" in slack.ask(f"rollback {slug}")

    # preview: a branch that has none, then one built through the native API
    assert "has no preview of branch `feature`" in slack.ask(f"preview {slug} feature")
    created = api.post(f"/projects/{project['id']}/previews", json={"branch": "main"})
    assert created.status_code == 202, created.text
    preview_url = created.json()["data"]["preview_url"]
    assert f"Preview of `main`: {preview_url} (latest build #" in slack.ask(f"preview {slug} main")

    # subscribe / unsubscribe this channel, seen by the native API
    assert f"every deployment of *{slug}*" in slack.ask(f"subscribe {slug}")
    assert "every deployment of every project" in slack.ask("subscribe all")
    subscriptions = api.get("/integrations/slack").json()["data"]["subscriptions"]
    assert sorted(subscriptions, key=lambda s: s["project_id"] or 0) == [
        {"channel_id": CHANNEL, "project_id": None},
        {"channel_id": CHANNEL, "project_id": project["id"]},
    ]
    assert "no longer gets" in slack.ask(f"unsubscribe {slug}")
    assert "was not subscribed" in slack.ask(f"unsubscribe {slug}")


def test_buttons_act_after_checking_everything_again(
    fake_slack: FakeSlack,
    workspace: Callable[..., tuple[Api, Workspace]],
    git_repo: Callable[..., GitRepo],
    shared_dir: Path,
) -> None:
    # Given a deployment whose build is running (it waits for a gate)
    api, slack = workspace()
    repo = git_repo()
    repo.commit({"index.html": "v1"}, "v1")
    gate = shared_dir / "gate"
    project = api.create_project(repo.path, build_command=gated_build(gate), output_dir="dist")
    running = api.trigger(project["id"])
    wait_until(lambda: "build-started" in api.logs(project["id"], running["id"]), what="the build to start")

    # View logs answers with the log's tail, ephemerally
    clicked, response_url = slack.click("deployd_logs", running["id"])
    assert clicked.status_code == 200 and clicked.text == ""
    assert "build-started" in slack.answer(response_url)

    # Cancel cancels it; a second Cancel answers that it already ended
    _, response_url = slack.click("deployd_cancel", running["id"])
    assert f"Cancelled deployment #{running['id']}" in slack.answer(response_url)
    assert api.deployment(project["id"], running["id"])["status"] == "cancelled"
    _, response_url = slack.click("deployd_cancel", running["id"])
    assert "already ended: it is cancelled" in slack.answer(response_url)

    # Roll back: the native rollback, with its rules (the build is no longer in flight)
    gate.touch()
    v1 = api.wait_for_status(project["id"], api.trigger(project["id"])["id"], "deployed")
    repo.commit({"index.html": "v2"}, "v2")
    api.wait_for_status(project["id"], api.trigger(project["id"])["id"], "deployed")
    _, response_url = slack.click("deployd_rollback", v1["id"])
    assert f"back to #{v1['id']}" in slack.answer(response_url)
    _, response_url = slack.click("deployd_rollback", v1["id"])
    assert "already the active deployment" in slack.answer(response_url)

    # A button naming another organization's deployment does nothing
    other_api, _ = workspace()
    other_repo = git_repo("other")
    other_repo.commit({"index.html": "x"}, "x")
    theirs = other_api.trigger(other_api.create_project(other_repo.path)["id"])
    _, response_url = slack.click("deployd_cancel", theirs["id"])
    assert "not one of this organization's" in slack.answer(response_url)
    assert other_api.deployment(theirs["project_id"], theirs["id"])["status"] == "queued"


def test_commands_are_acknowledged_within_3_seconds_while_a_build_runs(
    workspace: Callable[..., tuple[Api, Workspace]], git_repo: Callable[..., GitRepo], shared_dir: Path
) -> None:
    # Given a build that keeps running until the test lets it finish
    api, slack = workspace()
    repo = git_repo()
    repo.commit({"index.html": "v1"}, "v1")
    gate = shared_dir / "gate"
    project = api.create_project(repo.path, build_command=gated_build(gate), output_dir="dist")
    running = api.trigger(project["id"])
    api.wait_for_status(project["id"], running["id"], "building")
    try:
        # When commands arrive meanwhile, each is acknowledged well within Slack's 3 seconds
        for text in (f"status {project['slug']}", f"deploy {project['slug']}", "projects"):
            started = time.monotonic()
            response, response_url = slack.command(text)
            assert response.status_code == 200
            assert time.monotonic() - started < 3
            assert slack.answer(response_url)  # and the answer follows through response_url
    finally:
        gate.touch()


def test_deploy_counts_in_the_native_triggers_budget(
    workspace: Callable[..., tuple[Api, Workspace]], git_repo: Callable[..., GitRepo]
) -> None:
    # Given a workspace whose organization used up its per-minute trigger budget through the native API (the free
    # plan's 10: the budget is spent one request at a time)
    api, slack = workspace(plan="free")
    repo = git_repo()
    repo.commit({"index.html": "x"}, "v1")
    project = api.create_project(repo.path)  # a ledger project: nothing builds

    def exhaust() -> int:
        """Trigger until refused; the end of the budget's window (epoch seconds)."""
        while True:
            response = api.post(f"/projects/{project['id']}/deployments", json={})
            if response.status_code == 429:
                return int(response.headers["x-ratelimit-reset"])
            assert response.status_code == 201, response.text

    reset = exhaust()
    if reset - time.time() < 15:  # too close to a new window for the Slack request to land in this one
        wait_until(lambda: time.time() >= reset, timeout=20, what="the next rate-limit window")
        reset = exhaust()
    # When a deploy comes from Slack, it is refused with the reason, ephemerally, and nothing is created
    before = api.get(f"/projects/{project['id']}/deployments").json()["meta"]["total"]
    answer = slack.ask(f"deploy {project['slug']}")
    assert answer.startswith("Rate limited") and "Try again in" in answer
    assert api.get(f"/projects/{project['id']}/deployments").json()["meta"]["total"] == before
