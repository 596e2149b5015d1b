"""GitLab dialect through python-gitlab over real HTTP: an external deployer's ledger, and projects deployd builds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gitlab
import pytest
from gitlab import exceptions

from tests.e2e.conftest import Api, RunningStack, fetch, gated_build
from tests.support.git import GitRepo
from tests.support.polling import wait_until


def gitlab_client(stack: RunningStack, api: Api) -> gitlab.Gitlab:
    return gitlab.Gitlab(stack.api, private_token=api.token)


def deploy_spec(sha: str, status: str, environment: str = "production", ref: str = "main") -> dict[str, Any]:
    return {"environment": environment, "sha": sha, "ref": ref, "tag": False, "status": status}


def test_an_external_deployer_records_and_moves_its_deployments(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given a ledger project (no build command) seen through python-gitlab by path and by id
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "v1"}, "Release 1\n\nThe first one")
    created = api.create_project(repo.path)
    gl = gitlab_client(stack, api)
    by_path = gl.projects.get(f"{api.org}/{created['slug']}")
    by_id = gl.projects.get(created["id"])
    assert by_path.id == by_id.id == created["id"]
    assert by_path.path_with_namespace == f"{api.org}/{created['slug']}"
    assert by_path.namespace["kind"] == "group" and by_path.namespace["full_path"] == api.org
    assert by_path.default_branch == "main"

    # When the deployer records a running deployment
    deployment = by_path.deployments.create(deploy_spec(sha, "running"))

    # Then it is recorded as given, iid 1, with no job (deployd does not build it)
    assert deployment.status == "running" and deployment.iid == 1
    assert deployment.sha == sha and deployment.ref == "main"
    assert deployment.deployable is None
    assert deployment.environment["name"] == "production" and isinstance(deployment.environment["id"], int)
    assert deployment.user["username"] == f"{api.org}_key_{api.token.split('_')[1]}"
    assert api.deployment(created["id"], deployment.id)["status"] == "deploying"

    # When it reports success (python-gitlab's save() sends PUT {status})
    deployment.status = "success"
    deployment.save()

    # Then GitLab and the native API both read it as finished
    assert deployment.status == "success"
    assert by_id.deployments.get(deployment.id).status == "success"
    assert api.deployment(created["id"], deployment.id)["status"] == "deployed"
    assert deployment.mergerequests.list() == []

    # And a finished deployment cannot move again
    deployment.status = "running"
    with pytest.raises(exceptions.GitlabUpdateError) as finished:
        deployment.save()
    assert finished.value.response_code == 400 and "already finished (success)" in finished.value.error_message

    # When a second deployment is running, neither it nor the current one can be deleted
    second = by_path.deployments.create(deploy_spec(sha, "running"))
    assert second.iid == 2
    path = f"/projects/{created['id']}/deployments"
    with pytest.raises(exceptions.GitlabHttpError) as running:
        gl.http_delete(f"{path}/{second.id}")
    assert running.value.response_code == 400 and running.value.error_message == "Cannot destroy running deployment"
    with pytest.raises(exceptions.GitlabHttpError) as current:
        gl.http_delete(f"{path}/{deployment.id}")
    assert current.value.response_code == 400
    assert current.value.error_message == "Deployment currently deployed to environment"

    # When the second one succeeds, the first is no longer current and can be deleted
    second.status = "success"
    second.save()
    deleted = gl.http_delete(f"{path}/{deployment.id}")
    assert deleted.status_code == 202 and deleted.json() == {"message": "202 Accepted"}
    with pytest.raises(exceptions.GitlabGetError) as gone:
        by_id.deployments.get(deployment.id)
    assert gone.value.response_code == 404
    assert [d.id for d in by_id.deployments.list(get_all=True)] == [second.id]


def test_a_built_project_runs_the_pipeline_and_reads_created_running_success(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], shared_dir: Path
) -> None:
    # Given a project deployd builds, whose build waits for the test's signal
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "<h1>gitlab v1</h1>"}, "Homepage\n\nbody")
    gate = shared_dir / "gate"
    created = api.create_project(repo.path, build_command=gated_build(gate), output_dir="dist")
    project = gitlab_client(stack, api).projects.get(f"{api.org}/{created['slug']}")

    # When a GitLab client creates a deployment with status created
    deployment = project.deployments.create(deploy_spec(sha, "created"))

    # Then it starts created, with deployd's build as its job
    seen = [deployment.status]
    assert deployment.status == "created"
    assert deployment.deployable["stage"] == "deploy" and deployment.deployable["status"] == "pending"
    assert deployment.deployable["commit"]["id"] == sha and deployment.deployable["commit"]["title"] == "Homepage"
    assert deployment.deployable["pipeline"] is None

    # And it reads running while the build runs, and success once it is live
    def status_is(*wanted: str) -> Any:
        current = project.deployments.get(deployment.id)
        if current.status not in seen:
            seen.append(current.status)
        return current if current.status in wanted else None

    wait_until(lambda: status_is("running"), timeout=30, interval=0.05, what="running")
    gate.touch()
    done = wait_until(lambda: status_is("success", "failed"), timeout=30, interval=0.05, what="success")
    assert seen == ["created", "running", "success"]
    assert done.deployable["status"] == "success" and done.deployable["finished_at"] is not None
    assert fetch(done.environment["external_url"]).text == "<h1>gitlab v1</h1>"
    live = api.deployment(created["id"], deployment.id)["deployment_url"]
    assert fetch(live).text == "<h1>gitlab v1</h1>"

    # And its status cannot be set by the client, nor canceled once finished
    done.status = "failed"
    with pytest.raises(exceptions.GitlabUpdateError) as follows:
        done.save()
    assert follows.value.response_code == 400
    assert follows.value.error_message == (
        f"deployment {deployment.id} is built by deployd; its status follows the build (currently success)"
    )
    done.status = "canceled"
    with pytest.raises(exceptions.GitlabUpdateError) as finished:
        done.save()
    assert finished.value.response_code == 400 and "already finished (success)" in finished.value.error_message

    # And a deployment of it cannot start in any other status than created
    with pytest.raises(exceptions.GitlabCreateError) as refused:
        project.deployments.create(deploy_spec(sha, "success"))
    assert refused.value.response_code == 400 and "built by deployd" in refused.value.error_message


def test_canceling_a_built_deployment_stops_its_build(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    # Given a built deployment held in its build
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "v1"}, "v1")
    created = api.create_project(repo.path, build_command=gated_build(tmp_path / "never"), output_dir="dist")
    project = gitlab_client(stack, api).projects.get(created["id"])
    deployment = project.deployments.create(deploy_spec(sha, "created", environment="staging"))
    wait_until(lambda: project.deployments.get(deployment.id).status == "running", timeout=30, what="running")
    api.wait_for_status(created["id"], deployment.id, "building")  # past the clone: its command runs

    # When the client sets its status to canceled
    deployment.status = "canceled"
    deployment.save()

    # Then it is canceled here and natively, its build is stopped, and, having ended, it can be deleted
    assert deployment.status == "canceled" and deployment.deployable["status"] == "canceled"
    assert api.deployment(created["id"], deployment.id)["status"] == "cancelled"
    wait_until(lambda: "Build cancelled" in api.logs(created["id"], deployment.id), timeout=15, what="build stopped")
    response = project.manager.gitlab.http_delete(f"/projects/{created['id']}/deployments/{deployment.id}")
    assert response.status_code == 202
