"""Reading deployments: one deployment, a page of a project's history, a build log."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib import concurrency
from chalicelib.adapters import build_logs
from chalicelib.adapters.build_logs import LogText
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import PRODUCTION, EnvironmentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.services import listing
from chalicelib.services.listing import Page
from chalicelib.vocabulary import Status

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000  # 100 million deployments at the largest per_page: past any project's history
DEFAULT_PER_PAGE = 20


@dataclass(frozen=True)
class DeploymentView:
    """A deployment together with whether its environment currently serves it."""

    deployment: Deployment
    is_active: bool


@dataclass(frozen=True)
class BuildLogView:
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


def _project_and_deployment(org_slug: str, project_id: int, deployment_id: int) -> tuple[Project, Deployment]:
    """Both read at once (neither key needs the other); the project still decides who may see the deployment."""
    project, found = concurrency.both(
        lambda: ProjectRepository.get(org_slug, project_id), lambda: DeploymentRepository.find(deployment_id)
    )
    return project, _owned(project, found, deployment_id)


def view(org_slug: str, project_id: int, deployment_id: int) -> DeploymentView:
    project, deployment = _project_and_deployment(org_slug, project_id, deployment_id)
    return DeploymentView(deployment, active_id(project.id, deployment.environment) == deployment.id)


def list_page(org_slug: str, project_id: int, page: int, per_page: int) -> Page[DeploymentView]:
    """Newest first, each deployment marked when production serves it."""
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"page must be between 1 and {MAX_PAGE}", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
    # Production's active deployment is read beside the project: its key is the path's project id.
    project, active = concurrency.both(
        lambda: ProjectRepository.get(org_slug, project_id), lambda: active_id(project_id)
    )
    found = listing.deployments(project, page, per_page)
    return found.map(lambda d: DeploymentView(d, d.id == active))


def logs(org_slug: str, project_id: int, deployment_id: int) -> BuildLogView:
    """The deployment, then its log: read in that order, a log read after a final status holds every line the
    build wrote before it."""
    _, deployment = _project_and_deployment(org_slug, project_id, deployment_id)
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
