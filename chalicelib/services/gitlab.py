"""GitLab's deployment rules over the one ledger: its listing and the two ways of deploying.

A project with a build command is built by deployd: a GitLab deployment of it starts `created` and its
status follows the build; the only status a client may set is `canceled`. A project without one is a
ledger for an external deployer, whose status reports move the deployment. See docs/gitlab.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters import git
from chalicelib.errors import Conflict, InvalidInput, Unprocessable
from chalicelib.models.deployment import Deployment
from chalicelib.models.project import Project
from chalicelib.services import deployments, listing
from chalicelib.services.deployments import DeploymentSpec
from chalicelib.services.gitlab_params import NATIVE_FOR_FILTER, DeploymentCreate, DeploymentUpdate, ListQuery
from chalicelib.services.gitlab_views import (
    DeploymentListing,
    Environments,
    GitLabDeployment,
    People,
    gitlab_status,
    present,
    present_one,
    resolve_project,
)
from chalicelib.services.statuses import NATIVE_FROM_GITLAB
from chalicelib.vocabulary import TERMINAL

ACTIVE_STATUSES = ("created", "running")  # GitLab's `active?`: such a deployment cannot be destroyed


def _sort_key(order_by: str) -> Any:
    if order_by == "iid":
        return lambda d: (d.seq, d.id)
    if order_by == "ref":
        return lambda d: (d.branch, d.id)
    if order_by in ("created_at", "updated_at"):
        return lambda d: (_moment(getattr(d, order_by)), d.id)
    return lambda d: d.id


def _moment(value: datetime | None) -> datetime:
    return value or datetime.min.replace(tzinfo=UTC)


def _matches(deployment: Deployment, query: ListQuery) -> bool:
    if query.environment is not None and deployment.environment != query.environment:
        return False
    if query.status is not None and deployment.status not in NATIVE_FOR_FILTER[query.status]:
        return False
    updated = _moment(deployment.updated_at)
    if query.updated_after is not None and updated < query.updated_after:
        return False
    return query.updated_before is None or updated <= query.updated_before


def list_deployments(org_slug: str, raw_id: str, query: ListQuery) -> DeploymentListing:
    """One page of the project's deployments, filtered and sorted as asked; ids and iids follow the project's
    numbering, so services/listing.py can read an unfiltered page of them as a range."""
    project = resolve_project(org_slug, raw_id)
    order = listing.Order(
        _sort_key(query.order_by), descending=query.sort == "desc", numbered=query.order_by in ("id", "iid")
    )
    matches = (lambda d: _matches(d, query)) if query.filtered else None
    found = listing.deployments(project, query.page, query.per_page, matches, order)
    people, envs = People(org_slug), Environments(project)
    return DeploymentListing(project, found.map(lambda d: present(d, project, people, envs)))


def get_deployment(org_slug: str, raw_id: str, deployment_id: int) -> GitLabDeployment:
    project = resolve_project(org_slug, raw_id)
    view = deployments.view(org_slug, project.id, deployment_id)
    return present_one(org_slug, project, view.deployment)


def _check_commit(project: Project, body: DeploymentCreate) -> None:
    """GitLab's model validation of the ref (the refs only; the commit itself is resolved once, by
    deployments.create, before anything is recorded, so a bad request reserves no iid)."""
    if not git.ref_exists(project.repo_url, body.ref):
        raise Unprocessable("The branch or tag does not exist", field="ref")


def create_deployment(org_slug: str, key_id: str, raw_id: str, body: DeploymentCreate) -> GitLabDeployment:
    project = resolve_project(org_slug, raw_id)
    managed = project.build_command is not None
    if managed and body.status != "created":
        raise InvalidInput(
            f"project {project.id} is built by deployd: its deployments start created and their status "
            f"follows the build; create them with status created (got {body.status})"
        )
    _check_commit(project, body)
    spec = DeploymentSpec(
        triggered_by="gitlab",
        ref=body.ref,
        environment=body.environment,
        source="gitlab",
        creator=f"api-key:{key_id}",
        sha=body.sha,
        ref_is_tag=body.tag,
        external_status=None if managed else NATIVE_FROM_GITLAB[body.status],
    )
    try:
        view = deployments.create(org_slug, project.id, spec)
    except Unprocessable as exc:  # the sha is not a commit of the repository
        raise Unprocessable("The commit does not exist", field="sha") from exc
    return present_one(org_slug, project, view.deployment)


def update_deployment(
    org_slug: str, key_id: str, raw_id: str, deployment_id: int, body: DeploymentUpdate
) -> GitLabDeployment:
    project = resolve_project(org_slug, raw_id)
    deployment = deployments.view(org_slug, project.id, deployment_id).deployment
    current = gitlab_status(deployment)
    if deployment.managed:
        if body.status != "canceled":
            raise InvalidInput(
                f"deployment {deployment_id} is built by deployd; its status follows the build (currently {current})"
            )
        if deployment.is_terminal:
            raise InvalidInput(f"deployment {deployment_id} has already finished ({current}); it cannot be canceled")
        try:
            deployment = deployments.cancel(org_slug, project.id, deployment_id).deployment
        except Conflict as exc:  # it ended while we were asking
            raise InvalidInput(f"deployment {deployment_id} finished before it could be canceled") from exc
        return present_one(org_slug, project, deployment)
    if current == body.status:
        return present_one(org_slug, project, deployment)
    if deployment.status in TERMINAL:
        raise InvalidInput(
            f"deployment {deployment_id} has already finished ({current}); it cannot become {body.status}"
        )
    try:
        # publish: the report also reads in GitHub as a deployment status
        deployment = deployments.set_external_status(deployment, NATIVE_FROM_GITLAB[body.status], publish=True)
    except Conflict as exc:
        raise Conflict(f"deployment {deployment_id} changed while it was being updated; read it and retry") from exc
    deployment.refresh(consistent_read=True)
    return present_one(org_slug, project, deployment)


def delete_deployment(org_slug: str, raw_id: str, deployment_id: int) -> None:
    """GitLab's rules first (an active deployment, or the one its environment serves, stays), then the ledger's."""
    project = resolve_project(org_slug, raw_id)
    view = deployments.view(org_slug, project.id, deployment_id)
    if gitlab_status(view.deployment) in ACTIVE_STATUSES:
        raise InvalidInput("Cannot destroy running deployment")
    if view.is_active:
        raise InvalidInput("Deployment currently deployed to environment")
    try:
        deployments.delete_record(view.deployment)
    except Conflict as exc:
        raise Conflict(f"deployment {deployment_id} changed while it was being deleted; retry") from exc


def merge_requests(org_slug: str, raw_id: str, deployment_id: int) -> list[dict[str, Any]]:
    """deployd hosts repositories' deployments, not their merge requests: always an empty list, once the
    deployment is known to exist (an unknown one is a 404, as in GitLab)."""
    project = resolve_project(org_slug, raw_id)
    deployments.view(org_slug, project.id, deployment_id)
    return []
