"""The reference's cancel and rollback rules, organization isolation, keys, and bad input: never a 500."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import Api, RunningStack, fetch, gated_build
from tests.support.git import GitRepo

STATIC_BUILD = "mkdir -p dist && cp index.html dist/"


@pytest.fixture
def deployed_project(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> tuple[Api, dict[str, Any], GitRepo]:
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "one"}, "v1")
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    return api, project, repo


def _deploy(api: Api, project: dict[str, Any]) -> dict[str, Any]:
    deployment = api.trigger(project["id"])
    return api.wait_for_status(project["id"], deployment["id"], "deployed", "failed")


def _assert_error(response: requests.Response, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] and error["message"]
    for fragment in fragments:
        assert fragment in error["message"], error
    assert "Traceback" not in response.text
    return dict(error)


def test_cancel_is_refused_outside_the_running_states(deployed_project: Any) -> None:
    api, project, _ = deployed_project
    deployed = _deploy(api, project)

    response = api.post(f"/projects/{project['id']}/deployments/{deployed['id']}/cancel")

    _assert_error(response, 409, "is deployed", "queued, cloning, building, uploading or deploying")
    assert api.deployment(project["id"], deployed["id"])["status"] == "deployed"


def test_cancel_of_a_failed_or_cancelled_deployment_is_refused(deployed_project: Any) -> None:
    api, project, _ = deployed_project
    broken = api.create_project(project["repo_url"], build_command="exit 1")
    failed = _deploy(api, broken)
    assert failed["status"] == "failed"
    _assert_error(api.post(f"/projects/{broken['id']}/deployments/{failed['id']}/cancel"), 409, "is failed")

    api.request("PATCH", f"/projects/{broken['id']}", json={"build_command": "sleep 30"})
    queued = api.trigger(broken["id"])
    assert api.post(f"/projects/{broken['id']}/deployments/{queued['id']}/cancel").status_code == 200
    _assert_error(api.post(f"/projects/{broken['id']}/deployments/{queued['id']}/cancel"), 409, "is cancelled")


def test_rollback_rules(deployed_project: Any, shared_dir: Path) -> None:
    api, project, repo = deployed_project
    first = _deploy(api, project)
    repo.commit({"index.html": "two"}, "v2")
    second = _deploy(api, project)
    base = f"/projects/{project['id']}/deployments"

    # Rolling back to the active deployment is refused
    _assert_error(api.post(f"{base}/{second['id']}/rollback"), 409, "already the active deployment")

    # Rolling back to a deployment that is not deployed is refused
    api.request("PATCH", f"/projects/{project['id']}", json={"build_command": "exit 2"})
    failed = _deploy(api, project)
    assert failed["status"] == "failed"
    _assert_error(api.post(f"{base}/{failed['id']}/rollback"), 409, "is failed", "only deployed")

    # Rolling back while another deployment is in progress is refused
    gate = shared_dir / "gate"
    api.request("PATCH", f"/projects/{project['id']}", json={"build_command": gated_build(gate)})
    running = api.trigger(project["id"])
    api.wait_for_status(project["id"], running["id"], "building")
    _assert_error(api.post(f"{base}/{first['id']}/rollback"), 409, "in progress", str(running["id"]))
    assert fetch(project["production_url"]).text == "two"

    # Once it is done, the rollback goes through
    gate.touch()
    api.wait_for_status(project["id"], running["id"], "deployed")
    assert api.post(f"{base}/{first['id']}/rollback").status_code == 200
    assert fetch(project["production_url"]).text == "one"


def test_another_organizations_resources_are_not_found(deployed_project: Any, org_api: Callable[..., Api]) -> None:
    owner, project, _ = deployed_project
    deployment = _deploy(owner, project)
    intruder = org_api()
    pid, did = project["id"], deployment["id"]

    for method, path in [
        ("GET", f"/projects/{pid}"),
        ("PATCH", f"/projects/{pid}"),
        ("DELETE", f"/projects/{pid}"),
        ("GET", f"/projects/{pid}/deployments"),
        ("POST", f"/projects/{pid}/deployments"),
        ("GET", f"/projects/{pid}/deployments/{did}"),
        ("GET", f"/projects/{pid}/deployments/{did}/logs"),
        ("POST", f"/projects/{pid}/deployments/{did}/cancel"),
        ("POST", f"/projects/{pid}/deployments/{did}/rollback"),
    ]:
        response = intruder.request(method, path, json={})
        _assert_error(response, 404)
    assert pid not in [p["id"] for p in intruder.get("/projects").json()["data"]]
    assert owner.get(f"/projects/{pid}").status_code == 200


def test_keys_authenticate_and_stop_working_when_revoked(stack: RunningStack, org_api: Callable[..., Api]) -> None:
    api = org_api()
    assert api.get("/projects").status_code == 200

    # An organization key cannot use the admin API
    admin_as_org = requests.post(
        f"{stack.api}/api/v1/admin/orgs",
        json={"slug": "sneaky", "plan": "enterprise"},
        headers={"Authorization": f"Bearer {api.token}"},
        timeout=10,
    )
    assert admin_as_org.status_code == 401

    key_id = api.token.split("_")[1]
    assert stack.admin("DELETE", f"/orgs/{api.org}/keys/{key_id}").status_code == 204
    _assert_error(api.get("/projects"), 401, "invalid API key")
    _assert_error(requests.get(f"{stack.api}/api/v1/public/projects", timeout=10), 401, "missing Authorization")


def test_scopes_limit_what_a_key_can_do(org_api: Callable[..., Api]) -> None:
    reader = org_api(scopes=["projects:read", "deployments:read"])
    assert reader.get("/projects").status_code == 200
    _assert_error(reader.post("/projects", json={"name": "x", "repo_url": "/tmp"}), 403, "projects:write")


def test_admin_api_validates_its_input(stack: RunningStack) -> None:
    _assert_error(stack.admin("POST", "/orgs", json={"slug": "ok-org", "plan": "gold"}), 400, "plan")
    _assert_error(stack.admin("POST", "/orgs", json={"slug": "Not A Slug", "plan": "free"}), 400, "slug")
    _assert_error(stack.admin("POST", "/orgs/does-not-exist/keys", json={}), 404)
    created = stack.admin("POST", "/orgs", json={"slug": "dup-org", "plan": "free"})
    assert created.status_code in (201, 409)
    _assert_error(stack.admin("POST", "/orgs", json={"slug": "dup-org", "plan": "free"}), 409, "already exists")
    _assert_error(stack.admin("POST", "/orgs/dup-org/keys", json={"scopes": ["root"]}), 400, "unknown scopes")
    wrong = requests.post(
        f"{stack.api}/api/v1/admin/orgs", json={}, headers={"Authorization": "Bearer nope"}, timeout=10
    )
    _assert_error(wrong, 401)


def test_bad_input_gets_a_clear_error_never_a_500(deployed_project: Any) -> None:
    api, project, _ = deployed_project
    pid = project["id"]
    deployments = f"/projects/{pid}/deployments"

    # malformed JSON and wrong types
    _assert_error(api.post("/projects", data="{not json", headers={"Content-Type": "application/json"}), 400, "JSON")
    _assert_error(api.post("/projects", data="[1, 2]", headers={"Content-Type": "application/json"}), 400, "object")
    _assert_error(api.post("/projects", json={"name": 5, "repo_url": "/tmp/x"}), 400, "name")
    _assert_error(api.post("/projects", json={"name": "x"}), 400, "repo_url")
    _assert_error(api.post("/projects", json={"name": "x", "repo_url": "/tmp/x", "color": "red"}), 400, "unknown")
    _assert_error(api.post("/projects", json={"name": "x", "repo_url": "ftp://example.com/r"}), 400, "repo_url")
    _assert_error(api.post("/projects", json={"name": "x", "repo_url": "/tmp/x", "build_timeout_seconds": 0}), 400)
    _assert_error(api.post(deployments, json={"branch": 7}), 400, "branch")
    _assert_error(api.post(deployments, data="{", headers={"Content-Type": "application/json"}), 400, "JSON")

    # page and per_page out of range
    _assert_error(api.get(deployments, params={"page": 0}), 400, "page")
    _assert_error(api.get(deployments, params={"per_page": 101}), 400, "per_page")
    _assert_error(api.get(deployments, params={"per_page": 0}), 400, "per_page")
    _assert_error(api.get(deployments, params={"page": "two"}), 400, "page")

    # unknown ids
    _assert_error(api.get("/projects/999999"), 404)
    _assert_error(api.get("/projects/not-a-number"), 404)
    _assert_error(api.get(f"{deployments}/999999"), 404)
    _assert_error(api.post(f"{deployments}/999999/cancel"), 404)
    _assert_error(api.post(f"{deployments}/999999/rollback"), 404)
    _assert_error(api.get(f"{deployments}/999999/logs"), 404)

    # a branch that does not exist, and a repository that cannot be cloned
    _assert_error(api.post(deployments, json={"branch": "no-such-branch"}), 422, "no-such-branch")
    gone = api.create_project("/nonexistent/repository", build_command="true")
    _assert_error(api.post(f"/projects/{gone['id']}/deployments", json={}), 422, "/nonexistent/repository")

    # duplicate slug in one organization
    _assert_error(api.post("/projects", json={"name": "x", "repo_url": "/tmp/x", "slug": project["slug"]}), 409)
    # nothing was recorded by the refused triggers
    assert api.get(deployments).json()["meta"]["total"] == 0


def test_projects_can_be_listed_updated_and_deleted(deployed_project: Any) -> None:
    api, project, _ = deployed_project
    deployed = _deploy(api, project)

    assert project["id"] in [p["id"] for p in api.get("/projects").json()["data"]]
    patched = api.request("PATCH", f"/projects/{project['id']}", json={"name": "Renamed", "build_timeout_seconds": 60})
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["name"] == "Renamed"
    assert patched.json()["data"]["slug"] == project["slug"]
    _assert_error(api.request("PATCH", f"/projects/{project['id']}", json={"slug": "other"}), 400, "slug")

    assert api.request("DELETE", f"/projects/{project['id']}").status_code == 204
    _assert_error(api.get(f"/projects/{project['id']}"), 404)
    assert fetch(project["production_url"]).status_code == 404
    assert fetch(deployed["deployment_url"]).status_code == 404


def test_deployments_are_paged_newest_first(deployed_project: Any) -> None:
    api, project, _ = deployed_project
    api.request(
        "PATCH", f"/projects/{project['id']}", json={"build_command": "mkdir -p dist && echo x > dist/index.html"}
    )
    ids = [_deploy(api, project)["id"] for _ in range(3)]
    base = f"/projects/{project['id']}/deployments"

    first = api.get(base, params={"page": 1, "per_page": 2}).json()
    second = api.get(base, params={"page": 2, "per_page": 2}).json()
    beyond = api.get(base, params={"page": 3, "per_page": 2}).json()

    assert [d["id"] for d in first["data"]] == [ids[2], ids[1]]
    assert [d["id"] for d in second["data"]] == [ids[0]]
    assert beyond["data"] == []
    assert first["meta"] == {"page": 1, "per_page": 2, "total": 3, "total_pages": 2}
