"""Projects: a git repository and how to build it. Slugs are unique per organization through a claim item."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pynamodb.attributes import BooleanAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.errors import AlreadyExists, ConditionFailed, Conflict, NotFound
from chalicelib.infra.resources import PROJECTS
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import transact, try_update
from chalicelib.models.registry import RegistryEntry, slug_claim_name


class ProjectsByOrg(GlobalSecondaryIndex["Project"]):
    class Meta:
        index_name = PROJECTS.indexes[0].name
        projection = AllProjection()

    org_slug = UnicodeAttribute(hash_key=True)
    slug = UnicodeAttribute(range_key=True)


class ProjectsBySchedule(GlobalSecondaryIndex["Project"]):
    class Meta:
        index_name = PROJECTS.indexes[1].name
        projection = AllProjection()

    schedule_bucket = UnicodeAttribute(hash_key=True)
    id = IntegerAttribute(range_key=True)


class Project(Model):
    Meta = table_meta(PROJECTS.logical)

    id = IntegerAttribute(hash_key=True)
    org_slug = UnicodeAttribute()
    slug = UnicodeAttribute()
    name = UnicodeAttribute()
    repo_url = UnicodeAttribute()
    default_branch = UnicodeAttribute()
    build_command = UnicodeAttribute(null=True)
    output_dir = UnicodeAttribute()
    build_timeout_seconds = IntegerAttribute()
    # Scheduled preview rebuilds (cron(...) or rate(...)) and preview retention.
    preview_rebuild_schedule = UnicodeAttribute(null=True)
    preview_rebuild_skip_unchanged = BooleanAttribute(default=True)
    preview_ttl_hours = IntegerAttribute(null=True)
    last_scheduled_run_at = TimestampAttribute(null=True)
    # "scheduled" while a rebuild schedule is set: the sparse index by-schedule lists only those projects.
    schedule_bucket = UnicodeAttribute(null=True)
    # Highest per-project sequence number handed out (GitLab's iid) and the live count (meta.total).
    deployment_seq = IntegerAttribute(default=0)
    deployment_count = IntegerAttribute(default=0)
    # What a promotion fetches to verify a deployment before and after its environment switches to it (docs/
    # promotions.md), and whether production refuses a deployment that fails it (previews only record it).
    health_check_path = UnicodeAttribute(default="/")
    auto_rollback = BooleanAttribute(default=True)
    created_at = TimestampAttribute(default_for_new=utc_now)
    updated_at = TimestampAttribute(default_for_new=utc_now)

    by_org = ProjectsByOrg()
    by_schedule = ProjectsBySchedule()


class ProjectRepository:
    @staticmethod
    def create(project: Project) -> Project:
        claim = RegistryEntry(name=slug_claim_name(project.org_slug, project.slug), owner=str(project.id))

        def claim_and_save(tx: TransactWrite) -> None:
            tx.save(claim, condition=RegistryEntry.name.does_not_exist())
            tx.save(project, condition=Project.id.does_not_exist())

        try:
            transact(claim_and_save)
        except ConditionFailed as exc:
            raise AlreadyExists(
                f"a project with slug '{project.slug}' already exists in this organization", field="slug"
            ) from exc
        return project

    @staticmethod
    def get(org_slug: str, project_id: int) -> Project:
        """A project of this organization; another organization's project is indistinguishable from none."""
        try:
            project = Project.get(project_id, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"project {project_id} not found") from exc
        return ProjectRepository.owned(org_slug, project_id, project)

    @staticmethod
    def owned(org_slug: str, project_id: int, found: Project | None) -> Project:
        """`found` (project `project_id` as read, or None) when this organization owns it; else NotFound, as `get`
        says it."""
        if found is None or found.org_slug != org_slug:
            raise NotFound(f"project {project_id} not found")
        return found

    @staticmethod
    def get_by_id(project_id: int) -> Project:
        try:
            return Project.get(project_id, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"project {project_id} not found") from exc

    @staticmethod
    def find_by_slug(org_slug: str, slug: str) -> Project:
        """The organization's project with this slug (case-insensitive, as GitHub and GitLab paths are)."""
        for project in Project.by_org.query(org_slug, Project.slug == slug.lower(), limit=1):
            return ProjectRepository.get(org_slug, project.id)  # strongly consistent re-read
        raise NotFound(f"project '{org_slug}/{slug}' not found")

    @staticmethod
    def list(org_slug: str) -> list[Project]:
        return list(Project.by_org.query(org_slug))

    @staticmethod
    def update(project: Project, changes: dict[str, Any]) -> Project:
        # None removes the attribute: a NULL would be refused as the key of the sparse by-schedule index.
        actions = [
            getattr(Project, name).remove() if value is None else getattr(Project, name).set(value)
            for name, value in changes.items()
        ]
        actions.append(Project.updated_at.set(utc_now()))
        if not try_update(project, actions, Project.id.exists()):
            raise NotFound(f"project {project.id} not found")
        return project

    @staticmethod
    def delete(project: Project, idle_environments: Sequence[str]) -> None:
        """Delete the project and its slug claim, only if nothing was triggered since it was read (the
        deployment count is unchanged) and the named environments still have nothing in flight."""
        from chalicelib.models.environment import Environment  # environments belong to projects, not the reverse

        def remove(tx: TransactWrite) -> None:
            tx.delete(project, condition=Project.deployment_count == project.deployment_count)
            tx.delete(RegistryEntry(name=slug_claim_name(project.org_slug, project.slug)))
            for name in idle_environments:
                tx.condition_check(Environment, project.id, name, condition=Environment.in_flight.does_not_exist())

        try:
            transact(remove)
        except ConditionFailed as exc:
            raise Conflict(f"project {project.id} changed while being deleted (a new deployment?); retry") from exc
