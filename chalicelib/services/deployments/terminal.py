"""The terminal moves: a deployment fails, or is cancelled, releasing its environment in the same transaction."""

from __future__ import annotations

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters import codebuild, executions, sites
from chalicelib.errors import ConditionFailed, Conflict
from chalicelib.models.attributes import utc_now
from chalicelib.models.conditional import transact
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import Environment
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.route import Route
from chalicelib.observability import FailureCause, deployment_context, deployment_event, logger
from chalicelib.services import build_slots, statuses
from chalicelib.services.deployments.queries import DeploymentView, deployment_of
from chalicelib.vocabulary import NON_TERMINAL, Status


def _release(tx: TransactWrite, deployment: Deployment) -> None:
    tx.update(
        Environment(project_id=deployment.project_id, name=deployment.environment),
        actions=[Environment.in_flight.delete({deployment.id})],
    )


def _end(
    deployment: Deployment,
    status: Status,
    error_message: str | None = None,
    build_time_seconds: int | None = None,
    cause: FailureCause | None = None,
    project: Project | None = None,
) -> bool:
    """Move a non-terminal deployment to a terminal `status` and release its environment, in one
    transaction. False if it had already ended (whoever ended it first wins).

    With its `project`, the same transaction takes back the deployment's own URL: a deploying build publishes it
    for its promotion to verify (services.deployments.activation), and one that ends cancelled or failed instead
    of going live must not go on being served there. Written whether or not it was published (the deployment
    read may predate it; deleting a route that is not there is no error)."""
    now = utc_now()
    actions: list[Action] = [
        Deployment.status.set(status),
        Deployment.finished_at.set(now),
        Deployment.updated_at.set(now),
        Deployment.event_seq.add(1),
    ]
    if project is not None:
        actions.append(Deployment.deployment_url.remove())
    if error_message is not None:
        actions.append(Deployment.error_message.set(error_message[:2000]))
    if build_time_seconds:
        actions.append(Deployment.build_time_seconds.set(build_time_seconds))

    def end(tx: TransactWrite) -> None:
        tx.update(deployment, actions=actions, condition=Deployment.status.is_in(*NON_TERMINAL))
        _release(tx, deployment)
        if project is not None:
            tx.delete(Route(host=sites.deployment_label(deployment.id, project.slug, project.org_slug)))

    try:
        transact(end)
    except ConditionFailed:
        return False
    deployment_event(status, cause)  # once: only the writer that ended the deployment gets here
    deployment.refresh(consistent_read=True)
    statuses.report_pipeline_state(deployment)
    build_slots.release(deployment)
    return True


def record_failure(
    deployment: Deployment,
    message: str,
    build_time_seconds: int | None = None,
    *,
    cause: FailureCause,
    project: Project | None = None,
) -> bool:
    """Move a non-terminal deployment to failed with `message`, the user's build's failure or the platform's
    (`cause`, for the metric). False if it had already ended. Give its `project` when it may have published its
    own URL (it reached deploying) to take that back."""
    return _end(deployment, Status.FAILED, message, build_time_seconds, cause, project)


def cancel(org_slug: str, project_id: int, deployment_id: int) -> DeploymentView:
    project = ProjectRepository.get(org_slug, project_id)
    deployment = deployment_of(project, deployment_id)
    if deployment.is_terminal or not _end(deployment, Status.CANCELLED, project=project):
        deployment.refresh(consistent_read=True)
        raise Conflict(
            f"deployment {deployment_id} is {deployment.status}; only queued, cloning, building, uploading "
            "or deploying deployments can be cancelled"
        )
    with deployment_context(deployment.id, project.id):
        logger.info("deployment cancelled")
        # _end re-read the deployment after the cancel: a build the worker recorded before it is seen here,
        # and a worker recording one after it finds the deployment cancelled and stops that build itself.
        if deployment.build_id:
            codebuild.stop(deployment.build_id)
        if deployment.execution_arn:
            executions.stop(deployment.execution_arn, "cancelled by request")
    deployment.refresh(consistent_read=True)
    return DeploymentView(deployment, False)
