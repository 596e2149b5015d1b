"""The activation queue's consumer: a build-slot request, the end of a deployment the state machine failed
itself, and going live."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import codebuild, executions
from chalicelib.models.deployment import DeploymentRepository
from chalicelib.observability import deployment_context, deployment_event, logger
from chalicelib.services import build_slots, deployments, preview_build_lock, statuses
from chalicelib.vocabulary import Status


def handle_activation(message: dict[str, Any]) -> None:
    """The pipeline's short steps, all on the activation queue: a build-slot request, the end of a
    deployment the state machine failed itself (silence, time limit), and going live."""
    deployment_id = int(message["deployment_id"])
    if message.get("event") == "acquire_slot":
        build_slots.request(deployment_id, str(message["task_token"]))
        return
    if "task_token" not in message:  # the state machine ended a deployment itself
        ended = DeploymentRepository.find(deployment_id)
        if ended is not None:
            with deployment_context(deployment_id, ended.project_id):
                published = statuses.report_pipeline_state(ended)
                if published is not None and ended.status == Status.FAILED:
                    # Whoever ends a deployment publishes its end first: nobody did, so the state machine
                    # failed it itself (silence, time limit). Its CodeBuild build, if any, must not run on.
                    deployment_event("failed", "platform")
                    if ended.build_id:
                        codebuild.stop(ended.build_id)
                        preview_build_lock.release(ended)
                build_slots.release(ended)
        return
    token = str(message["task_token"])
    deployment = DeploymentRepository.find(deployment_id)
    if deployment is None:
        executions.fail(token, "DeploymentNotFound")
        return
    with deployment_context(deployment_id, deployment.project_id):
        if deployments.activate(deployment):
            executions.succeed(token, {"deployment_id": deployment_id})
        else:
            logger.info("activation skipped", extra={"status": deployment.status})
            executions.fail(token, "DeploymentNotDeploying", f"deployment is {deployment.status}")
