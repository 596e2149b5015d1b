"""GitHub's deployment rules on deployd's one ledger: deployments, deployment statuses, environments.

A project with a build command is built by deployd: its deployments' statuses follow the pipeline, and a
caller may only mark a successful one inactive or repeat its current state. A project without one is a
ledger for an external deployer: every state a caller posts is recorded and moves the native status.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, NamedTuple

from pynamodb.expressions.update import Action

from chalicelib.adapters import sites
from chalicelib.errors import Conflict, FieldRejected, NotFound, Unprocessable
from chalicelib.models.attributes import utc_now
from chalicelib.models.conditional import try_delete
from chalicelib.models.deployment import Deployment
from chalicelib.models.deployment_status import STATES, DeploymentStatus, DeploymentStatusRepository
from chalicelib.models.environment import Environment, EnvironmentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.registry import next_id
from chalicelib.services import auth, deployments, listing, statuses, text
from chalicelib.services.listing import Page, paginate

if TYPE_CHECKING:
    from chalicelib.services.inputs import GithubDeploymentCreate, GithubEnvironmentUpdate, GithubStatusCreate

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
DEPLOYD_CREATOR = "deployd"


class DeploymentFilters(NamedTuple):
    sha: str | None = None
    ref: str | None = None
    task: str | None = None
    environment: str | None = None

    def any(self) -> bool:
        return any(v is not None for v in (self.sha, self.ref, self.task, self.environment))

    def matches(self, deployment: Deployment) -> bool:
        wanted = (
            (self.sha, deployment.commit_sha),
            (self.ref, deployment.branch),
            (self.task, deployment.task),
            (self.environment, deployment.environment),
        )
        return all(value is None or value == actual for value, actual in wanted)


class StatusView(NamedTuple):
    status: DeploymentStatus
    deployment: Deployment


def repository(principal: auth.Principal, owner: str, repo: str) -> Project:
    """The project `owner/repo` names; another organization's is indistinguishable from none."""
    if owner.lower() != principal.org_slug:
        raise NotFound(f"repository {owner}/{repo} not found")
    name = repo[:-4] if repo.lower().endswith(".git") else repo
    return ProjectRepository.find_by_slug(principal.org_slug, name)


def _deployment(project: Project, deployment_id: int) -> Deployment:
    return deployments.view(project.org_slug, project.id, deployment_id).deployment


# Deployments


MAX_PAYLOAD_BYTES = 64 * 1024  # DynamoDB items hold 400 KB; a deployment payload has no business near that


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def create_deployment(project: Project, body: GithubDeploymentCreate, creator: str) -> Deployment:
    """Record a deployment of `ref` as it resolves now. auto_merge and required_contexts are accepted and
    ignored: deployd merges nothing and has no commit statuses to check."""
    from chalicelib.services.deployments import DeploymentSpec  # creation's own: loaded with the first trigger

    if isinstance(body.payload, str):
        try:
            json.loads(body.payload, parse_constant=_not_json)
        except (ValueError, RecursionError) as exc:
            raise FieldRejected("Deployment", "payload", "invalid", "payload is not valid JSON") from exc
        payload, payload_is_text = body.payload, True
    else:
        payload, payload_is_text = json.dumps(body.payload, allow_nan=False), False
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise FieldRejected(
            "Deployment", "payload", "invalid", f"payload is larger than {MAX_PAYLOAD_BYTES // 1024} KB"
        )
    spec = DeploymentSpec(
        triggered_by="github",
        ref=body.ref,
        environment=body.environment,
        source="github",
        creator=creator,
        task=body.task,
        payload=payload,
        payload_is_text=payload_is_text,
        description=body.description,
        transient_environment=body.transient_environment,
        production_environment=body.production_environment,
    )
    try:
        view = deployments.create(project.org_slug, project.id, spec)
    except Unprocessable as exc:  # the ref does not resolve (or the repository cannot be read)
        raise FieldRejected("Deployment", "ref", "invalid", f"No ref found for: {body.ref}") from exc
    return view.deployment


def list_deployments(project: Project, filters: DeploymentFilters, page: int, per_page: int) -> Page[Deployment]:
    """Newest first (services/listing.py decides what is read)."""
    return listing.deployments(project, page, per_page, matches=filters.matches if filters.any() else None)


def get_deployment(project: Project, deployment_id: int) -> Deployment:
    return _deployment(project, deployment_id)


def is_inactive(deployment: Deployment) -> bool:
    """GitHub's meaning: the latest status is not success, or the deployment was deactivated."""
    if deployment.inactive:
        return True
    latest = DeploymentStatusRepository.latest(deployment.id)
    return latest is None or latest.state != "success"


def delete_deployment(project: Project, deployment_id: int) -> None:
    """Only an inactive deployment, unless it is the repository's only one; never one deployd is building."""
    deployment = _deployment(project, deployment_id)
    if project.deployment_count > 1 and not is_inactive(deployment):
        raise FieldRejected(
            "Deployment",
            "id",
            "refused",
            "We cannot delete an active deployment unless it is the only deployment in the repository; "
            "mark it inactive (a non-success status) first",
        )
    try:
        deployments.delete_record(deployment)
    except Conflict as exc:
        raise FieldRejected("Deployment", "id", "refused", exc.message) from exc


# Deployment statuses


def create_status(project: Project, deployment_id: int, body: GithubStatusCreate, creator: str) -> StatusView:
    deployment = _deployment(project, deployment_id)
    state = body.state
    if state not in STATES:
        raise FieldRejected("DeploymentStatus", "state", "invalid", f"state must be one of {', '.join(STATES)}")
    description = body.description or ""
    if len(description) > statuses.DESCRIPTION_LIMIT:
        raise FieldRejected(
            "DeploymentStatus",
            "description",
            "refused",
            f"description is too long (maximum is {statuses.DESCRIPTION_LIMIT} characters)",
        )
    latest = DeploymentStatusRepository.latest(deployment.id)
    fields: dict[str, Any] = {
        "state": state,
        "description": description,
        "environment": body.environment or (latest.environment if latest else deployment.environment),
        # log_url replaces target_url (GitHub keeps both, equal, when either is given).
        "target_url": body.log_url or body.target_url or "",
        "log_url": body.log_url or body.target_url or "",
        "environment_url": body.environment_url or "",
        "creator": creator,
    }
    if deployment.managed:
        status = _report_on_built(deployment, fields)
    else:
        status = _report_on_ledger(deployment, fields, body.auto_inactive, body.environment_url)
    return StatusView(status, deployment)


def current_state(deployment: Deployment) -> str:
    return "inactive" if deployment.inactive else statuses.GITHUB_STATE[deployment.status]


def _report_on_built(deployment: Deployment, fields: dict[str, Any]) -> DeploymentStatus:
    """deployd built it, so the build decides its state: a caller may only retire a success, or repeat it."""
    state, current = fields["state"], current_state(deployment)
    if state == "inactive" and current == "success":
        return _record_inactive(deployment, fields)
    if state == current:
        return DeploymentStatusRepository.append(deployment.id, **fields)
    raise FieldRejected(
        "DeploymentStatus",
        "state",
        "refused",
        f"deployment {deployment.id} is built by deployd; its state follows the build (currently {current})",
    )


def _report_on_ledger(
    deployment: Deployment, fields: dict[str, Any], auto_inactive: bool, environment_url: str | None
) -> DeploymentStatus:
    """An external deployer's report: recorded, and it moves the native status (inactive only retires it)."""
    state = fields["state"]
    if state == "inactive":
        return _record_inactive(deployment, fields)
    deployments.set_external_status(deployment, statuses.NATIVE_FROM_GITHUB[state], environment_url)
    if deployment.inactive and state == "success":  # a new success makes it active again
        deployment.update(actions=[Deployment.inactive.set(False), Deployment.destroyed.set(False)])
    status = DeploymentStatusRepository.append(deployment.id, **fields)
    live = Environment(project_id=deployment.project_id, name=deployment.environment)
    if state != "success":
        live.update(actions=[Environment.live_ids.delete({deployment.id})])
    elif auto_inactive:
        statuses.deactivate_previous(deployment)
    elif deployment.listed_live:
        live.update(actions=[Environment.live_ids.add({deployment.id})])
    return status


def _record_inactive(deployment: Deployment, fields: dict[str, Any]) -> DeploymentStatus:
    """The caller's `inactive` status; a transient environment's deployment is thereby destroyed."""
    status = DeploymentStatusRepository.append(deployment.id, **fields)
    deployment.update(
        actions=[Deployment.inactive.set(True), Deployment.destroyed.set(bool(deployment.transient_environment))]
    )
    Environment(project_id=deployment.project_id, name=deployment.environment).update(
        actions=[Environment.live_ids.delete({deployment.id})]
    )
    return status


def list_statuses(project: Project, deployment_id: int, page: int, per_page: int) -> Page[StatusView]:
    deployment = _deployment(project, deployment_id)
    history = DeploymentStatusRepository.history(deployment.id)
    return paginate(history, page, per_page).map(lambda status: StatusView(status, deployment))


def get_status(project: Project, deployment_id: int, status_id: int) -> StatusView:
    deployment = _deployment(project, deployment_id)
    status = DeploymentStatusRepository.find(deployment.id, status_id)
    if status is None:
        raise NotFound(f"status {status_id} of deployment {deployment_id} not found")
    return StatusView(status, deployment)


# Environments


def list_environments(project: Project, page: int, per_page: int) -> Page[Environment]:
    environments = sorted(EnvironmentRepository.list(project.id), key=lambda e: (e.id is None, e.id or 0))
    return paginate(environments, page, per_page)


def get_environment(project: Project, name: str) -> Environment:
    environment = EnvironmentRepository.find(project.id, name)
    if environment is None:
        raise NotFound(f"environment {name} not found")
    return environment


def put_environment(project: Project, name: str, body: GithubEnvironmentUpdate) -> Environment:
    """Create the environment, or update the settings the body carries (null clears one)."""
    _check_environment_name(name)
    existing = EnvironmentRepository.find(project.id, name)
    now = utc_now()
    actions: list[Action] = [
        Environment.created_at.set(Environment.created_at | now),
        Environment.updated_at.set(now),
    ]
    if existing is None or existing.id is None:
        actions.append(Environment.id.set(Environment.id | next_id("environment")))
    given = body.model_fields_set
    stored: dict[str, Any] = {
        "wait_timer": body.wait_timer,
        "prevent_self_review": body.prevent_self_review,
        "reviewers": json.dumps([r.model_dump() for r in body.reviewers]) if body.reviewers else None,
        "deployment_branch_policy": (
            json.dumps(body.deployment_branch_policy.model_dump()) if body.deployment_branch_policy else None
        ),
    }
    for name_, value in stored.items():
        if name_ in given:
            attribute = getattr(Environment, name_)
            actions.append(attribute.remove() if value is None else attribute.set(value))
    Environment(project_id=project.id, name=name).update(actions=actions)
    return get_environment(project, name)


def _check_environment_name(name: str) -> None:
    if not name or len(name) > 255 or text.control_character(name):
        raise FieldRejected("Environment", "name", "invalid", "name must be 1 to 255 printable characters")


def delete_environment(project: Project, name: str) -> None:
    """Refused while deployd is building a deployment of it (conditional on its in-flight set being empty).

    Deployments keep their environment name; the settings, public id and active pointer go with the row.
    """
    environment = get_environment(project, name)
    busy = _busy_message(environment.in_flight)
    if busy:
        raise FieldRejected("Environment", "name", "refused", busy)
    if sites.environment_label(project.slug, project.org_slug, name) is not None and (
        environment.active_deployment_id is not None
    ):
        # Its URL serves a site (production, a branch preview): deleting the row would leave the URL serving
        # a deployment nothing points at any more.
        raise FieldRejected(
            "Environment",
            "name",
            "refused",
            f"environment {name} serves deployment {environment.active_deployment_id} at its URL; "
            "it cannot be deleted (remove a preview through the previews API)",
        )
    if not try_delete(environment, Environment.in_flight.does_not_exist()):
        environment = get_environment(project, name)
        raise FieldRejected(
            "Environment", "name", "refused", _busy_message(environment.in_flight) or "environment changed; retry"
        )


def _busy_message(in_flight: Collection[int] | None) -> str | None:
    if not in_flight:
        return None
    busy = ", ".join(str(i) for i in sorted(in_flight))
    return f"environment has deployment(s) {busy} in progress; wait for them to finish or cancel them first"
