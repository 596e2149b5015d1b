"""The embedded stack runs the scheduled handler on its own timer (here every second): a preview whose
branch is deleted goes away without anyone calling the API; schedule settings are validated over HTTP.
Rebuilds at chosen times are proven in tests/integration/test_schedules.py, where the test sets `now`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import RunningStack, create_org, fetch, start_stack, stop_stack
from tests.support.git import GitRepo
from tests.support.polling import wait_until

STATIC_BUILD = "mkdir -p dist && cp index.html dist/"


@pytest.fixture(scope="module")
def timed_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("timed"), DEPLOYD_SCHEDULE_INTERVAL_SECONDS="1")
    yield running
    stop_stack(running)


def test_the_timer_removes_the_preview_of_a_deleted_branch(
    timed_stack: RunningStack, git_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    # Given a live preview of a branch, in a project with a preview time to live
    api = create_org(timed_stack)
    repo = git_repo()
    repo.commit({"index.html": "<h1>main</h1>"}, "Home")
    repo.git("checkout", "-q", "-b", "spike")
    repo.commit({"index.html": "<h1>spike</h1>"}, "Spike")
    repo.git("checkout", "-q", "main")
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist", preview_ttl_hours=24)
    created = api.post(f"/projects/{project['id']}/previews", json={"branch": "spike"})
    assert created.status_code == 202, created.text
    preview = created.json()["data"]
    api.wait_for_status(project["id"], preview["deployment"]["id"], "deployed")
    assert "spike" in fetch(preview["preview_url"]).text

    # When the branch is deleted from the repository
    repo.git("branch", "-D", "spike")

    # Then within a few timer ticks the preview is gone and its URL no longer serves
    def gone() -> bool:
        return api.get(f"/projects/{project['id']}/previews").json()["meta"] == {"total": 0}

    wait_until(gone, timeout=30, what="the timer to remove the preview of the deleted branch")
    assert fetch(preview["preview_url"]).status_code == 404
    assert api.get(f"/projects/{project['id']}/previews/spike").status_code == 404


def test_an_invalid_schedule_is_a_400(timed_stack: RunningStack, git_repo: Callable[..., GitRepo]) -> None:
    # Given a project
    api = create_org(timed_stack)
    repo = git_repo()
    repo.commit({"index.html": "<h1>main</h1>"}, "Home")
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")

    # When its rebuild schedule is set to something that is not a schedule expression
    refused = api.request("PATCH", f"/projects/{project['id']}", json={"preview_rebuild_schedule": "every tuesday"})

    # Then it is refused naming the field, and a valid expression is accepted
    assert refused.status_code == 400, refused.text
    assert "preview_rebuild_schedule" in refused.text
    accepted = api.request(
        "PATCH",
        f"/projects/{project['id']}",
        json={"preview_rebuild_schedule": "cron(0 3 ? * MON-FRI *)", "preview_ttl_hours": 48},
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["data"]["preview_rebuild_schedule"] == "cron(0 3 ? * MON-FRI *)"
    assert accepted.json()["data"]["preview_rebuild_skip_unchanged"] is True
