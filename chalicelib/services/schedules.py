"""The scheduled handler: rebuilds the previews of projects whose rebuild schedule is due and applies
preview retention. EventBridge invokes it every minute on AWS; the embedded stack's timer does the same.

Time is a parameter (`now`), never read here, so a run is reproducible. Projects are found through the
sparse by-schedule index (never a scan). A project's rebuild is claimed with a conditional write of
`last_scheduled_run_at`, so of any number of concurrent runs for the same firing exactly one rebuilds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chalicelib.adapters import git
from chalicelib.errors import DomainError, Unprocessable
from chalicelib.models.conditional import try_update, unchanged
from chalicelib.models.deployment import DeploymentRepository
from chalicelib.models.project import Project
from chalicelib.observability import logger
from chalicelib.services import previews, retention, schedule_expressions
from chalicelib.services.previews import Preview
from chalicelib.services.projects import RETAINED, SCHEDULED

SCHEDULER = "deployd-scheduler"  # the creator of scheduled builds


@dataclass
class RunReport:
    """What one run did, for logs, the Lambda's return value and tests."""

    rebuilt: list[tuple[int, str, int]] = field(default_factory=list)  # (project id, branch, deployment id)
    skipped: list[tuple[int, str]] = field(default_factory=list)  # unchanged branch heads
    removed: list[tuple[int, str, str]] = field(default_factory=list)  # (project id, branch, reason)
    purged: list[int] = field(default_factory=list)  # deployments whose artifacts were deleted
    failed: list[tuple[int, str]] = field(default_factory=list)  # (project id, what went wrong)

    def summary(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in ("rebuilt", "skipped", "removed", "purged", "failed")}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _indexed_projects() -> Iterator[Project]:
    for bucket in (SCHEDULED, RETAINED):
        yield from Project.by_schedule.query(bucket)


def next_run(project: Project) -> datetime | None:
    """When the project's schedule next fires after its last run (or after it was set)."""
    if not project.preview_rebuild_schedule:
        return None
    schedule = schedule_expressions.parse(project.preview_rebuild_schedule)
    anchor = project.last_scheduled_run_at
    if anchor is None:
        return datetime.fromtimestamp(0, UTC)  # never run: due at once
    return schedule.next_after(anchor)


def is_due(project: Project, now: datetime) -> bool:
    due = next_run(project)
    return due is not None and due <= now


def claim(project: Project, now: datetime) -> bool:
    """Record this run as the project's last scheduled run, only if no other run has since the one we read."""
    return try_update(
        project,
        [Project.last_scheduled_run_at.set(now)],
        unchanged(Project.last_scheduled_run_at, project.last_scheduled_run_at) & Project.id.exists(),
    )


def _branch_head(project: Project, branch: str) -> str | None:
    """The commit the branch points at now; None when the branch is gone from the repository. Any other
    failure (repository unreachable) raises, so an outage never removes a preview."""
    try:
        return git.resolve(project.repo_url, branch).sha
    except Unprocessable as exc:
        if exc.field == "branch" and "does not exist" in exc.message:
            return None
        raise


def _newest_sha(preview: Preview) -> str | None:
    newest = preview.latest or preview.active
    if newest is None:
        return None
    fresh = DeploymentRepository.find(newest.id)
    return fresh.commit_sha if fresh is not None else None


def _run_preview(project: Project, preview: Preview, now: datetime, rebuild: bool, report: RunReport) -> None:
    org, project_id, branch = project.org_slug, project.id, preview.branch
    head = _branch_head(project, branch)
    reason = "branch deleted" if head is None else retention.idle_reason(project, preview, now)
    if reason is not None:
        previews.remove(org, project_id, branch, reason=reason)
        report.removed.append((project_id, branch, reason))
        return
    if not rebuild:
        return
    if project.preview_rebuild_skip_unchanged and head == _newest_sha(preview):
        report.skipped.append((project_id, branch))
        logger.info("scheduled rebuild skipped: branch unchanged", extra={"project_id": project_id, "branch": branch})
        return
    # Straight to the service: scheduled rebuilds are not API calls and count against no rate limit.
    view = previews.trigger(org, project_id, branch, SCHEDULER, "schedule", source="schedule")
    report.rebuilt.append((project_id, branch, view.deployment.id))


def _run_project(project: Project, now: datetime, report: RunReport) -> None:
    rebuild = bool(project.preview_rebuild_schedule) and is_due(project, now) and claim(project, now)
    for preview in previews.list_previews(project.org_slug, project.id):
        try:
            _run_preview(project, preview, now, rebuild, report)
        except DomainError as exc:  # e.g. the repository is unreachable, the plan lost previews
            report.failed.append((project.id, f"{preview.branch}: {exc.message}"))
            logger.warning(
                "scheduled preview work failed",
                extra={"project_id": project.id, "branch": preview.branch, "error": exc.message},
            )
    report.purged.extend(retention.purge_artifacts(project, now))


def run_schedules(now: datetime) -> RunReport:
    """One run: every indexed project's due rebuilds, removals and artifact deletions as of `now`."""
    now = _utc(now)
    report = RunReport()
    for project in _indexed_projects():
        try:
            _run_project(project, now, report)
        except Exception as exc:  # one project's trouble must not stop the others
            logger.exception("scheduled run of a project failed", extra={"project_id": project.id})
            report.failed.append((project.id, f"{exc.__class__.__name__}: {exc}"))
    logger.info("scheduled run", extra={"now": now.isoformat(), **report.summary()})
    return report
