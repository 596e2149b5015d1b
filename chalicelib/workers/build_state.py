"""The CodeBuild build-state handler: a build that ran elsewhere moves its deployment on when it changes state.

The build worker records the build's id and returns without answering the task token; the build's
completion event (EventBridge) finishes the deployment here, publishing what the build staged
(adapters.build_output) before the pipeline moves on.
"""

from __future__ import annotations

from chalicelib.adapters import build_output, executions, sites
from chalicelib.adapters.build_output import OutputRefused
from chalicelib.adapters.codebuild import BuildStateChange
from chalicelib.models.conditional import try_update
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.observability import FailureCause, build_duration, deployment_context, logger
from chalicelib.services import deployments, preview_build_lock
from chalicelib.vocabulary import Status
from chalicelib.workers.build_worker import seconds_since, staging_prefix


def _is_its_build(deployment: Deployment, build_id: str) -> bool:
    """Whether the event's build is the deployment's. A deployment whose worker has not recorded its build
    yet (the event outran it) adopts the build with the same conditional write the worker uses."""
    if deployment.build_id is not None:
        return bool(deployment.build_id == build_id)
    if try_update(
        deployment,
        [Deployment.build_id.set(build_id)],
        Deployment.build_id.does_not_exist() | (Deployment.build_id == build_id),
    ):
        return True
    deployment.refresh(consistent_read=True)
    return bool(deployment.build_id == build_id)


def handle_build_state(change: BuildStateChange) -> None:
    """A CodeBuild build changed state (EventBridge): move its deployment on and answer the Build task.

    Idempotent and order-proof: EventBridge may repeat an event or deliver it late, so every change is a
    conditional write on the status it leaves, and an event that finds its deployment past that status does
    nothing. The one exception is a success whose deployment is still `uploading`: its task is answered
    again (a repeat is ignored by Step Functions), so a retried invocation always completes the pipeline.
    """
    deployment_id = change.deployment_id
    deployment = DeploymentRepository.find(deployment_id) if deployment_id is not None else None
    if deployment is None or deployment_id is None:
        logger.warning(
            "build event for no known deployment ignored",
            extra={"build_id": change.build_id, "deployment_id": deployment_id},
        )
        return
    with deployment_context(deployment_id, deployment.project_id):
        if not _is_its_build(deployment, change.build_id):
            logger.warning("event of a build that is not the deployment's ignored", extra={"build_id": change.build_id})
            return
        if change.status == "IN_PROGRESS":
            if DeploymentRepository.transition(deployment, (Status.CLONING,), Status.BUILDING):
                logger.info("deployment building", extra={"build_id": change.build_id})
            return
        if not change.is_final:
            return
        token = deployment.task_token
        preview_build_lock.release(deployment)  # the build is over, whatever it came to
        if not token:
            logger.warning("build finished for a deployment without a task token", extra={"status": deployment.status})
            return
        if deployment.status == Status.CANCELLED:  # stopped by the cancel, or it ended before the stop reached it
            logger.info("build ended: deployment cancelled", extra={"build_status": change.status})
            _discard_staging(deployment)
            executions.fail(token, "DeploymentCancelled", "cancelled during the build")
        elif change.status == "SUCCEEDED":
            _finish_succeeded(deployment, token, change)
        else:
            _finish_failed(deployment, token, change)


def _finish_succeeded(deployment: Deployment, token: str, change: BuildStateChange) -> None:
    moved = DeploymentRepository.transition(
        deployment,
        (Status.CLONING, Status.BUILDING),  # building unless its IN_PROGRESS event is late (or lost)
        Status.UPLOADING,  # what MarkDeploying expects, once the staged output is published
        build_time_seconds=change.build_seconds,
    )
    if moved:
        logger.info("build succeeded", extra={"build_time_seconds": change.build_seconds})
        build_duration(seconds_since(deployment.started_at))
    else:
        deployment.refresh(consistent_read=True)
        if deployment.status != Status.UPLOADING:
            logger.info("late or repeated build event ignored", extra={"status": deployment.status})
            _discard_staging(deployment)
            return
    # A retried invocation finds the output published already (artifact_prefix is set only then).
    if deployment.artifact_prefix is None and not _publish(deployment, token):
        return
    executions.succeed(token, {"deployment_id": deployment.id})


def _publish(deployment: Deployment, token: str) -> bool:
    """Promote what the build staged into the deployment's artifact prefix, and record that prefix.

    False when the deployment failed for its output (over a limit, no or a wrong manifest) or was cancelled
    meanwhile: its task has been answered then. S3 errors propagate, so the event's invocation is retried.
    """
    prefix = staging_prefix(deployment)
    try:
        if prefix is None:
            raise OutputRefused("the build's upload target was never recorded")
        files = build_output.promote(deployment.id, prefix)
    except OutputRefused as exc:
        message = str(exc)
        # What the build uploaded is the user's build's doing; a missing upload target is the platform's.
        cause: FailureCause = "build" if prefix is not None else "platform"
        if deployments.record_failure(deployment, message, cause=cause):
            logger.info("build output refused", extra={"error_message": message})
        _discard_staging(deployment)
        executions.fail(token, "BuildFailed", message)
        return False
    if not DeploymentRepository.transition(
        deployment, (Status.UPLOADING,), Status.UPLOADING, artifact_prefix=sites.artifact_prefix(deployment.id)
    ):
        deployment.refresh(consistent_read=True)
        logger.info("deployment ended while its output was published", extra={"status": deployment.status})
        _discard_staging(deployment)
        if deployment.status == Status.CANCELLED:
            executions.fail(token, "DeploymentCancelled", "cancelled during the upload")
        return False
    logger.info("build output published", extra={"files": files})
    _discard_staging(deployment)
    return True


def _discard_staging(deployment: Deployment) -> None:
    prefix = staging_prefix(deployment)
    if prefix is not None:
        build_output.discard(prefix)


def _finish_failed(deployment: Deployment, token: str, change: BuildStateChange) -> None:
    message = change.failure_message()
    _discard_staging(deployment)
    if not deployments.record_failure(deployment, message, change.build_seconds or None, cause=change.failure_cause()):
        logger.info("late or repeated build event ignored", extra={"status": deployment.status})
        return
    logger.info("build failed", extra={"error_message": message, "build_status": change.status})
    build_duration(seconds_since(deployment.started_at))
    executions.fail(token, "BuildFailed", message)
