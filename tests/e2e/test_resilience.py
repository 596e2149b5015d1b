"""No deployment stays in a non-terminal state forever: with no worker answering, the state machine's
heartbeat timeout ends the deployment failed, with the reason, and releases the project for rollbacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack, create_org, start_stack, stop_stack
from tests.support.git import GitRepo


@pytest.fixture(scope="module")
def workerless_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # No build worker polls the queue: the build task never reports progress.
    running = start_stack(
        tmp_path_factory.mktemp("workerless"), DEPLOYD_BUILD_WORKERS="0", DEPLOYD_HEARTBEAT_SECONDS="2"
    )
    yield running
    stop_stack(running)


def test_deployment_whose_worker_never_reports_ends_failed_with_the_reason(
    workerless_stack: RunningStack, tmp_path: Path
) -> None:
    stack = workerless_stack
    api = create_org(stack, plan="free")
    repo = GitRepo.create(tmp_path / "repo")
    repo.commit({"index.html": "x"}, "v1")
    project: dict[str, Any] = api.create_project(repo.path, build_command="true")

    deployment = api.trigger(project["id"])
    failed = api.wait_for_status(project["id"], deployment["id"], "failed", timeout=30)

    assert "stopped reporting progress" in failed["error_message"]
    # It is terminal, and it no longer holds the project: deleting the project (refused while any
    # deployment is in progress) goes through.
    assert api.post(f"/projects/{project['id']}/deployments/{deployment['id']}/cancel").status_code == 409
    assert api.request("DELETE", f"/projects/{project['id']}").status_code == 204
