"""Preview retention: which previews have outlived their branch or their time to live, and deleting the
build artifacts of removed previews once the artifact retention has passed.

A preview is idle from the last time its environment changed (a build created or finished). Artifacts of
a removed preview are kept `DEPLOYD_ARTIFACT_RETENTION_HOURS` (default 24) after its removal, so a
mistaken removal can be undone by a rollback; then they are deleted, unless a URL that is still live
(production, or a preview revived meanwhile) serves them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.adapters import sites
from chalicelib.models.conditional import try_update
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import Environment, EnvironmentRepository
from chalicelib.models.project import Project
from chalicelib.models.route import Route, RouteRepository
from chalicelib.observability import logger
from chalicelib.services.previews import Preview
from chalicelib.settings import get_settings


def last_activity(environment: Environment) -> datetime | None:
    return environment.updated_at or environment.created_at


def idle_reason(project: Project, preview: Preview, now: datetime) -> str | None:
    """`idle for N hours` when the project has a time to live and the preview has had no deployment
    activity for longer; None otherwise. A preview with a build running is never idle."""
    if project.preview_ttl_hours is None or preview.environment.in_flight:
        return None
    ttl = project.preview_ttl_hours
    since = last_activity(preview.environment)
    if since is None or now - since <= timedelta(hours=ttl):
        return None
    return f"idle for {ttl} hour{'' if ttl == 1 else 's'}"


def _served_deployments(project: Project, environments: list[Environment]) -> set[int]:
    """Deployments some live environment URL serves right now (production, previews not removed)."""
    labels = {sites.production_label(project.slug, project.org_slug)}
    for env in environments:
        label = sites.environment_label(project.slug, project.org_slug, env.name)
        if label is not None and env.removed_at is None:
            labels.add(label)
    served = set()
    for label in labels:
        route = RouteRepository.find(label)
        if route is not None:
            served.add(route.deployment_id)
    return served


def purge_artifacts(project: Project, now: datetime) -> list[int]:
    """Delete the artifacts of deployments of previews removed more than the retention ago; returns the
    deployment ids purged. Each deployment is purged once: its `artifact_prefix` is removed with a
    conditional write, and its own immutable URL stops serving."""
    retention = timedelta(hours=get_settings().artifact_retention_hours)
    environments = EnvironmentRepository.list(project.id)
    expired = [
        env.name
        for env in environments
        if env.name.startswith(sites.PREVIEW_PREFIX)
        and env.removed_at is not None
        and env.removed_at + retention <= now
    ]
    if not expired:
        return []
    served = _served_deployments(project, environments)
    purged: list[int] = []
    candidates = Deployment.by_project.query(
        project.id,
        filter_condition=Deployment.environment.is_in(*expired) & Deployment.artifact_prefix.exists(),
    )
    for deployment in candidates:
        if deployment.id in served or not deployment.artifact_prefix:
            continue
        Route(host=sites.deployment_label(deployment.id, project.slug, project.org_slug)).delete()
        count = sites.delete_artifacts(deployment.artifact_prefix)
        if not try_update(deployment, [Deployment.artifact_prefix.remove()], Deployment.artifact_prefix.exists()):
            continue  # a concurrent run purged it first
        purged.append(deployment.id)
        logger.info(
            "preview artifacts deleted",
            extra={"project_id": project.id, "deployment_id": deployment.id, "objects": count},
        )
    return purged
