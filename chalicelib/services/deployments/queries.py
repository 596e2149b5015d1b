"""Reading deployments: one deployment, a page of a project's history, a build log."""

from __future__ import annotations

from typing import NamedTuple

from chalicelib.adapters import build_logs
from chalicelib.adapters.build_logs import LogText
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import PRODUCTION, EnvironmentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.project_reads import ProjectRead, read_together
from chalicelib.services import listing
from chalicelib.services.listing import Page
from chalicelib.vocabulary import Status

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000  # 100 million deployments at the largest per_page: past any project's history
DEFAULT_PER_PAGE = 20


class DeploymentView(NamedTuple):
    """A deployment together with whether its environment currently serves it."""

    deployment: Deployment
    is_active: bool


class BuildLogView(NamedTuple):
    deployment: Deployment
    log: LogText

    @property
    def text(self) -> str:
        return self.log.text()


def active_id(project_id: int, environment: str = PRODUCTION) -> int | None:
    env = EnvironmentRepository.find(project_id, environment)
    return env.active_deployment_id if env else None


def deployment_of(project: Project, deployment_id: int) -> Deployment:
    return _owned(project, DeploymentRepository.find(deployment_id), deployment_id)


def _owned(project: Project, deployment: Deployment | None, deployment_id: int) -> Deployment:
    if deployment is None or deployment.project_id != project.id:
        raise NotFound(f"deployment {deployment_id} not found in project {project.id}")
    return deployment


def view(org_slug: str, project_id: int, deployment_id: int, read: ProjectRead | None = None) -> DeploymentView:
    """The project, the deployment and production read together (their keys are all in the path), or as `read` has
    them already (read with the caller's key); a deployment of another environment (a preview) reads its own
    environment after. The project still decides who may see the deployment: a deleted project's deployments,
    whose records are kept, answer 404."""
    read = read or read_together(project_id, deployment_id, PRODUCTION)
    project = ProjectRepository.owned(org_slug, project_id, read.project)
    deployment = _owned(project, read.deployment, deployment_id)
    if deployment.environment == PRODUCTION:
        environment = read.environment
    else:
        environment = EnvironmentRepository.find(project.id, deployment.environment)
    active = environment.active_deployment_id if environment is not None else None
    return DeploymentView(deployment, active == deployment.id)


def list_page(
    org_slug: str, project_id: int, page: int, per_page: int, read: ProjectRead | None = None
) -> Page[DeploymentView]:
    """Newest first, each deployment marked when production serves it (the project and production as `read` has
    them, when it does)."""
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"page must be between 1 and {MAX_PAGE}", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
    # Production is read with the project: its key is the path's project id.
    read = read or read_together(project_id, None, PRODUCTION)
    project = ProjectRepository.owned(org_slug, project_id, read.project)
    active = read.environment.active_deployment_id if read.environment is not None else None
    found = listing.deployments(project, page, per_page)
    return found.map(lambda d: DeploymentView(d, d.id == active))


def logs(org_slug: str, project_id: int, deployment_id: int, read: ProjectRead | None = None) -> BuildLogView:
    """The deployment, then its log: read in that order, a log read after a final status holds every line the
    build wrote before it."""
    read = read or read_together(project_id, deployment_id, None)
    deployment = _owned(ProjectRepository.owned(org_slug, project_id, read.project), read.deployment, deployment_id)
    return BuildLogView(deployment, build_log(deployment))


def log_text(deployment: Deployment) -> str:
    """The deployment's whole build log, as one text whichever runner built it."""
    return build_log(deployment).text()


def build_log(deployment: Deployment) -> LogText:
    """The build log; a failed build's log ends with why it failed, as the worker ends a local build's log."""
    log = build_logs.read_log(deployment.id, deployment.build_id)
    if deployment.build_id and deployment.status == Status.FAILED and deployment.error_message:
        log = log.followed_by(f"==> Failed: {deployment.error_message}\n")
    return log
