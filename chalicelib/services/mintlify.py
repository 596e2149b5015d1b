"""Mintlify's view of deployments: preview and production-update triggers, and the status of either.

A Mintlify status id is a deployment id. Statuses are Mintlify's four: queued, in_progress, success and
failure; a cancelled deployment (superseded by a newer trigger of its branch, or cancelled through another
API) is a failure whose summary says it was cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.errors import NotFound
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.project import ProjectRepository
from chalicelib.services import deployments, previews
from chalicelib.services.integers import ascii_integer
from chalicelib.vocabulary import NON_TERMINAL, Status

STATUS: dict[str, str] = {
    Status.QUEUED: "queued",
    **{status: "in_progress" for status in NON_TERMINAL if status != Status.QUEUED},
    Status.DEPLOYED: "success",
    Status.FAILED: "failure",
    Status.CANCELLED: "failure",
}


@dataclass(frozen=True)
class PreviewTriggered:
    status_id: str
    preview_url: str


@dataclass(frozen=True)
class UpdateStatus:
    deployment: Deployment
    status: str
    summary: str
    logs: list[str]


def trigger_preview(org_slug: str, project_id: int, branch: str, creator: str) -> PreviewTriggered:
    """Create or redeploy the branch's preview: the URL is the branch's for good, the status id is new."""
    view = previews.trigger(org_slug, project_id, branch, creator, "mintlify", source="mintlify")
    project = ProjectRepository.get(org_slug, project_id)
    return PreviewTriggered(str(view.deployment.id), previews.preview_url(project, branch))


def check_update(org_slug: str, project_id: int) -> None:
    """What an update must pass before it is counted against a rate limit: the project is the organization's."""
    ProjectRepository.get(org_slug, project_id)


def trigger_update(org_slug: str, project_id: int, creator: str) -> str:
    """Redeploy production from the head of the project's default branch."""
    view = deployments.trigger(org_slug, project_id, None, creator, "mintlify")
    return str(view.deployment.id)


def _summary(deployment: Deployment) -> str:
    target = "preview" if deployment.environment.startswith("preview/") else deployment.environment
    what = f"{target} of {deployment.branch} at {deployment.commit_sha[:7]}"
    if deployment.status == Status.DEPLOYED:
        return f"Deployed {what}"
    if deployment.status == Status.FAILED:
        return f"Failed {what}: {deployment.error_message or 'the build failed'}"
    if deployment.status == Status.CANCELLED:
        return f"Cancelled {what}: {deployment.error_message or 'superseded by a newer build or cancelled'}"
    if deployment.status == Status.QUEUED:
        return f"Queued {what}"
    return f"{deployment.status.capitalize()} {what}"


def update_status(org_slug: str, status_id: str) -> UpdateStatus:
    """The status of a trigger; another organization's deployment is indistinguishable from none."""
    number = ascii_integer(status_id)  # "²".isdigit() is True
    deployment = DeploymentRepository.find(number) if number is not None else None
    if deployment is None or deployment.org_slug != org_slug:
        raise NotFound(f"status {status_id} not found")
    return UpdateStatus(
        deployment,
        STATUS.get(deployment.status, "in_progress"),
        _summary(deployment),
        deployments.log_text(deployment).splitlines(),
    )
