"""The live message's blocks: what a channel sees at each stage of a deployment, its buttons, and Block Kit's limits
held whatever the deployment's texts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.models.deployment import Deployment
from chalicelib.services.slack_live import CANCEL_ACTION, LOGS_ACTION, ROLLBACK_ACTION
from chalicelib.services.slack_live_blocks import LiveView, render


def _deployment(status: str, **fields: Any) -> Deployment:
    values: dict[str, Any] = {
        "id": 42,
        "project_id": 7,
        "seq": 3,
        "org_slug": "acme",
        "environment": "production",
        "branch": "main",
        "commit_sha": "0123456789abcdef0123456789abcdef01234567",
        "commit_message": "Fix the pricing page\n\nLonger body that is not shown",
        "status": status,
        "triggered_by": "slack:T1/U1",
        "created_at": datetime(2026, 11, 29, 12, 0, tzinfo=UTC),
        "updated_at": datetime(2026, 11, 29, 12, 1, tzinfo=UTC),
        "event_seq": 2,
    }
    values.update(fields)
    return Deployment(**values)


def _texts(blocks: list[dict[str, Any]]) -> str:
    return repr(blocks)


def _buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    actions = [b for b in blocks if b["type"] == "actions"]
    assert len(actions) == 1
    return {element["action_id"]: element for element in actions[0]["elements"]}


def _check_limits(blocks: list[dict[str, Any]]) -> None:
    """Block Kit's limits (integrations.md): header 150, section text 3000 and 10 fields of 2000, button text 75
    and value 2000, block_id 255, 50 blocks."""
    assert len(blocks) <= 50
    for block in blocks:
        assert len(block.get("block_id", "")) <= 255
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "actions":
            assert len(block["elements"]) <= 25
            for button in block["elements"]:
                assert len(button["text"]["text"]) <= 75 and len(button["value"]) <= 2000
                if "confirm" in button:
                    assert len(button["confirm"]["title"]["text"]) <= 100
                    assert len(button["confirm"]["text"]["text"]) <= 300
        if block["type"] == "context":
            assert all(len(e["text"]) <= 3000 for e in block["elements"])


def test_a_running_deployment_shows_project_branch_commit_status_and_cancel_and_logs_buttons() -> None:
    # Given a deployment that is building
    view = LiveView(_deployment("building"), "Marketing site", "marketing-site")
    # When its message is rendered
    text, blocks = render(view)
    # Then it names the project, the status, the branch, the short sha and the commit's subject line
    header = {"type": "plain_text", "text": "Marketing site · Building", "emoji": True}
    assert blocks[0] == {"type": "header", "text": header}
    summary = blocks[1]
    assert summary["text"]["text"] == "*Fix the pricing page*"
    fields = [f["text"] for f in summary["fields"]]
    assert "*Branch*\n`main`" in fields and "*Commit*\n`0123456`" in fields
    assert any(f.startswith("*Status*") and "Building" in f for f in fields)
    assert "Longer body" not in _texts(blocks)
    # And it offers Cancel (with a confirm dialog) and View logs, both naming the deployment, and no Roll back
    buttons = _buttons(blocks)
    assert set(buttons) == {CANCEL_ACTION, LOGS_ACTION}
    assert buttons[CANCEL_ACTION]["value"] == "42" and buttons[LOGS_ACTION]["value"] == "42"
    assert buttons[CANCEL_ACTION]["style"] == "danger" and "confirm" in buttons[CANCEL_ACTION]
    # And the notification text says the same in one line
    assert text == "Marketing site: deployment #42 of main (0123456) is building"
    assert "slack:T1/U1" in _texts(blocks)
    _check_limits(blocks)


def test_a_deployed_production_deployment_shows_its_url_and_a_roll_back_button_with_a_confirm_dialog() -> None:
    # Given a deployment that went live in production
    url = "http://127.0.0.1:8001/marketing-site-42/"
    view = LiveView(_deployment("deployed", deployment_url=url, build_time_seconds=12), "Marketing site", "mkt")
    # When its message is rendered
    text, blocks = render(view)
    # Then it shows the URL as a link, and Roll back (danger, confirm dialog) instead of Cancel
    assert blocks[0]["text"]["text"] == "Marketing site · Deployed"
    assert f"<{url}|{url}>" in _texts(blocks)
    buttons = _buttons(blocks)
    assert set(buttons) == {ROLLBACK_ACTION, LOGS_ACTION}
    rollback = buttons[ROLLBACK_ACTION]
    assert rollback["value"] == "42" and rollback["style"] == "danger"
    confirm = rollback["confirm"]
    assert confirm["title"]["text"] == "Roll back to #42?" and confirm["confirm"]["text"] == "Roll back"
    assert confirm["deny"]["text"] and confirm["text"]["text"].startswith(
        "Production serves deployment #42 (`0123456`)"
    )
    assert text.endswith(f"is deployed at {url}")
    _check_limits(blocks)


def test_a_preview_that_went_live_offers_no_roll_back() -> None:
    view = LiveView(_deployment("deployed", environment="preview", deployment_url="http://x.test/"), "Site", "site")
    _, blocks = render(view)
    assert set(_buttons(blocks)) == {LOGS_ACTION}


def test_a_failed_deployment_shows_the_error_and_the_end_of_its_log() -> None:
    # Given a failed build whose log ends with why it failed
    log = "".join(f"line {n}\n" for n in range(1, 101)) + "\x1b[31mnpm ERR! missing script: build\x1b[0m\n"
    deployment = _deployment("failed", error_message="build command exited with status 1")
    # When its message is rendered
    _, blocks = render(LiveView(deployment, "Site", "site", log))
    # Then it shows the error, and the log's last lines (without colour codes) in a code block
    rendered = _texts(blocks)
    assert "*Error*\\nbuild command exited with status 1" in rendered
    tail = next(b["text"]["text"] for b in blocks if b["type"] == "section" and "```" in b["text"]["text"])
    assert tail.endswith("npm ERR! missing script: build\n```")
    assert "line 100" in tail and "line 50\n" not in tail and "\x1b" not in tail
    # And no Cancel nor Roll back: only View logs
    assert set(_buttons(blocks)) == {LOGS_ACTION}
    _check_limits(blocks)


def test_every_text_is_cut_to_block_kits_limits_and_escaped() -> None:
    # Given a deployment whose every text is far too long, and holds Slack's special characters
    huge = "<!channel> & <http://evil.test|click> " * 400
    deployment = _deployment(
        "failed",
        commit_message=huge,
        branch="b" * 250,
        environment="e" * 2500,
        error_message=huge,
        triggered_by=huge,
        deployment_url="http://x.test/" + "a" * 4000,
    )
    log = "\n".join(f"{n} {huge[:1000]}" for n in range(200))
    # When its message is rendered
    text, blocks = render(LiveView(deployment, "P" * 400, "p" * 400, log))
    # Then every block is within Block Kit's limits and no mention or link got through unescaped
    _check_limits(blocks)
    assert "<!channel>" not in _texts(blocks) and "<http://evil.test" not in _texts(blocks)
    assert "&lt;!channel&gt; &amp;" in _texts(blocks)
    # And the cut texts end with an ellipsis, the log's code block stays closed
    assert blocks[0]["text"]["text"].endswith("…")
    tail = next(b["text"]["text"] for b in blocks if b["type"] == "section" and "```" in b["text"]["text"])
    assert tail.count("```") == 2 and tail.endswith("```")
    assert len(text) <= 3000
