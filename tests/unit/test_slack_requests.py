"""The /slack edge on moto with Chalice's test client: off without a signing secret, the signing secret read from
Secrets Manager on AWS, commands parsed, and buttons that name no deployment ignored."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client
from slack_sdk.signature import SignatureVerifier

from chalicelib.aws import client
from chalicelib.errors import InvalidInput
from chalicelib.services import slack_commands


def _signed(api: Client, body: str, secret: str) -> Any:
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": str(SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)),
    }
    return api.http.post("/slack/events", headers=headers, body=body)


def test_without_a_signing_secret_every_slack_route_is_a_404_saying_so(
    tables: None, settings_env: Callable[..., None]
) -> None:
    settings_env(DEPLOYD_SLACK_SIGNING_SECRET=None, DEPLOYD_SLACK_SIGNING_SECRET_ARN=None)
    from app import app

    with Client(app) as api:
        for response in (
            _signed(api, urlencode({"command": "/deployd", "text": "help"}), "whatever"),
            api.http.get("/slack/oauth_redirect?code=c&state=s"),
        ):
            assert response.status_code == 404
            assert json.loads(response.body)["error"]["message"].startswith("Slack is not configured")


def test_on_aws_the_signing_secret_comes_from_secrets_manager(tables: None, settings_env: Callable[..., None]) -> None:
    # Given the signing secret as a Secrets Manager secret, named by its ARN (as the template passes it)
    arn = client("secretsmanager").create_secret(Name="slack-signing", SecretString="from-secrets-manager")["ARN"]
    settings_env(DEPLOYD_SLACK_SIGNING_SECRET=None, DEPLOYD_SLACK_SIGNING_SECRET_ARN=arn)
    from app import app

    body = urlencode(
        {
            "team_id": "T1",
            "user_id": "U1",
            "channel_id": "C1",
            "command": "/deployd",
            "text": "help",
            "response_url": "https://hooks.slack.com/commands/1",
        }
    )
    with Client(app) as api:
        # Then a request signed with the secret's value is verified (a workspace no one connected: told so)
        accepted = _signed(api, body, "from-secrets-manager")
        assert accepted.status_code == 200 and "not connected" in json.loads(accepted.body)["text"]
        # and one signed with anything else is refused
        assert _signed(api, body, "another-secret").status_code == 401


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("", ("help", [])),
        ("  HELP ", ("help", [])),
        ("deploy web", ("deploy", ["web"])),
        ("deploy web feature/login", ("deploy", ["web", "feature/login"])),
        ("rollback web 42", ("rollback", ["web", "42"])),
        ("subscribe all", ("subscribe", ["all"])),
    ],
)
def test_commands_parse(text: str, parsed: tuple[str, list[str]]) -> None:
    assert slack_commands.parse(text) == parsed


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("launch web", "Unknown command `launch`"),
        ("deploy", "Usage: `/deploy deploy <project> [branch]`"),
        ("cancel web", "Usage: `/deploy cancel <project> <deployment-id>`"),
        ("status a b", "Usage: `/deploy status <project>`"),
        ("deploy <!channel> x y", "Usage"),
    ],
)
def test_a_command_that_does_not_parse_says_how_to_use_it(text: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        slack_commands.parse(text, "/deploy")  # the app's own command name is echoed
    assert reason in refused.value.message


def test_an_unknown_command_is_escaped_in_the_answer() -> None:
    with pytest.raises(InvalidInput) as refused:
        slack_commands.parse("<!here> x")
    assert "&lt;!here&gt;" in refused.value.message and "<!here>" not in refused.value.message


def test_a_slash_command_form_must_name_its_workspace_user_channel_and_response_url() -> None:
    with pytest.raises(InvalidInput, match="team_id, response_url"):
        slack_commands.SlashCommand.from_form({"user_id": "U1", "channel_id": "C1", "text": "help"})


def test_interactions_that_are_not_deployd_buttons_are_ignored(tables: None) -> None:
    # No queue exists in this mock: anything that tried to enqueue would fail loudly.
    for payload in (
        {"type": "view_submission"},
        {"type": "block_actions", "actions": [{"action_id": "someone_else", "value": "1"}], "response_url": "x"},
        {"type": "block_actions", "actions": [{"action_id": "deployd_cancel", "value": "1; rm"}], "response_url": "x"},
        {"type": "block_actions", "actions": "not a list"},
    ):
        assert slack_commands.acknowledge_action(payload, "request-1") is None
