"""Slack's OAuth v2 ("Add to Slack"): the authorize URL a user follows, and the code exchange (oauth.v2.access)
that hands deployd a workspace's bot token. Slack is reached at settings.slack_api_url (tests: a local fake)."""

from __future__ import annotations

from typing import NamedTuple
from urllib.parse import urlencode, urljoin

from chalicelib.aws import slack_client_secret
from chalicelib.errors import Unprocessable
from chalicelib.settings import get_settings

# What the bot needs: the slash command, and posting and editing its own messages.
BOT_SCOPES = ("commands", "chat:write")
_TIMEOUT_SECONDS = 10


class Grant(NamedTuple):
    """What a successful exchange hands over for one workspace."""

    team_id: str
    team_name: str
    bot_user_id: str
    bot_token: str


def authorize_url(state: str, redirect_uri: str) -> str:
    """Where "Add to Slack" sends the user: Slack's authorize page, next to its Web API (slack.com/oauth/v2/...)."""
    settings = get_settings()
    query = urlencode(
        {
            "client_id": settings.slack_client_id,
            "scope": ",".join(BOT_SCOPES),
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{urljoin(settings.slack_api_url, '../oauth/v2/authorize')}?{query}"


def exchange(code: str, redirect_uri: str) -> Grant:
    """Trade the redirect's code for the bot token; Unprocessable when Slack refuses (a used or bad code)."""
    from slack_sdk import WebClient  # deferred: only the OAuth redirect needs it
    from slack_sdk.errors import SlackApiError, SlackClientError

    settings = get_settings()
    web = WebClient(base_url=settings.slack_api_url, timeout=_TIMEOUT_SECONDS)
    try:
        answer = web.oauth_v2_access(
            client_id=settings.slack_client_id,
            client_secret=slack_client_secret(),
            code=code,
            redirect_uri=redirect_uri,
        )
    except SlackApiError as exc:
        raise Unprocessable(f"Slack refused the authorization: {exc.response.get('error', 'unknown error')}") from exc
    except (SlackClientError, OSError) as exc:
        raise Unprocessable(f"Slack could not be reached to finish the authorization: {exc}") from exc
    team = answer.get("team") or {}
    token, bot_user = answer.get("access_token"), answer.get("bot_user_id")
    if not (team.get("id") and token and bot_user):
        raise Unprocessable("Slack's answer carried no bot token; was the app installed with bot scopes?")
    return Grant(str(team["id"]), str(team.get("name") or team["id"]), str(bot_user), str(token))
