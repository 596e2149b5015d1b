"""One ledger, three dialects: a deployment created in one API is seen consistently in the other two."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Api, RunningStack, fetch
from tests.support.git import GitRepo
from tests.support.polling import wait_until

STATIC_BUILD = "mkdir -p dist && cp index.html dist/"


def test_a_native_deployment_reads_the_same_in_github_and_gitlab(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given a deployment triggered and built through the native API
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "cross v1"}, "v1")
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    native = api.trigger(project["id"])
    native = api.wait_for_status(project["id"], native["id"], "deployed")

    # Then GitHub lists it with its sha and ref, and its statuses end in success with deployd's URLs
    repo_path = f"/repos/{api.org}/{project['slug']}"
    listed = api.github("GET", f"{repo_path}/deployments").json()
    assert [d["id"] for d in listed] == [native["id"]]
    assert listed[0]["sha"] == sha and listed[0]["ref"] == "main" and listed[0]["environment"] == "production"

    def github_states() -> list[str]:
        response = api.github("GET", f"{repo_path}/deployments/{native['id']}/statuses")
        return [s["state"] for s in response.json()]

    states = wait_until(lambda: (s := github_states()) and s[0] == "success" and s, what="success status")
    assert states == ["success", "in_progress", "queued"]
    latest = api.github("GET", f"{repo_path}/deployments/{native['id']}/statuses").json()[0]
    assert fetch(latest["environment_url"]).text == "cross v1"
    assert "/logs" in latest["log_url"]

    # And GitLab sees the same deployment, iid 1, success, in the production environment
    gitlab = api.gitlab("GET", f"/projects/{project['id']}/deployments/{native['id']}").json()
    assert gitlab["iid"] == 1 and gitlab["sha"] == sha and gitlab["status"] == "success"
    assert gitlab["environment"]["name"] == "production"


def test_an_external_github_deployment_moves_the_native_and_gitlab_views(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given a ledger project (no build command) and a deployment created through GitHub
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "x"}, "v1")
    project = api.create_project(repo.path)
    repo_path = f"/repos/{api.org}/{project['slug']}"
    created = api.github("POST", f"{repo_path}/deployments", json={"ref": "main", "environment": "staging"})
    assert created.status_code == 201, created.text
    deployment_id = created.json()["id"]

    # Then the native API and GitLab see it queued / created
    assert api.deployment(project["id"], deployment_id)["status"] == "queued"
    gitlab_path = f"/projects/{project['id']}/deployments/{deployment_id}"
    assert api.gitlab("GET", gitlab_path).json()["status"] == "created"

    # When the external deployer reports success through GitHub
    reported = api.github(
        "POST",
        f"{repo_path}/deployments/{deployment_id}/statuses",
        json={"state": "success", "environment_url": "https://staging.example.com"},
    )
    assert reported.status_code == 201, reported.text

    # Then it is deployed natively and successful in GitLab, with the deployer's URL
    native = api.deployment(project["id"], deployment_id)
    assert native["status"] == "deployed" and native["commit_sha"] == sha
    assert native["deployment_url"] == "https://staging.example.com"
    gitlab = api.gitlab("GET", gitlab_path).json()
    assert gitlab["status"] == "success" and gitlab["environment"]["name"] == "staging"


def test_an_external_gitlab_deployment_is_listed_by_github_and_the_native_api(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "x"}, "v1")
    project = api.create_project(repo.path)
    created = api.gitlab(
        "POST",
        f"/projects/{project['id']}/deployments",
        json={"environment": "production", "sha": sha, "ref": "main", "tag": False, "status": "running"},
    )
    assert created.status_code == 201, created.text
    deployment_id = created.json()["id"]

    assert api.deployment(project["id"], deployment_id)["status"] == "deploying"
    listed = api.github("GET", f"/repos/{api.org}/{project['slug']}/deployments").json()
    assert [d["id"] for d in listed] == [deployment_id] and listed[0]["sha"] == sha

    updated = api.gitlab("PUT", f"/projects/{project['id']}/deployments/{deployment_id}", json={"status": "failed"})
    assert updated.status_code == 200, updated.text
    assert api.deployment(project["id"], deployment_id)["status"] == "failed"
    states = [
        s["state"]
        for s in api.github("GET", f"/repos/{api.org}/{project['slug']}/deployments/{deployment_id}/statuses").json()
    ]
    assert states[:1] == ["failure"]
