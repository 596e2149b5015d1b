"""The user's path: trigger → real build → live URL → second deployment → rollback; failures, time limit, cancel."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.infra.resources import PIPELINE
from chalicelib.settings import get_settings
from tests.e2e.conftest import Api, RunningStack, fetch, gated_build
from tests.support.git import GitRepo
from tests.support.polling import wait_until
from tests.support.processes import marked_sleep, processes_with

STATIC_BUILD = "mkdir -p dist && cp index.html dist/ && echo built"


def _execution_status(stack: RunningStack, deployment_id: int) -> str:
    sfn = stack.aws_client("stepfunctions")
    name = get_settings().resource_name(PIPELINE.logical)
    arn = f"arn:aws:states:us-east-1:123456789012:execution:{name}:deployment-{deployment_id}"
    return str(sfn.describe_execution(executionArn=arn)["status"])


def test_deployment_moves_through_every_status_and_serves_the_build(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], shared_dir: Path
) -> None:
    # Given a repository and a project whose build waits for the test's signal
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "<h1>hello v1</h1>"}, "Homepage v1")
    gate = shared_dir / "gate"
    project = api.create_project(repo.path, build_command=gated_build(gate), output_dir="dist")
    assert isinstance(project["id"], int)
    assert project["production_url"].startswith("http://127.0.0.1:")

    # When a deployment is triggered
    queued = api.trigger(project["id"], branch="main")

    # Then it starts queued, with the branch head resolved at trigger time
    assert queued["status"] == "queued"
    assert queued["commit_sha"] == sha
    assert queued["commit_message"] == "Homepage v1"
    assert queued["commit_author"] == "Ada Lovelace"
    assert queued["branch"] == "main"

    # And while it builds, its status is building and its log already shows the build's output
    seen = {queued["status"]}
    building = api.wait_for_status(project["id"], queued["id"], "building")
    seen.add(building["status"])
    wait_until(lambda: "build-started" in api.logs(project["id"], queued["id"]), what="live build output")

    # When the build is allowed to finish
    gate.touch()

    def progressed() -> dict[str, Any] | None:
        d = api.deployment(project["id"], queued["id"])
        seen.add(d["status"])
        return d if d["status"] == "deployed" else None

    deployed = wait_until(progressed, timeout=60, interval=0.02, what="deployed")

    # Then it is deployed, its own URL and the production URL serve the build
    assert {"queued", "building", "deployed"} <= seen
    assert deployed["is_active"] is True
    assert deployed["deployed_at"] is not None
    assert deployed["build_time_seconds"] is not None
    assert fetch(deployed["deployment_url"]).text == "<h1>hello v1</h1>"
    production = fetch(project["production_url"])
    assert production.status_code == 200 and production.text == "<h1>hello v1</h1>"
    log = api.logs(project["id"], queued["id"])
    for step in ("cloning", "building", "uploading"):
        assert f"Status: {step}" in log


def test_a_second_deployment_takes_over_production_and_rollback_restores_the_first_without_rebuilding(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given two deployed versions of the same project
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "version one"}, "v1")
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    first = api.trigger(project["id"])
    api.wait_for_status(project["id"], first["id"], "deployed")
    repo.commit({"index.html": "version two"}, "v2")
    second = api.trigger(project["id"])
    second = api.wait_for_status(project["id"], second["id"], "deployed")

    # Then production serves the newer build, and the first keeps its own URL
    assert fetch(project["production_url"]).text == "version two"
    first = api.deployment(project["id"], first["id"])
    assert first["is_active"] is False
    assert fetch(first["deployment_url"]).text == "version one"

    # When rolling back to the first
    response = api.post(f"/projects/{project['id']}/deployments/{first['id']}/rollback")

    # Then production serves the first build at once, and no new deployment was built
    assert response.status_code == 200, response.text
    assert response.json()["data"]["is_active"] is True
    served = fetch(project["production_url"])
    assert served.text == "version one"
    assert served.headers["X-Deployd-Deployment-Id"] == str(first["id"])
    listing = api.get(f"/projects/{project['id']}/deployments").json()
    assert listing["meta"]["total"] == 2
    assert [d["id"] for d in listing["data"]] == [second["id"], first["id"]]
    assert [d["is_active"] for d in listing["data"]] == [False, True]


def test_failing_build_ends_failed_with_reason_and_keeps_its_log(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "x"}, "broken")
    project = api.create_project(repo.path, build_command="echo compiling; echo 'syntax error' >&2; exit 3")

    deployment = api.trigger(project["id"])
    failed = api.wait_for_status(project["id"], deployment["id"], "failed", "deployed")

    assert failed["status"] == "failed"
    assert "exited with status 3" in failed["error_message"]
    log = api.get(f"/projects/{project['id']}/deployments/{deployment['id']}/logs").json()["data"]
    assert "compiling" in log["build_logs"] and "syntax error" in log["build_logs"]
    assert log["error_message"] == failed["error_message"]
    assert fetch(project["production_url"]).status_code == 404


def test_build_over_its_time_limit_is_stopped_and_fails(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "x"}, "slow")
    marker = f"slow-build-{uuid.uuid4().hex}"
    project = api.create_project(repo.path, build_command=marked_sleep(marker, 120), build_timeout_seconds=2)

    deployment = api.trigger(project["id"])
    failed = api.wait_for_status(project["id"], deployment["id"], "failed", "deployed", timeout=60)

    assert failed["status"] == "failed"
    assert "time limit of 2 seconds" in failed["error_message"]
    wait_until(lambda: not processes_with(marker), timeout=10, what="the build process to be gone")


def test_cancel_stops_the_running_build_and_its_state_machine(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given a build that is running (its shell and a child process are alive)
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "never served"}, "v1")
    shell, child = f"build-shell-{uuid.uuid4().hex}", f"build-child-{uuid.uuid4().hex}"
    project = api.create_project(repo.path, build_command=f": {shell}; {marked_sleep(child)} & wait")
    deployment = api.trigger(project["id"])
    api.wait_for_status(project["id"], deployment["id"], "building")
    wait_until(lambda: processes_with(child), what="the build to start its child")

    # When it is cancelled
    response = api.post(f"/projects/{project['id']}/deployments/{deployment['id']}/cancel")

    # Then it is cancelled, the build's processes are gone and the execution is no longer running
    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "cancelled"
    for marker in (shell, child):
        wait_until(lambda m=marker: not processes_with(m), timeout=15, what=f"the build's {marker} to be gone")
    wait_until(lambda: _execution_status(stack, deployment["id"]) != "RUNNING", timeout=30, what="execution stopped")
    # And no late result can revive it
    final = api.deployment(project["id"], deployment["id"])
    assert final["status"] == "cancelled" and final["deployment_url"] is None
    assert fetch(project["production_url"]).status_code == 404
    assert "cancelled" in api.logs(project["id"], deployment["id"])


def test_queued_deployment_can_be_cancelled(org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]) -> None:
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "x"}, "v1")
    project = api.create_project(repo.path, build_command="sleep 30")

    deployment = api.trigger(project["id"])
    response = api.post(f"/projects/{project['id']}/deployments/{deployment['id']}/cancel")

    assert response.status_code == 200, response.text
    assert response.json()["data"]["status"] == "cancelled"
    assert api.deployment(project["id"], deployment["id"])["status"] == "cancelled"


def test_build_checks_out_the_commit_recorded_at_trigger_not_the_later_branch_head(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], shared_dir: Path
) -> None:
    # Given a deployment triggered at v1 whose build is held before it reads the files
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "content v1"}, "v1")
    gate = shared_dir / "gate"
    project = api.create_project(repo.path, build_command=gated_build(gate), output_dir="dist")
    deployment = api.trigger(project["id"])
    api.wait_for_status(project["id"], deployment["id"], "building")

    # When the branch moves on before the build finishes
    repo.commit({"index.html": "content v2"}, "v2")
    gate.touch()

    # Then the deployment serves the commit recorded at trigger time
    deployed = api.wait_for_status(project["id"], deployment["id"], "deployed")
    assert fetch(deployed["deployment_url"]).text == "content v1"
