"""The Slack app's endpoints under /slack: the one Request URL (`/slack/events`: slash commands, buttons, the
Events API's url_verification) and the OAuth redirect that connects a workspace (`/slack/oauth_redirect`).

Every request to /slack/events is verified (signature, timestamp, replay) before anything else; a command is
acknowledged within Slack's 3 seconds and its slow half runs on the command queue (services.slack_commands).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller, Empty, Html
from chalicelib.api.http import json_response, load_json, public_api_url
from chalicelib.errors import AlreadyExists, Conflict, DomainError, InvalidInput

if TYPE_CHECKING:
    from chalicelib.api.answers import SlackChallenge, SlackReply
    from chalicelib.services import slack_commands

dialect = dialects.slack
REDIRECT_PATH = "/slack/oauth_redirect"


def redirect_uri() -> str:
    return public_api_url(dialect.current_request) + REDIRECT_PATH


def _form(raw: bytes) -> dict[str, str]:
    try:
        pairs = parse_qs(raw.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise InvalidInput("the request body is not UTF-8 form data") from exc
    return {name: values[0] for name, values in pairs.items()}


def _reply(reply: slack_commands.Reply | None) -> Response:
    if reply is None:
        return Response(body="", status_code=200)
    body: SlackReply = {"response_type": "ephemeral", "text": reply.text}
    if reply.blocks:
        body["blocks"] = reply.blocks
    return json_response(200, body)


@dialect.route("/events", methods=["POST"], scope=None, answers={200: ("SlackReply", "SlackChallenge", Empty())})
def events(caller: Caller) -> Response:
    """Slack's Request URL: slash commands, buttons and the Events API, each signed by Slack."""
    from chalicelib.services import slack_commands

    request = dialect.current_request
    body = request.raw_body or b""
    raw = body.encode() if isinstance(body, str) else body  # the exact bytes Slack signed
    request_id = slack_commands.verify(
        raw, request.headers.get("x-slack-request-timestamp"), request.headers.get("x-slack-signature")
    )
    if "json" in (request.headers.get("content-type") or ""):  # the Events API
        event = load_json(raw)
        if isinstance(event, dict) and event.get("type") == "url_verification":
            challenge: SlackChallenge = {"challenge": str(event.get("challenge") or "")}
            return json_response(200, challenge)
        return Response(body="", status_code=200)  # deployd subscribes to no event; acknowledged
    form = _form(raw)
    if "payload" in form:  # interactivity: a button
        payload = load_json(form["payload"])
        if not isinstance(payload, dict):
            raise InvalidInput("payload must be a JSON object")
        slack_commands.acknowledge_action(payload, request_id)
        return Response(body="", status_code=200)
    if "command" in form:
        return _reply(slack_commands.acknowledge_command(slack_commands.SlashCommand.from_form(form), request_id))
    raise InvalidInput("neither a slash command, an interaction nor an event")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em}}</style></head>
<body><h1>{title}</h1><p>{message}</p></body></html>
"""


def _page(status: int, title: str, message: str) -> Response:
    body = PAGE.format(title=html.escape(title), message=html.escape(message))
    return Response(body=body, status_code=status, headers={"Content-Type": "text/html; charset=utf-8"})


@dialect.route(
    "/oauth_redirect",
    methods=["GET"],
    scope=None,
    query="SlackRedirect",
    answers={200: Html(), 400: Html(), 409: Html()},
)
def oauth_redirect(caller: Caller) -> Response:
    """Where Slack sends a person's browser back after "Add to Slack": a page saying whether it connected."""
    from chalicelib.services import slack_installations

    query: Any = dialect.current_request.query_params or {}
    if query.get("error"):  # the user cancelled on Slack's page, or Slack refused
        return _page(400, "Slack was not connected", f"Slack answered: {query.get('error')}. Nothing was stored.")
    try:
        connected = slack_installations.complete(query.get("code") or "", query.get("state") or "", redirect_uri())
    except (Conflict, AlreadyExists) as exc:
        return _page(409, "Slack was not connected", exc.message)
    except DomainError as exc:
        return _page(400, "Slack was not connected", exc.message)
    team = connected.installation.team_name
    return _page(
        200,
        f"Connected to {team}",
        f"deployd is now connected to the Slack workspace {team} for the organization {connected.org_slug}. "
        "Type /deployd help in any channel to start.",
    )
