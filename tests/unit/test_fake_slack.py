"""The fake Slack answers slack_sdk's own clients as Slack does, so tests built on it test deployd, not the fake."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from tests.support.fake_slack import TEAM_ID, running


def test_oauth_exchange_messages_and_updates_through_slack_sdk() -> None:
    with running() as fake:
        fake.grant("code-1", "xoxb-1")
        web = WebClient(base_url=fake.api_url)
        access = web.oauth_v2_access(client_id=fake.client_id, client_secret=fake.client_secret, code="code-1")
        assert access["team"]["id"] == TEAM_ID and access["access_token"] == "xoxb-1"
        with pytest.raises(SlackApiError, match="invalid_code"):  # a code works once
            web.oauth_v2_access(client_id=fake.client_id, client_secret=fake.client_secret, code="code-1")

        bot = WebClient(token="xoxb-1", base_url=fake.api_url)
        posted = bot.chat_postMessage(channel="C1", text="queued", blocks=[{"type": "divider"}])
        bot.chat_update(channel="C1", ts=posted["ts"], text="deployed")
        message = fake.messages[("C1", posted["ts"])]
        assert (message.text, message.edits) == ("deployed", 1)

        fake.revoke("xoxb-1")
        with pytest.raises(SlackApiError, match="token_revoked"):
            bot.chat_update(channel="C1", ts=posted["ts"], text="again")

        url = fake.response_url()
        assert WebhookClient(url).send(text="hi", response_type="ephemeral").status_code == 200
        assert fake.responses_to(url) == [{"text": "hi", "response_type": "ephemeral"}]


def test_scripted_rate_limit_carries_retry_after() -> None:
    with running() as fake:
        fake.fail("chat.postMessage", "ratelimited", status=429, retry_after=2)
        bot = WebClient(token="xoxb-2", base_url=fake.api_url)
        with pytest.raises(SlackApiError) as raised:
            bot.chat_postMessage(channel="C1", text="x")
        assert raised.value.response.status_code == 429
        assert raised.value.response.headers["Retry-After"] == "2"
        assert bot.chat_postMessage(channel="C1", text="x")["ok"]  # the failure was for one call only
