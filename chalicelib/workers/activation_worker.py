"""The activation queue's consumer: a build-slot request, the end of a deployment the state machine failed
itself, and going live."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import codebuild, executions
from chalicelib.models.base import read_together
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import Environment
from chalicelib.models.project import Project
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
    deployment, project, environment = _read_for_activation(deployment_id, message)
    if deployment is None:
        executions.fail(token, "DeploymentNotFound")
        return
    with deployment_context(deployment_id, deployment.project_id):
        if project is None:  # deleted meanwhile, or a message without the project's id: activate reads it
            activated = deployments.activate(deployment)
        else:
            activated = deployments.activate(deployment, project, environment)
        if activated:
            executions.succeed(token, {"deployment_id": deployment_id})
        else:
            logger.info("activation skipped", extra={"status": deployment.status})
            executions.fail(token, "DeploymentNotDeploying", f"deployment is {deployment.status}")


def _read_for_activation(
    deployment_id: int, message: dict[str, Any]
) -> tuple[Deployment | None, Project | None, Environment | None]:
    """The deployment, its project and its environment, read together when the message names them all."""
    if "project_id" not in message or "environment" not in message:
        return DeploymentRepository.find(deployment_id), None, None
    project_id = int(message["project_id"])
    deployment, project, environment = read_together(
        (Deployment, deployment_id, None),
        (Project, project_id, None),
        (Environment, project_id, message["environment"]),
    )
    return deployment, project, environment
