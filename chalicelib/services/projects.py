"""Project registration and settings, always within the caller's organization."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from chalicelib.adapters import git, sites
from chalicelib.errors import Conflict, InvalidInput
from chalicelib.models.attributes import utc_now
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import PRODUCTION, EnvironmentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.registry import next_id
from chalicelib.models.route import Route
from chalicelib.services import schedule_expressions
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.services.inputs import ProjectCreate, ProjectUpdate


class ProjectView(NamedTuple):
    project: Project
    production_url: str
    active_deployment_id: int | None


def _view(project: Project) -> ProjectView:
    env = EnvironmentRepository.find(project.id, PRODUCTION)
    active = env.active_deployment_id if env else None
    return ProjectView(project, sites.url_for(sites.production_label(project.slug, project.org_slug)), active)


SCHEDULED = "scheduled"  # a rebuild schedule is set: the handler rebuilds previews and applies retention
RETAINED = "retention"  # no schedule, but previews or a time to live: the handler applies retention only


def schedule_bucket(schedule: str | None, ttl_hours: int | None, has_previews: bool) -> str | None:
    """Which partition of the sparse by-schedule index lists the project, if any: every project the
    scheduled handler has work for is in one, so it never scans the projects table."""
    if schedule:
        return SCHEDULED
    if ttl_hours is not None or has_previews:
        return RETAINED
    return None


def create(org_slug: str, body: ProjectCreate) -> ProjectView:
    schedule = schedule_expressions.validate(body.preview_rebuild_schedule)
    project = Project(
        id=next_id("project"),
        org_slug=org_slug,
        slug=body.project_slug(),
        name=body.name,
        repo_url=git.validate_repo_url(body.repo_url),
        default_branch=body.default_branch,
        build_command=body.build_command,
        output_dir=body.output_dir,
        build_timeout_seconds=body.build_timeout_seconds or get_settings().default_build_timeout_seconds,
        preview_rebuild_schedule=schedule,
        preview_rebuild_skip_unchanged=body.preview_rebuild_skip_unchanged,
        preview_ttl_hours=body.preview_ttl_hours,
        health_check_path=body.health_check_path,
        auto_rollback=body.auto_rollback,
        # The schedule's clock starts when it is set: the first rebuild is its first firing after now.
        last_scheduled_run_at=utc_now() if schedule else None,
        schedule_bucket=schedule_bucket(schedule, body.preview_ttl_hours, has_previews=False),
    )
    return _view(ProjectRepository.create(project))


def require(org_slug: str, project_id: int) -> Project:
    """The organization's project (NotFound otherwise), without what its view reads besides."""
    return ProjectRepository.get(org_slug, project_id)


def get(org_slug: str, project_id: int) -> ProjectView:
    return _view(ProjectRepository.get(org_slug, project_id))


def list_all(org_slug: str) -> list[ProjectView]:
    return [_view(p) for p in ProjectRepository.list(org_slug)]


def update(org_slug: str, project_id: int, body: ProjectUpdate) -> ProjectView:
    project = ProjectRepository.get(org_slug, project_id)
    changes = body.model_dump(exclude_unset=True)
    for required in (
        "name",
        "repo_url",
        "default_branch",
        "output_dir",
        "build_timeout_seconds",
        "health_check_path",
        "auto_rollback",
    ):
        if required in changes and changes[required] is None:
            raise InvalidInput(f"{required} cannot be null", field=required)
    if "repo_url" in changes:
        changes["repo_url"] = git.validate_repo_url(changes["repo_url"])
    if "preview_rebuild_skip_unchanged" in changes and changes["preview_rebuild_skip_unchanged"] is None:
        raise InvalidInput("preview_rebuild_skip_unchanged cannot be null", field="preview_rebuild_skip_unchanged")
    if "preview_rebuild_schedule" in changes or "preview_ttl_hours" in changes:
        changes.update(_schedule_changes(project, changes))
    if not changes:
        return _view(project)
    return _view(ProjectRepository.update(project, changes))


def _schedule_changes(project: Project, changes: dict[str, Any]) -> dict[str, Any]:
    """Keep the index membership and the schedule's clock in step with the schedule settings."""
    result: dict[str, Any] = {}
    schedule: str | None = project.preview_rebuild_schedule
    if "preview_rebuild_schedule" in changes:
        schedule = schedule_expressions.validate(changes["preview_rebuild_schedule"])
        result["preview_rebuild_schedule"] = schedule
        if schedule and schedule != project.preview_rebuild_schedule:
            result["last_scheduled_run_at"] = utc_now()  # a new schedule counts from now, not from the old one
    ttl = changes.get("preview_ttl_hours", project.preview_ttl_hours)
    has_previews = any(
        env.name.startswith(sites.PREVIEW_PREFIX) and env.removed_at is None
        for env in EnvironmentRepository.list(project.id)
    )
    result["schedule_bucket"] = schedule_bucket(schedule, ttl, has_previews)
    return result


def delete(org_slug: str, project_id: int) -> None:
    """Remove the project and take its sites offline. Deployment records and artifacts are kept."""
    project = ProjectRepository.get(org_slug, project_id)
    environments = EnvironmentRepository.list(project.id)
    for env in environments:
        if env.in_flight:
            raise Conflict(f"project {project_id} has deployments in progress; cancel them first")
    ProjectRepository.delete(project, [env.name for env in environments])
    labels = {sites.production_label(project.slug, project.org_slug)}
    for env in environments:
        label = sites.environment_label(project.slug, project.org_slug, env.name)
        if label is not None:
            labels.add(label)
    for label in labels:
        Route(host=label).delete()
    for deployment in Deployment.by_project.query(project.id, attributes_to_get=["id"]):
        Route(host=sites.deployment_label(deployment.id, project.slug, project.org_slug)).delete()
