"""The Slack Web API adapter against the fake Slack: each of Slack's answers becomes the outcome the live
messages act on (posted, retry after a wait, uninstalled, refused), and no answer is a retry, never an exception."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from chalicelib.adapters import slack_api
from chalicelib.adapters.slack_api import Outcome
from chalicelib.local.stack import free_port
from tests.support.fake_slack import FakeSlack, running

BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}]


@pytest.fixture
def fake(settings_env: Callable[..., None]) -> Iterator[FakeSlack]:
    with running() as fake_slack:
        settings_env(DEPLOYD_SLACK_API_URL=fake_slack.api_url)
        yield fake_slack


def test_a_post_returns_its_ts_and_an_update_edits_that_message(fake: FakeSlack) -> None:
    posted = slack_api.post_message("xoxb-1", "C1", "hello", BLOCKS)
    assert posted.ok and posted.ts
    updated = slack_api.update_message("xoxb-1", "C1", posted.ts, "bye", BLOCKS)
    assert updated.ok and updated.ts == posted.ts
    assert fake.messages[("C1", posted.ts)].text == "bye" and fake.messages[("C1", posted.ts)].edits == 1
    assert fake.calls_of("chat.postMessage")[0].token == "xoxb-1"


def test_ratelimited_is_a_retry_with_slacks_retry_after(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", "ratelimited", status=429, retry_after=30)
    result = slack_api.post_message("xoxb-1", "C1", "hello", BLOCKS)
    assert (result.outcome, result.error, result.retry_after) == (Outcome.RETRY, "ratelimited", 30.0)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_is_a_retry_without_a_wait_of_its_own(fake: FakeSlack, status: int) -> None:
    fake.fail("chat.update", "internal_error", status=status)
    result = slack_api.update_message("xoxb-1", "C1", "1.1", "hello", BLOCKS)
    assert result.outcome == Outcome.RETRY and result.retry_after is None


@pytest.mark.parametrize("error", ["token_revoked", "account_inactive"])
def test_an_uninstalled_app_is_uninstalled(fake: FakeSlack, error: str) -> None:
    fake.fail("chat.postMessage", error)
    assert slack_api.post_message("xoxb-1", "C1", "hello", BLOCKS).outcome == Outcome.UNINSTALLED


def test_a_revoked_token_is_uninstalled_on_every_call(fake: FakeSlack) -> None:
    fake.revoke("xoxb-gone")
    assert slack_api.post_message("xoxb-gone", "C1", "hello", BLOCKS).outcome == Outcome.UNINSTALLED
    assert slack_api.update_message("xoxb-gone", "C1", "1.1", "hello", BLOCKS).outcome == Outcome.UNINSTALLED


def test_other_refusals_are_refused_not_retried(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", "not_in_channel")
    result = slack_api.post_message("xoxb-1", "C1", "hello", BLOCKS)
    assert (result.outcome, result.error) == (Outcome.REFUSED, "not_in_channel")
    missing = slack_api.update_message("xoxb-1", "C1", "9.9", "hello", BLOCKS)  # deleted in Slack
    assert (missing.outcome, missing.error) == (Outcome.REFUSED, "message_not_found")


def test_no_answer_at_all_is_a_retry(settings_env: Callable[..., None]) -> None:
    settings_env(DEPLOYD_SLACK_API_URL=f"http://127.0.0.1:{free_port()}/api/")  # nothing listens there
    result = slack_api.post_message("xoxb-1", "C1", "hello", BLOCKS)
    assert result.outcome == Outcome.RETRY and result.error and result.error.startswith("unreachable")
