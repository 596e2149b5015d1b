"""Scheduled preview rebuilds and preview retention, on the embedded stack with time chosen by the test:
the handler is called with `now` rather than waited for."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from chalicelib.adapters import sites
from chalicelib.models.deployment_status import DeploymentStatusRepository
from chalicelib.models.environment import EnvironmentRepository
from chalicelib.models.project import Project
from chalicelib.services import organizations, previews, schedule_expressions
from chalicelib.services.schedules import RunReport, run_schedules


def _live_preview(pipeline: Any, org: str, project_id: int, branch: str) -> Any:
    view = previews.trigger(org, project_id, branch, "integration-test")
    done = pipeline.wait_terminal(int(view.deployment.id))
    assert done.status == "deployed", done.error_message
    return done


def _on_branch(repo: Any, branch: str, files: dict[str, str], message: str) -> str:
    repo.git("checkout", "-q", branch)
    sha = repo.commit(files, message)
    repo.git("checkout", "-q", "main")
    return sha


def _published(key: str) -> bool:
    found = sites.open_object(key)
    if found is None:
        return False
    found.close()
    return True


def _mine(report: RunReport, project_id: int) -> RunReport:
    """The part of a run's report about one project (the stack is shared with other tests)."""
    return RunReport(
        rebuilt=[r for r in report.rebuilt if r[0] == project_id],
        skipped=[s for s in report.skipped if s[0] == project_id],
        removed=[r for r in report.removed if r[0] == project_id],
    )


def test_a_due_schedule_rebuilds_a_moved_branch_once_and_skips_an_unmoved_one(
    org_factory, repo_factory, project_factory, pipeline
):
    # Given a pro organization's project rebuilding its previews every hour, with previews of two branches
    org = org_factory(plan="pro").slug
    repo = repo_factory()
    repo.git("branch", "moved")
    repo.git("branch", "still")
    project = project_factory(org, repo, preview_rebuild_schedule="rate(1 hour)").project
    pid = int(project.id)
    first = _live_preview(pipeline, org, pid, "moved")
    _live_preview(pipeline, org, pid, "still")
    # and a new commit on one branch only
    head = _on_branch(repo, "moved", {"index.html": "<h1>moved on</h1>\n"}, "new page")

    # When the schedule is not yet due, nothing happens
    set_at = datetime.now(UTC)
    assert _mine(run_schedules(set_at + timedelta(minutes=30)), pid).rebuilt == []

    # When two runs for the same due time race (two Lambda instances, or the timer and a manual run)
    due = set_at + timedelta(hours=2)
    reports: list[RunReport] = []
    runs = [threading.Thread(target=lambda: reports.append(run_schedules(due))) for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=60)

    # Then the moved branch is rebuilt exactly once from its head, and the unmoved one is skipped
    mine = [_mine(r, pid) for r in reports]
    rebuilt = [r for m in mine for r in m.rebuilt]
    assert [(p, b) for p, b, _ in rebuilt] == [(pid, "moved")]
    assert [s for m in mine for s in m.skipped] == [(pid, "still")]
    rebuild = pipeline.wait_terminal(rebuilt[0][2])
    assert rebuild.status == "deployed" and rebuild.commit_sha == head and rebuild.source == "schedule"
    assert rebuild.creator == "deployd-scheduler" and rebuild.triggered_by == "schedule" and rebuild.id != first.id
    status, served_id, body = pipeline.served(previews.preview_url(project, "moved"))
    assert (status, served_id) == (200, rebuild.id) and "moved on" in body
    assert Project.get(pid, consistent_read=True).last_scheduled_run_at.isoformat().startswith(due.isoformat()[:19])

    # And a later run of the same firing does nothing; the next firing skips both (their heads are built)
    assert _mine(run_schedules(due + timedelta(minutes=1)), pid).rebuilt == []
    later = _mine(run_schedules(due + timedelta(hours=1, minutes=1)), pid)
    assert later.rebuilt == [] and sorted(later.skipped) == [(pid, "moved"), (pid, "still")]


def test_skip_unchanged_off_rebuilds_every_preview(org_factory, repo_factory, project_factory, pipeline):
    # Given a daily schedule that rebuilds even unchanged branches
    org = org_factory(plan="enterprise").slug
    repo = repo_factory()
    repo.git("branch", "same")
    project = project_factory(
        org, repo, preview_rebuild_schedule="cron(0 3 * * ? *)", preview_rebuild_skip_unchanged=False
    ).project
    built = _live_preview(pipeline, org, int(project.id), "same")

    # When the handler runs just before the next 03:00 UTC, nothing; just after it, the rebuild
    firing = schedule_expressions.parse("cron(0 3 * * ? *)").next_after(datetime.now(UTC))
    assert firing is not None
    assert _mine(run_schedules(firing - timedelta(seconds=1)), int(project.id)).rebuilt == []
    report = _mine(run_schedules(firing + timedelta(seconds=30)), int(project.id))

    # Then the unchanged branch is rebuilt anyway
    assert [b for _, b, _ in report.rebuilt] == ["same"] and report.skipped == []
    again = pipeline.wait_terminal(report.rebuilt[0][2])
    assert again.status == "deployed" and again.commit_sha == built.commit_sha


def test_a_deleted_branch_preview_is_removed_and_its_artifacts_deleted_after_retention(
    org_factory, repo_factory, project_factory, pipeline
):
    # Given a project with a live production site and a live preview of a branch
    org = org_factory(plan="pro").slug
    repo = repo_factory()
    repo.git("branch", "short-lived")
    _on_branch(repo, "short-lived", {"index.html": "<h1>short</h1>\n"}, "branch page")
    project = project_factory(org, repo, preview_ttl_hours=72).project
    pid = int(project.id)
    production = pipeline.deploy(org, pid)
    preview = _live_preview(pipeline, org, pid, "short-lived")
    url = previews.preview_url(project, "short-lived")
    assert pipeline.served(url)[0] == 200

    # When the branch is deleted and the scheduled handler runs
    repo.git("branch", "-D", "short-lived")
    now = datetime.now(UTC)
    run_schedules(now)

    # Then the preview URL stops serving, the preview is gone, and its deployment ends inactive (destroyed)
    assert pipeline.served(url)[0] == 404
    assert "short-lived" not in [p.branch for p in previews.list_previews(org, pid)]
    env = EnvironmentRepository.find(pid, sites.preview_environment("short-lived"))
    assert env is not None and env.removed_reason == "branch deleted"
    latest = DeploymentStatusRepository.latest(int(preview.id))
    assert latest is not None and latest.state == "inactive"
    gone = pipeline.deployment(int(preview.id))
    assert gone.inactive and gone.destroyed

    # And its artifacts stay through the retention period, then are deleted; production's are untouched
    prefix = sites.artifact_prefix(int(preview.id))
    assert _published(prefix + "index.html")
    assert _mine(run_schedules(now + timedelta(hours=23)), pid).removed == []
    assert _published(prefix + "index.html")
    report = run_schedules(now + timedelta(hours=25))
    assert int(preview.id) in report.purged and int(production.id) not in report.purged
    assert not _published(prefix + "index.html")
    assert pipeline.deployment(int(preview.id)).artifact_prefix is None
    own = sites.url_for(sites.deployment_label(int(preview.id), project.slug, org))
    assert pipeline.served(own)[0] == 404
    assert pipeline.served(sites.url_for(sites.production_label(project.slug, org)))[:2] == (200, production.id)
    assert int(preview.id) not in run_schedules(now + timedelta(hours=26)).purged  # purged once


def test_an_idle_preview_is_removed_after_its_time_to_live(org_factory, repo_factory, project_factory, pipeline):
    # Given a project whose previews live 2 hours without a deployment
    org = org_factory(plan="pro").slug
    repo = repo_factory()
    repo.git("branch", "quiet")
    project = project_factory(org, repo, preview_ttl_hours=2).project
    pid = int(project.id)
    _live_preview(pipeline, org, pid, "quiet")
    url = previews.preview_url(project, "quiet")
    now = datetime.now(UTC)

    # When the handler runs within the time to live, the preview stays
    assert _mine(run_schedules(now + timedelta(hours=1)), pid).removed == []
    assert pipeline.served(url)[0] == 200

    # When it runs past the time to live, the preview is removed as idle
    report = _mine(run_schedules(now + timedelta(hours=3)), pid)
    assert report.removed == [(pid, "quiet", "idle for 2 hours")]
    assert pipeline.served(url)[0] == 404
    assert previews.list_previews(org, pid) == []


def test_schedule_settings_over_the_native_api(stack, org_factory, repo_factory):
    # Given an organization's API key and a project
    org = org_factory(plan="pro").slug
    token = organizations.create_key(org, "ci", None).token
    api = f"{stack.api_url}/api/v1/public"
    auth = {"Authorization": f"Bearer {token}"}
    repo = repo_factory()
    created = requests.post(
        f"{api}/projects",
        json={"name": "sched", "repo_url": repo.url, "build_command": "true"},
        headers=auth,
        timeout=10,
    )
    assert created.status_code == 201, created.text
    pid = created.json()["data"]["id"]

    # When an invalid schedule is set, it is a 400 naming the field
    for bad in ("every tuesday", "cron(0 3 * * * *)", "rate(0 minutes)", "cron(0 0 L * ? *)"):
        refused = requests.patch(
            f"{api}/projects/{pid}", json={"preview_rebuild_schedule": bad}, headers=auth, timeout=10
        )
        assert refused.status_code == 400, (bad, refused.text)
        assert "preview_rebuild_schedule" in refused.text
    assert Project.get(pid, consistent_read=True).schedule_bucket is None

    # When a valid one is set, the project joins the schedule index; cleared with null, it leaves it
    accepted = requests.patch(
        f"{api}/projects/{pid}", json={"preview_rebuild_schedule": "rate(5 minutes)"}, headers=auth, timeout=10
    )
    assert accepted.status_code == 200 and accepted.json()["data"]["preview_rebuild_schedule"] == "rate(5 minutes)"
    stored = Project.get(pid, consistent_read=True)
    assert stored.schedule_bucket == "scheduled" and stored.last_scheduled_run_at is not None
    assert pid in [int(p.id) for p in Project.by_schedule.query("scheduled")]
    cleared = requests.patch(f"{api}/projects/{pid}", json={"preview_rebuild_schedule": None}, headers=auth, timeout=10)
    assert cleared.status_code == 200 and cleared.json()["data"]["preview_rebuild_schedule"] is None
    assert Project.get(pid, consistent_read=True).schedule_bucket is None

    # And creating a project with an invalid schedule is refused too
    bad_create = requests.post(
        f"{api}/projects",
        json={"name": "bad", "repo_url": repo.url, "preview_rebuild_schedule": "every tuesday"},
        headers=auth,
        timeout=10,
    )
    assert bad_create.status_code == 400 and "preview_rebuild_schedule" in bad_create.text
