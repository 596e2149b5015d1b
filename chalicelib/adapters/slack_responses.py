"""Answers to a Slack command or button through its response_url (slack_sdk's WebhookClient): Slack accepts up
to five within 30 minutes of the request, which is how the slow half of a command speaks after the ack."""

from __future__ import annotations

from typing import Any

from chalicelib.observability import logger

_TIMEOUT_SECONDS = 10


def respond(response_url: str, text: str, blocks: list[dict[str, Any]] | None = None, *, public: bool = False) -> bool:
    """Post an answer (ephemeral unless `public`) next to the original message, never replacing it; False when
    Slack did not take it (logged: there is no one else to tell)."""
    from slack_sdk.webhook import WebhookClient  # deferred: only the command worker answers this way

    try:
        answer = WebhookClient(response_url, timeout=_TIMEOUT_SECONDS).send(
            text=text,
            blocks=blocks,
            response_type="in_channel" if public else "ephemeral",
            replace_original=False,
        )
    except OSError as exc:
        logger.warning("Slack response_url unreachable", extra={"error_message": str(exc)})
        return False
    if answer.status_code != 200:
        logger.warning("Slack refused a response", extra={"status_code": answer.status_code, "body": answer.body})
        return False
    return True
