"""The live message of a deployment as Slack shows it: Block Kit blocks and the notification text, from the
deployment as it is now. Pure: no reads, no calls. Every text is cut to Block Kit's limits
(../shared/reference/integrations.md, "Slack"), so a long commit message, error or log never makes Slack refuse
the message.

Buttons carry the deployment's id as their value; the /slack/events route (block_actions) acts on them after
checking everything again.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, NamedTuple

from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import PRODUCTION
from chalicelib.vocabulary import NON_TERMINAL, Status

CANCEL_ACTION = "deployd_cancel"
LOGS_ACTION = "deployd_logs"
ROLLBACK_ACTION = "deployd_rollback"

# Block Kit's limits.
HEADER_LIMIT = 150
SECTION_TEXT_LIMIT = 3000
FIELD_LIMIT = 2000
BUTTON_TEXT_LIMIT = 75
CONFIRM_TEXT_LIMIT = 300
URL_LIMIT = 3000
FALLBACK_TEXT_LIMIT = 3000  # chat.postMessage takes far more; a notification shows one line of it anyway
LOG_TAIL_LINES = 20
LOG_LINE_LIMIT = 300
SHORT_SHA = 7

_STATUS: dict[str, tuple[str, str]] = {
    Status.QUEUED: (":hourglass_flowing_sand:", "Queued"),
    Status.CLONING: (":arrows_counterclockwise:", "Cloning"),
    Status.BUILDING: (":hammer_and_wrench:", "Building"),
    Status.UPLOADING: (":arrow_up:", "Uploading"),
    Status.DEPLOYING: (":rocket:", "Deploying"),
    Status.DEPLOYED: (":white_check_mark:", "Deployed"),
    Status.FAILED: (":x:", "Failed"),
    Status.CANCELLED: (":no_entry_sign:", "Cancelled"),
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


class LiveView(NamedTuple):
    """What the message shows: the deployment now, its project, and (failed) the end of its build log."""

    deployment: Deployment
    project_name: str
    project_slug: str
    log_text: str | None = None


def render(view: LiveView) -> tuple[str, list[dict[str, Any]]]:
    """The message's notification text and its blocks."""
    d = view.deployment
    emoji, title = status_of(d.status)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"{view.project_name} · {title}", HEADER_LIMIT)},
        _summary(view, emoji, title),
    ]
    if d.status == Status.DEPLOYED and d.deployment_url:
        blocks.append(_section(f"*URL*\n{_link(d.deployment_url)}"))
    if d.status == Status.FAILED:
        blocks.append(_section(f"*Error*\n{escape(d.error_message or 'The deployment failed.')}"))
        tail = log_tail(view.log_text or "")
        if tail:
            blocks.append(_code_section("*End of the build log*", tail))
    blocks.append({"type": "actions", "block_id": f"deployd_actions_{d.id}", "elements": _buttons(d)})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _context(d)}]})
    text = f"{view.project_name}: deployment #{d.id} of {d.branch} ({short_sha(d.commit_sha)}) is {title.lower()}"
    if d.status == Status.DEPLOYED and d.deployment_url:
        text += f" at {d.deployment_url}"
    return truncate(text, FALLBACK_TEXT_LIMIT), blocks


def status_of(status: str) -> tuple[str, str]:
    return _STATUS.get(status, (":grey_question:", status.capitalize()))


def short_sha(sha: str) -> str:
    return sha[:SHORT_SHA]


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: &, < and > would otherwise start entities, links and mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut; an escaped entity is never cut in half."""
    if len(text) <= limit:
        return text
    return _PARTIAL_ENTITY.sub("", text[: limit - 1]) + "…"


def log_tail(log: str) -> str:
    """The last lines of a build log, without terminal colour codes, each line and the whole cut to fit."""
    lines = [_ANSI.sub("", line).rstrip() for line in log.splitlines()]
    lines = [line for line in lines if line][-LOG_TAIL_LINES:]
    return "\n".join(truncate(line, LOG_LINE_LIMIT) for line in lines)


def _summary(view: LiveView, emoji: str, title: str) -> dict[str, Any]:
    d = view.deployment
    subject = (d.commit_message or "").strip().splitlines()
    section = _section(f"*{escape(subject[0])}*" if subject else f"Deployment #{d.id}")
    section["fields"] = [
        _field(f"*Project*\n{escape(view.project_slug)}"),
        _field(f"*Branch*\n`{escape(d.branch)}`"),
        _field(f"*Commit*\n`{escape(short_sha(d.commit_sha))}`"),
        _field(f"*Status*\n{emoji} {title}"),
        _field(f"*Environment*\n{escape(d.environment)}"),
    ]
    return section


def _buttons(d: Deployment) -> list[dict[str, Any]]:
    logs = _button("View logs", LOGS_ACTION, d.id)
    if d.status in NON_TERMINAL:
        cancel = _button("Cancel", CANCEL_ACTION, d.id, style="danger")
        cancel["confirm"] = _confirm(
            "Cancel this deployment?",
            f"Deployment #{d.id} of `{escape(d.branch)}` stops now and is not published.",
            "Cancel it",
            "Let it run",
        )
        return [cancel, logs]
    if d.status == Status.DEPLOYED and d.environment == PRODUCTION:
        rollback = _button("Roll back", ROLLBACK_ACTION, d.id, style="danger")
        # The button makes production serve this deployment again: pressed on an earlier deployment's message
        # once a later one went live (on the live one, the route answers that it is already active).
        rollback["confirm"] = _confirm(
            f"Roll back to #{d.id}?",
            f"Production serves deployment #{d.id} (`{escape(short_sha(d.commit_sha))}`) again, instantly, "
            "without a new build.",
            "Roll back",
            "Keep it",
        )
        return [rollback, logs]
    return [logs]


def _context(d: Deployment) -> str:
    parts = [f"Deployment #{d.id}"]
    if d.triggered_by:
        parts.append(f"triggered by {escape(d.triggered_by)}")
    if d.build_time_seconds is not None and d.status in (Status.DEPLOYED, Status.FAILED):
        parts.append(f"built in {d.build_time_seconds} s")
    if d.updated_at is not None:
        parts.append(f"updated {_date(d.updated_at)}")
    return truncate(" · ".join(parts), SECTION_TEXT_LIMIT)


def _date(at: datetime) -> str:
    """Slack shows the time in each reader's own time zone; the fallback is UTC."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _link(url: str) -> str:
    if len(url) > URL_LIMIT or any(c in url for c in "<>| "):
        return escape(truncate(url, SECTION_TEXT_LIMIT))
    return f"<{url}|{escape(url)}>" if len(url) * 2 + 3 <= SECTION_TEXT_LIMIT else f"<{url}>"


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, SECTION_TEXT_LIMIT)}}


def _field(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": truncate(text, FIELD_LIMIT)}


def _code_section(title: str, code: str) -> dict[str, Any]:
    """A title and a code block that stays closed however long the code: whole lines are dropped from its front,
    keeping its end (the lines that say why a build failed)."""
    room = SECTION_TEXT_LIMIT - len(f"{title}\n```\n…\n\n```")
    kept: list[str] = []
    for line in reversed(escape(code.replace("```", "'''")).splitlines()):
        if len(line) + 1 > room:
            break
        kept.insert(0, line)
        room -= len(line) + 1
    body = "\n".join(kept)
    if len(kept) < len(code.splitlines()):
        body = "…\n" + body
    return {"type": "section", "text": {"type": "mrkdwn", "text": f"{title}\n```\n{body}\n```"}}


def _button(text: str, action_id: str, deployment_id: int, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": _plain(text, BUTTON_TEXT_LIMIT),
        "action_id": action_id,
        "value": str(deployment_id),
    }
    if style is not None:
        button["style"] = style
    return button


def _confirm(title: str, text: str, confirm: str, deny: str) -> dict[str, Any]:
    return {
        "title": _plain(title, 100),
        "text": {"type": "mrkdwn", "text": truncate(text, CONFIRM_TEXT_LIMIT)},
        "confirm": _plain(confirm, 30),
        "deny": _plain(deny, 30),
        "style": "danger",
    }
