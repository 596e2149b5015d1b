"""Branch previews: a deployment of a branch into that branch's own environment (`preview/<branch>`).

The preview URL is stable per (project, branch) and serves the branch's newest successful build (the
activation rule "newer wins" applies per environment); every build also keeps its immutable URL. A new
trigger for a branch supersedes its running build: the older one is cancelled (its processes are stopped
within one heartbeat interval and its result can never be published).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from chalicelib.adapters import sites
from chalicelib.errors import Conflict, Forbidden, InvalidInput, NotFound
from chalicelib.models.attributes import utc_now
from chalicelib.models.conditional import try_update
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import Environment, EnvironmentRepository
from chalicelib.models.organization import OrganizationRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.route import Route
from chalicelib.observability import logger
from chalicelib.services import deployments, statuses
from chalicelib.services.deployments import DeploymentSpec, DeploymentView

PLANS_WITH_PREVIEWS = frozenset({"pro", "enterprise"})


class Preview(NamedTuple):
    project: Project
    environment: Environment
    branch: str
    url: str
    latest: Deployment | None  # the newest deployment of the branch, whatever its status
    active: Deployment | None  # what the preview URL serves

    @property
    def last_built_at(self) -> datetime | None:
        return self.active.deployed_at if self.active else None


def require_previews(org_slug: str) -> None:
    plan = OrganizationRepository.get(org_slug).plan
    if plan not in PLANS_WITH_PREVIEWS:
        raise Forbidden(f"preview deployments are not available on the {plan} plan (pro and enterprise have them)")


def preview_url(project: Project, branch: str) -> str:
    return sites.url_for(sites.preview_label(project.slug, project.org_slug, branch))


def check_trigger(org_slug: str, project_id: int) -> Project:
    """What a preview trigger must pass before it is counted against a rate limit: the plan has previews,
    the project is the organization's, and deployd builds it."""
    require_previews(org_slug)
    project = ProjectRepository.get(org_slug, project_id)
    if project.build_command is None:
        raise InvalidInput(f"project {project_id} has no build command: deployd builds previews", field="branch")
    return project


def trigger(
    org_slug: str, project_id: int, branch: str, creator: str, triggered_by: str = "api", source: str = "native"
) -> DeploymentView:
    """Deploy the branch head to its preview; a preview already building is superseded, not duplicated."""
    project = check_trigger(org_slug, project_id)
    environment = sites.preview_environment(branch)
    before = EnvironmentRepository.find(project.id, environment)
    view = deployments.create(
        org_slug,
        project_id,
        DeploymentSpec(
            triggered_by=triggered_by,
            ref=branch,
            environment=environment,
            source=source,
            creator=creator,
            transient_environment=True,  # a preview goes away; GitHub shows it destroyed when it does
            production_environment=False,
        ),
    )
    for older_id in sorted((before.in_flight or set()) if before else set()):
        _supersede(org_slug, project_id, older_id)
    # Projects with previews are visited by the retention job (the by-schedule index), schedule or not.
    Project(id=project.id).update(
        actions=[Project.schedule_bucket.set(Project.schedule_bucket | "retention")], condition=Project.id.exists()
    )
    return view


def _supersede(org_slug: str, project_id: int, deployment_id: int) -> None:
    try:
        deployments.cancel(org_slug, project_id, deployment_id)
        logger.info("preview build superseded", extra={"superseded_deployment_id": deployment_id})
    except Conflict:  # it ended meanwhile; the newer build still wins when it goes live
        pass


def _preview(project: Project, environment: Environment) -> Preview:
    branch = environment.name[len(sites.PREVIEW_PREFIX) :]
    ids = set(environment.in_flight or set())
    if environment.active_deployment_id is not None:
        ids.add(environment.active_deployment_id)
    latest = DeploymentRepository.find(max(ids)) if ids else None
    active = (
        DeploymentRepository.find(environment.active_deployment_id)
        if environment.active_deployment_id is not None
        else None
    )
    return Preview(project, environment, branch, preview_url(project, branch), latest, active)


def list_previews(org_slug: str, project_id: int) -> list[Preview]:
    project = ProjectRepository.get(org_slug, project_id)
    return [
        _preview(project, env)
        for env in EnvironmentRepository.list(project.id)
        if env.name.startswith(sites.PREVIEW_PREFIX) and env.removed_at is None
    ]


def get(org_slug: str, project_id: int, branch: str) -> Preview:
    project = ProjectRepository.get(org_slug, project_id)
    env = EnvironmentRepository.find(project.id, sites.preview_environment(branch))
    if env is None or env.removed_at is not None:
        raise NotFound(f"project {project_id} has no preview of branch '{branch}'")
    return _preview(project, env)


def remove(org_slug: str, project_id: int, branch: str, reason: str = "deleted") -> Preview:
    """Take a preview down: running builds are cancelled, its URL stops serving, its deployments are
    inactive (destroyed, in GitHub's words). Artifacts stay until the retention job removes them."""
    preview = get(org_slug, project_id, branch)
    for deployment_id in sorted(preview.environment.in_flight or set()):
        _supersede(org_slug, project_id, deployment_id)
    Route(host=sites.preview_label(preview.project.slug, preview.project.org_slug, branch)).delete()
    removed = try_update(
        preview.environment,
        [
            Environment.removed_at.set(utc_now()),
            Environment.removed_reason.set(reason),
            Environment.active_deployment_id.remove(),
            Environment.active_seq.remove(),
        ],
        Environment.removed_at.does_not_exist(),  # two cleanups racing remove it once
    )
    if not removed:
        raise NotFound(f"project {project_id} has no preview of branch '{branch}'")
    for deployment_id in sorted(preview.environment.live_ids or set()):
        deployment = DeploymentRepository.find(deployment_id)
        if deployment is not None and not deployment.inactive:
            statuses.mark_inactive(deployment, f"Preview removed: {reason}")
    logger.info("preview removed", extra={"project_id": project_id, "branch": branch, "reason": reason})
    return preview
