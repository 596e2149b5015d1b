"""Step Functions calls: start and stop a deployment's execution, and answer task tokens."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters import codebuild
from chalicelib.aws import client
from chalicelib.observability import logger
from chalicelib.settings import get_settings


def execution_name(deployment_id: int) -> str:
    return f"deployment-{deployment_id}"


def build_task_limits(build_timeout_seconds: int) -> tuple[int, int]:
    """(timeout_seconds, heartbeat_seconds) of the state machine's Build task.

    The runner enforces the build's own limit; the timeout is the backstop that also covers clone, upload
    and waiting. A local build heartbeats while it runs. A CodeBuild build has nobody to heartbeat once it
    started: CodeBuild's own time limit and its guaranteed final state-change event are its liveness, so
    the heartbeat is set just below the timeout (which it must stay under) and the timeout is the backstop.
    """
    settings = get_settings()
    margin = settings.pipeline_timeout_margin_seconds
    if settings.build_runner == "codebuild":
        timeout = codebuild.time_limit_seconds(build_timeout_seconds) + margin
        return timeout, timeout - 1
    timeout = build_timeout_seconds + margin
    return timeout, max(1, min(settings.heartbeat_seconds, timeout - 1))


def execution_arn(deployment_id: int) -> str:
    """The ARN the deployment's execution has (or will have): its state machine's, as an execution, and its name."""
    machine = get_settings().state_machine_arn
    return f"{machine.replace(':stateMachine:', ':execution:', 1)}:{execution_name(deployment_id)}"


def start(
    deployment_id: int, project_id: int, environment: str, build_timeout_seconds: int, slot_held: bool = False
) -> str:
    """Start the deployment's execution; its ARN. `slot_held`: the deployment took a build slot as it was
    recorded, and its execution goes straight to the build."""
    settings = get_settings()
    timeout_seconds, heartbeat_seconds = build_task_limits(build_timeout_seconds)
    payload = {
        "deployment_id": str(deployment_id),
        "project_id": str(project_id),
        "environment": environment,
        "timeout_seconds": timeout_seconds,
        "heartbeat_seconds": heartbeat_seconds,
        "in_flight_ids": [str(deployment_id)],
    }
    if slot_held:
        payload["slot_held"] = True
    response = client("stepfunctions").start_execution(
        stateMachineArn=settings.state_machine_arn,
        name=execution_name(deployment_id),
        input=json.dumps(payload),
    )
    return str(response["executionArn"])


def stop(execution_arn: str, cause: str) -> None:
    """Stop an execution; one that already ended is fine, the deployment record is authoritative."""
    sfn = client("stepfunctions")
    try:
        sfn.stop_execution(executionArn=execution_arn, error="DeploymentCancelled", cause=cause)
    except sfn.exceptions.ExecutionDoesNotExist:
        logger.warning("execution to stop does not exist", extra={"execution_arn": execution_arn})


def succeed(task_token: str, output: dict[str, Any]) -> None:
    sfn = client("stepfunctions")
    try:
        sfn.send_task_success(taskToken=task_token, output=json.dumps(output))
    except (sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken, sfn.exceptions.TaskDoesNotExist):
        logger.warning("task token no longer valid (execution stopped or timed out)")


def fail(task_token: str, error: str, cause: str = "") -> None:
    sfn = client("stepfunctions")
    try:
        sfn.send_task_failure(taskToken=task_token, error=error, cause=cause[:32768])
    except (sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken, sfn.exceptions.TaskDoesNotExist):
        logger.warning("task token no longer valid (execution stopped or timed out)")


def heartbeat(task_token: str) -> bool:
    """False when the execution no longer waits for this task (stopped, timed out)."""
    sfn = client("stepfunctions")
    try:
        sfn.send_task_heartbeat(taskToken=task_token)
    except (sfn.exceptions.TaskTimedOut, sfn.exceptions.InvalidToken, sfn.exceptions.TaskDoesNotExist):
        return False
    return True


def promotion_execution_name(promotion_id: int) -> str:
    return f"promotion-{promotion_id}"


def promotion_execution_arn(promotion_id: int) -> str:
    """The ARN the promotion's execution has (or will have) in the promotion flow."""
    machine = get_settings().promotion_state_machine_arn
    return f"{machine.replace(':stateMachine:', ':execution:', 1)}:{promotion_execution_name(promotion_id)}"


def start_promotion(promotion_id: int, payload: dict[str, Any]) -> None:
    """Start the promotion's execution. Its name is fixed by the promotion, so a second start (a step redelivered
    after it handed the line on) finds the first and changes nothing."""
    sfn = client("stepfunctions")
    try:
        sfn.start_execution(
            stateMachineArn=get_settings().promotion_state_machine_arn,
            name=promotion_execution_name(promotion_id),
            input=json.dumps(payload),
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        logger.info("promotion execution already started", extra={"promotion_id": promotion_id})
