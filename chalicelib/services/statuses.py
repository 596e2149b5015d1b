"""How the one ledger reads in each dialect, and the deployment statuses deployd publishes itself.

The native status is the source of truth. GitHub sees it as deployment statuses (queued, in_progress,
success, failure, error) that deployd appends as its pipeline moves, once per state and in order;
GitLab sees it as created, running, success, failed or canceled.
"""

from __future__ import annotations

from typing import NamedTuple

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.models.conditional import try_update
from chalicelib.models.deployment import Deployment
from chalicelib.models.deployment_status import DeploymentStatus, DeploymentStatusRepository
from chalicelib.models.environment import Environment, EnvironmentRepository
from chalicelib.models.registry import next_id
from chalicelib.settings import get_settings
from chalicelib.vocabulary import NON_TERMINAL, Status

GITHUB_STATE: dict[str, str] = {
    Status.QUEUED: "queued",
    **{status: "in_progress" for status in NON_TERMINAL if status != Status.QUEUED},
    Status.DEPLOYED: "success",
    Status.FAILED: "failure",
    Status.CANCELLED: "error",
}
GITLAB_STATUS: dict[str, str] = {
    Status.QUEUED: "created",
    **{status: "running" for status in NON_TERMINAL if status != Status.QUEUED},
    Status.DEPLOYED: "success",
    Status.FAILED: "failed",
    Status.CANCELLED: "canceled",
}
# What an external deployer's report means for the native status.
NATIVE_FROM_GITHUB = {
    "queued": Status.QUEUED,
    "pending": Status.QUEUED,
    "in_progress": Status.DEPLOYING,
    "success": Status.DEPLOYED,
    "failure": Status.FAILED,
    "error": Status.FAILED,
}
NATIVE_FROM_GITLAB = {
    "created": Status.QUEUED,
    "running": Status.DEPLOYING,
    "success": Status.DEPLOYED,
    "failed": Status.FAILED,
    "canceled": Status.CANCELLED,
}
_RANK = {"queued": 0, "in_progress": 1, "success": 2, "failure": 2, "error": 2}
DESCRIPTION_LIMIT = 140


def logs_url(deployment: Deployment) -> str:
    return f"{get_settings().api_url}/api/v1/public/projects/{deployment.project_id}/deployments/{deployment.id}/logs"


def _description(deployment: Deployment, state: str, status: str | None = None) -> str:
    text = {
        "queued": "Queued for build",
        "in_progress": f"Deployment {status or deployment.status}",
        "success": "Deployed",
        "failure": deployment.error_message or "Build failed",
        "error": "Deployment cancelled",
    }[state]
    return text[:DESCRIPTION_LIMIT]


class PipelineReport(NamedTuple):
    """A pipeline state's status, to be written in the same transaction as the state move it reports: the move
    carries `actions` (its claim on `reported_rank`), and `write` appends the status."""

    status: DeploymentStatus
    rank: int

    @property
    def actions(self) -> list[Action]:
        return [Deployment.reported_rank.set(self.rank)]

    def write(self, tx: TransactWrite) -> None:
        tx.save(self.status, condition=DeploymentStatus.id.does_not_exist())


def pipeline_report(deployment: Deployment, status: Status) -> PipelineReport:
    """The status a built deployment shows once it moves to `status`, for a move that is the first (and only)
    one to reach that state: its conditional write on the status it leaves makes the report once and in order."""
    state = GITHUB_STATE[status]
    log_url = logs_url(deployment)
    environment_url = deployment.environment_url or deployment.deployment_url or ""
    reported = DeploymentStatus(
        deployment_id=deployment.id,
        id=_pipeline_status_id(deployment, state),
        state=state,
        description=_description(deployment, state, status),
        environment=deployment.environment,
        target_url=log_url,
        log_url=log_url,
        environment_url=environment_url,
        creator="deployd",
    )
    return PipelineReport(reported, _RANK[state])


# The pipeline's statuses use the ids taken for them at the deployment's creation (Deployment.status_ids_from), in
# this order: each is reported once (its move is conditional on the state it leaves), and every other status of the
# deployment (failure, error, inactive) comes later, with an id taken then, so its ids still rise with its history.
PIPELINE_STATUS_IDS = ("queued", "in_progress", "success")


def _pipeline_status_id(deployment: Deployment, state: str) -> int:
    if deployment.status_ids_from is not None and state in PIPELINE_STATUS_IDS:
        return deployment.status_ids_from + PIPELINE_STATUS_IDS.index(state)
    return next_id("deployment-status")


def refusal_report(deployment: Deployment, description: str) -> PipelineReport:
    """The `failure` status of a built deployment its promotion refused or reverted: it is deployed at its own URL,
    but its environment does not serve it. Written in the transaction that records the refusal."""
    log_url = logs_url(deployment)
    reported = DeploymentStatus(
        deployment_id=deployment.id,
        id=next_id("deployment-status"),
        state="failure",
        description=description[:DESCRIPTION_LIMIT],
        environment=deployment.environment,
        target_url=log_url,
        log_url=log_url,
        environment_url=deployment.deployment_url or "",
        creator="deployd",
    )
    return PipelineReport(reported, _RANK["failure"])


def report_pipeline_state(deployment: Deployment) -> DeploymentStatus | None:
    """Publish a built deployment's current state as a deployment status, once per state and in order.

    The claim on `reported_rank` is a conditional write, so concurrent or repeated calls publish a state
    at most once, and a late call for an earlier state publishes nothing.
    """
    if not deployment.managed:
        return None
    state = GITHUB_STATE[deployment.status]
    rank = _RANK[state]
    claimed = try_update(
        deployment,
        [Deployment.reported_rank.set(rank)],
        Deployment.reported_rank.does_not_exist() | (Deployment.reported_rank < rank),
    )
    if not claimed:
        return None
    log_url = logs_url(deployment)
    status = DeploymentStatusRepository.append(
        deployment.id,
        state=state,
        description=_description(deployment, state),
        environment=deployment.environment,
        target_url=log_url,
        log_url=log_url,
        environment_url=deployment.environment_url or deployment.deployment_url or "",
        creator="deployd",
    )
    if state == "success":
        deactivate_previous(deployment)
    return status


def publish_external_state(deployment: Deployment) -> DeploymentStatus:
    """Show an external deployer's report (made through GitLab or the native API) in GitHub's statuses."""
    state = GITHUB_STATE[deployment.status]
    status = DeploymentStatusRepository.append(
        deployment.id,
        state=state,
        description=f"Deployment {deployment.status} (reported by its external deployer)"[:DESCRIPTION_LIMIT],
        environment=deployment.environment,
        environment_url=deployment.environment_url or "",
        creator=deployment.creator,
    )
    if state == "success":
        deactivate_previous(deployment)
    return status


def deactivate_previous(deployment: Deployment) -> list[int]:
    """GitHub's auto_inactive: earlier non-transient, non-production deployments of the same environment
    whose latest state is success get an `inactive` status. Returns the ids made inactive."""
    env = EnvironmentRepository.find(deployment.project_id, deployment.environment)
    made_inactive = deactivate_superseded(deployment, env.live_ids if env else None)
    if deployment.listed_live:
        Environment(project_id=deployment.project_id, name=deployment.environment).update(
            actions=[Environment.live_ids.add({deployment.id})]
        )
    return made_inactive


def deactivate_superseded(deployment: Deployment, live_ids: set[int] | None) -> list[int]:
    """`deactivate_previous` given the environment's live deployments as read before `deployment` joined them
    (the caller adds it): the earlier ones, read together, and those made inactive leave the set."""
    previous = sorted((live_ids or set()) - {deployment.id})
    made_inactive: list[int] = []
    never: list[int] = []  # listed before production's deployments stopped joining the set: they leave it now
    for other in sorted(Deployment.batch_get(previous, consistent_read=True) if previous else [], key=lambda d: d.id):
        if not other.supersedable:
            if not other.listed_live:
                never.append(other.id)
            continue
        mark_inactive(other, "Superseded by a newer successful deployment")
        made_inactive.append(other.id)
    if made_inactive or never:  # one update may not both ADD to and DELETE from a set
        Environment(project_id=deployment.project_id, name=deployment.environment).update(
            actions=[Environment.live_ids.delete({*made_inactive, *never})]
        )
    return made_inactive


def mark_inactive(deployment: Deployment, description: str) -> DeploymentStatus:
    """Append an `inactive` status; a transient environment's deployment is thereby destroyed."""
    status = DeploymentStatusRepository.append(
        deployment.id,
        state="inactive",
        description=description[:DESCRIPTION_LIMIT],
        environment=deployment.environment,
        creator="deployd",
    )
    deployment.update(
        actions=[Deployment.inactive.set(True), Deployment.destroyed.set(bool(deployment.transient_environment))]
    )
    return status
