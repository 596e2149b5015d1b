"""Native preview endpoints: trigger, list, get (names with "/"), delete; a redeploy supersedes a running build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from tests.e2e.conftest import Api, fetch, gated_build
from tests.support.git import GitRepo
from tests.support.polling import wait_until

STATIC_BUILD = "mkdir -p dist && cp index.html dist/ && echo built"


def _repo_with_branch(git_repo: Callable[..., GitRepo], branch: str, content: str) -> GitRepo:
    repo = git_repo()
    repo.commit({"index.html": "<h1>main</h1>"}, "Home")
    repo.git("checkout", "-q", "-b", branch)
    repo.commit({"index.html": content}, "Branch work")
    return repo


def test_list_get_and_delete_a_preview(org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]) -> None:
    # Given a project whose branch has a live preview
    api = org_api(plan="enterprise")
    repo = _repo_with_branch(git_repo, "feature/login", "<h1>login page</h1>")
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    created = api.post(f"/projects/{project['id']}/previews", json={"branch": "feature/login"})
    assert created.status_code == 202, created.text
    data = created.json()["data"]
    assert data["branch"] == "feature/login"
    assert data["deployment"]["environment"] == "preview/feature/login"
    assert created.headers["x-ratelimit-resource"] == "previews"
    api.wait_for_status(project["id"], data["deployment"]["id"], "deployed")
    assert "login page" in fetch(data["preview_url"]).text

    # When the previews are listed, and the one is read by its URL-encoded name
    listing = api.get(f"/projects/{project['id']}/previews")
    one = api.get(f"/projects/{project['id']}/previews/{quote('feature/login', safe='')}")

    # Then both describe it, with its latest deployment and when it was last built
    assert listing.status_code == 200 and listing.json()["meta"] == {"total": 1}
    assert listing.headers["x-ratelimit-resource"] == "api"
    item = listing.json()["data"][0]
    assert one.status_code == 200, one.text
    assert one.json()["data"] == item
    assert item["preview_url"] == data["preview_url"]
    assert item["latest_deployment"]["id"] == data["deployment"]["id"]
    assert item["latest_deployment"]["is_active"] is True
    assert item["active_deployment_id"] == data["deployment"]["id"]
    assert item["last_built_at"]

    # When it is deleted
    deleted = api.request("DELETE", f"/projects/{project['id']}/previews/{quote('feature/login', safe='')}")

    # Then its URL stops serving and it is gone from the API
    assert deleted.status_code == 204, deleted.text
    assert fetch(data["preview_url"]).status_code == 404
    assert api.get(f"/projects/{project['id']}/previews").json()["meta"] == {"total": 0}
    assert api.get(f"/projects/{project['id']}/previews/feature%2Flogin").status_code == 404


def test_preview_errors(org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]) -> None:
    repo = _repo_with_branch(git_repo, "topic", "<h1>topic</h1>")
    free = org_api(plan="free")
    free_project = free.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    api = org_api(plan="pro")
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")

    # A plan without previews is 403; a missing branch 400; an unknown branch 422; another org's project 404
    forbidden = free.post(f"/projects/{free_project['id']}/previews", json={"branch": "topic"})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    assert api.post(f"/projects/{project['id']}/previews", json={}).status_code == 400
    unknown = api.post(f"/projects/{project['id']}/previews", json={"branch": "gone"})
    assert unknown.status_code == 422 and unknown.headers["x-ratelimit-remaining"] == "5"
    assert free.get(f"/projects/{project['id']}/previews").status_code == 404
    assert api.get(f"/projects/{project['id']}/previews/topic").status_code == 404


def test_redeploy_while_building_supersedes_the_older_build(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], shared_dir: Path
) -> None:
    # Given a preview build that is still running
    api = org_api(plan="pro")
    repo = _repo_with_branch(git_repo, "feature", "<h1>older</h1>")
    gate = shared_dir / "gate"
    project = api.create_project(repo.path, build_command=gated_build(gate), output_dir="dist")
    older = api.post(f"/projects/{project['id']}/previews", json={"branch": "feature"}).json()["data"]
    api.wait_for_status(project["id"], older["deployment"]["id"], "building")

    # When the branch moves and the preview is triggered again
    repo.commit({"index.html": "<h1>newer</h1>"}, "Newer")
    newer = api.post(f"/projects/{project['id']}/previews", json={"branch": "feature"}).json()["data"]

    # Then the older build ends cancelled, and once the newer one builds the URL serves it
    assert newer["preview_url"] == older["preview_url"]
    api.wait_for_status(project["id"], older["deployment"]["id"], "cancelled")
    gate.touch()
    api.wait_for_status(project["id"], newer["deployment"]["id"], "deployed")
    assert "newer" in fetch(newer["preview_url"]).text
    preview = api.get(f"/projects/{project['id']}/previews/feature").json()["data"]
    assert preview["active_deployment_id"] == newer["deployment"]["id"]
    wait_until(lambda: api.deployment(project["id"], older["deployment"]["id"])["status"] == "cancelled", 5)
