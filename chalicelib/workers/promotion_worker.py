"""The promotion queue's consumer: each step of a promotion (services.promotions), answered through its task token."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import executions
from chalicelib.services import promotions


def handle_promotion_step(message: dict[str, Any]) -> None:
    """Run the step the message names and answer its task. A step that raises is redelivered by the queue (each is
    idempotent); the state machine ends a promotion whose step never answers (Abandon)."""
    step = str(message["step"])
    project_id, promotion_id = int(message["project_id"]), int(message["promotion_id"])
    environment = str(message["environment"])
    if step == "abandon":  # no token: the state machine ends the execution itself
        promotions.abandon(project_id, promotion_id, environment, str(message.get("error") or "unknown error"))
        return
    to_deployment_id = int(message["to_deployment_id"])
    output: dict[str, Any]
    if step == "verify_and_switch":
        output = promotions.verify_and_switch(
            project_id, promotion_id, environment, to_deployment_id, str(message["candidate_url"])
        )
    # verify_candidate and switch: the two steps VerifyAndSwitch replaced, for executions started before
    elif step == "verify_candidate":
        output = promotions.verify_candidate(str(message["candidate_url"]), to_deployment_id)
    elif step == "switch":
        output = promotions.switch(project_id, promotion_id, environment, to_deployment_id, message["candidate"])
    elif step == "verify_live":
        live_url = message.get("live_url")
        live_url = str(live_url) if live_url else None
        auto_rollback = message.get("auto_rollback") is True
        output = promotions.verify_live(
            project_id, promotion_id, environment, live_url, to_deployment_id, auto_rollback
        )
    elif step == "finish":  # a step of the flow before VerifyLive finished promotions itself: executions it started
        output = promotions.finish(project_id, promotion_id, environment, message["live"])
    elif step == "revert":
        output = promotions.revert(project_id, promotion_id, environment, message["live"])
    else:
        executions.fail(str(message["task_token"]), "UnknownStep", f"no promotion step named {step!r}")
        return
    executions.succeed(str(message["task_token"]), output)
