"""Slack's Web API as deployd calls it (chat.postMessage, chat.update), through slack_sdk's WebClient at
settings.slack_api_url. Every answer becomes a SlackResult the caller decides on; nothing here raises for a
refusal by Slack or an unreachable Slack."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, NamedTuple

from chalicelib.observability import logger
from chalicelib.settings import get_settings

CALL_TIMEOUT_SECONDS = 10
# The token no longer works because the app was uninstalled or the workspace is gone: nothing will succeed again.
UNINSTALLED_ERRORS = frozenset({"account_inactive", "token_revoked"})
# Slack's own temporary refusals, whatever the HTTP status says.
RETRYABLE_ERRORS = frozenset({"ratelimited", "rate_limited", "service_unavailable", "fatal_error", "internal_error"})


class Outcome(StrEnum):
    OK = "ok"
    RETRY = "retry"  # ratelimited (Retry-After), a 5xx, no answer: the same call may succeed later
    UNINSTALLED = "uninstalled"  # account_inactive, token_revoked
    REFUSED = "refused"  # anything else Slack refused (channel_not_found, not_in_channel, ...): retrying won't help


class SlackResult(NamedTuple):
    outcome: Outcome
    ts: str | None = None  # the message's ts (OK)
    error: str | None = None  # Slack's error code, or what went wrong on the way
    retry_after: float | None = None  # seconds Slack asked to wait (ratelimited)

    @property
    def ok(self) -> bool:
        return self.outcome == Outcome.OK


def post_message(token: str, channel: str, text: str, blocks: list[dict[str, Any]]) -> SlackResult:
    return _call("chat_postMessage", token, channel=channel, text=text, blocks=blocks, unfurl_links=False)


def update_message(token: str, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> SlackResult:
    return _call("chat_update", token, channel=channel, ts=ts, text=text, blocks=blocks)


def _client(token: str) -> Any:
    from slack_sdk import WebClient  # deferred: not every function needs it

    # WebClient retries a failed connection once itself; rate limits and 5xx come back here, for the queue.
    return WebClient(token=token, base_url=get_settings().slack_api_url, timeout=CALL_TIMEOUT_SECONDS)


def _call(method: str, token: str, **arguments: Any) -> SlackResult:
    from slack_sdk.errors import SlackApiError

    try:
        response = getattr(_client(token), method)(**arguments)
    except SlackApiError as exc:
        return _refusal(exc.response.status_code, exc.response.headers or {}, exc.response.data)
    except OSError as exc:  # no answer: refused connection, timeout, DNS (urllib's errors are OSErrors)
        logger.warning("Slack unreachable", extra={"slack_method": method, "error_message": str(exc)})
        return SlackResult(Outcome.RETRY, error=f"unreachable: {exc}")
    return SlackResult(Outcome.OK, ts=str(response.get("ts") or arguments.get("ts") or ""))


def _refusal(status: int, headers: dict[str, Any], data: Any) -> SlackResult:
    error = str(data.get("error") or f"http {status}") if isinstance(data, dict) else f"http {status}"
    retry_after = _seconds(_header(headers, "retry-after"))
    if status == 429 or status >= 500 or error in RETRYABLE_ERRORS:
        return SlackResult(Outcome.RETRY, error=error, retry_after=retry_after)
    if error in UNINSTALLED_ERRORS:
        return SlackResult(Outcome.UNINSTALLED, error=error)
    return SlackResult(Outcome.REFUSED, error=error)


def _header(headers: dict[str, Any], name: str) -> Any:
    for key, value in headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) and value else value
    return None


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None
