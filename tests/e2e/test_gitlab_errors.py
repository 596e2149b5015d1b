"""Bad input to the GitLab dialect gets GitLab's error bodies and status codes, never a 500."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gitlab
import pytest
import requests
from gitlab import exceptions

from tests.e2e.conftest import Api, RunningStack
from tests.support.git import GitRepo


@dataclass
class Setting:
    stack: RunningStack
    api: Api
    project: dict[str, Any]
    sha: str
    deployment_id: int

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = {"PRIVATE-TOKEN": token or self.api.token, **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.stack.api}/api/v4{path}", headers=headers, timeout=30, **kwargs)

    @property
    def deployments(self) -> str:
        return f"/projects/{self.project['id']}/deployments"

    def spec(self, **changes: Any) -> dict[str, Any]:
        return {
            "environment": "production",
            "sha": self.sha,
            "ref": "main",
            "tag": False,
            "status": "running",
            **changes,
        }


@pytest.fixture
def setting(stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]) -> Setting:
    """A ledger project with one running deployment."""
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "v1"}, "v1")
    project = api.create_project(repo.path)
    partial = Setting(stack, api, project, sha, 0)
    created = partial.call("POST", partial.deployments, json=partial.spec())
    assert created.status_code == 201, created.text
    partial.deployment_id = created.json()["id"]
    return partial


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"status": "done"}, "status does not have a valid value"),
        ({"order_by": "color"}, "order_by does not have a valid value"),
        ({"sort": "up"}, "sort does not have a valid value"),
        ({"updated_after": "yesterday"}, "updated_after is invalid"),
        ({"updated_before": "2024-13-45"}, "updated_before is invalid"),
        ({"per_page": "many"}, "per_page is invalid"),
        ({"per_page": "0"}, "per_page has a value not allowed"),  # GitLab: except_values [0]
        ({"per_page": "-1"}, "per_page does not have a valid value"),
        ({"page": "-1"}, "page does not have a valid value"),
        ({"sort": "up", "order_by": "color"}, "order_by does not have a valid value, sort does not have a valid value"),
    ],
)
def test_bad_list_parameters(setting: Setting, params: dict[str, str], error: str) -> None:
    response = setting.call("GET", setting.deployments, params=params)
    assert (response.status_code, response.json()) == (400, {"error": error})


def test_bad_create_bodies(setting: Setting) -> None:
    def create(body: Any, **kwargs: Any) -> tuple[int, Any]:
        response = setting.call("POST", setting.deployments, json=body, **kwargs)
        return response.status_code, response.json()

    assert create({}) == (
        400,
        {"error": "environment is missing, sha is missing, ref is missing, tag is missing, status is missing"},
    )
    assert create(setting.spec(status="deployed")) == (400, {"error": "status does not have a valid value"})
    assert create(setting.spec(status="blocked")) == (400, {"error": "status does not have a valid value"})
    assert create(setting.spec(tag="perhaps")) == (400, {"error": "tag is invalid"})
    assert create(setting.spec(environment="")) == (400, {"error": "environment is empty"})
    assert create(setting.spec(environment=["production"])) == (400, {"error": "environment is invalid"})
    assert create(setting.spec(ref="no-such-branch")) == (
        400,
        {"message": {"ref": ["The branch or tag does not exist"]}},
    )
    assert create(setting.spec(sha="0" * 40)) == (400, {"message": {"sha": ["The commit does not exist"]}})
    assert create(setting.spec(sha="not-a-sha")) == (400, {"message": {"sha": ["The commit does not exist"]}})
    assert create([1, 2]) == (400, {"error": "message body does not match declared format"})
    malformed = setting.call(
        "POST", setting.deployments, data='{"environment": ', headers={"Content-Type": "application/json"}
    )
    assert (malformed.status_code, malformed.json()) == (400, {"error": "message body does not match declared format"})

    # Nothing above recorded a deployment
    assert len(setting.call("GET", setting.deployments).json()) == 1


def test_curl_form_bodies_and_bearer_tokens_work(setting: Setting) -> None:
    # The reference's curl: a form body; and Authorization: Bearer instead of PRIVATE-TOKEN
    form = f"environment=production&sha={setting.sha}&ref=main&tag=false&status=success"
    response = requests.post(
        f"{setting.stack.api}/api/v4{setting.deployments}",
        data=form,
        headers={"Authorization": f"Bearer {setting.api.token}", "Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "success" and response.json()["iid"] == 2
    updated = setting.call("PUT", f"{setting.deployments}/{setting.deployment_id}", data={"status": "canceled"})
    assert updated.status_code == 200 and updated.json()["status"] == "canceled"


def test_bad_updates(setting: Setting) -> None:
    path = f"{setting.deployments}/{setting.deployment_id}"
    for body, expected in [
        ({}, {"error": "status is missing"}),
        ({"status": "created"}, {"error": "status does not have a valid value"}),
        ({"status": "deployed"}, {"error": "status does not have a valid value"}),
        ({"status": 3}, {"error": "status is invalid"}),
    ]:
        response = setting.call("PUT", path, json=body)
        assert (response.status_code, response.json()) == (400, expected)
    missing = setting.call("PUT", f"{setting.deployments}/999999999", json={"status": "success"})
    assert (missing.status_code, missing.json()) == (404, {"message": "404 Not found"})


def test_authentication_and_visibility(setting: Setting, org_api: Callable[..., Api]) -> None:
    project_path = f"/projects/{setting.project['id']}"
    anonymous = requests.get(f"{setting.stack.api}/api/v4{project_path}", timeout=30)
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "401 Unauthorized"})
    forged = setting.call("GET", project_path, token="dpl_nope_nope")
    assert (forged.status_code, forged.json()) == (401, {"message": "401 Unauthorized"})

    # Another organization's project, by numeric id and by path, is not found (python-gitlab)
    other = org_api()
    gl = gitlab.Gitlab(setting.stack.api, private_token=other.token)
    for reference in (setting.project["id"], f"{setting.api.org}/{setting.project['slug']}"):
        with pytest.raises(exceptions.GitlabGetError) as hidden:
            gl.projects.get(reference)
        assert hidden.value.response_code == 404 and hidden.value.error_message == "404 Project Not Found"
    for method, path in [
        ("GET", f"{setting.deployments}"),
        ("GET", f"{setting.deployments}/{setting.deployment_id}"),
        ("PUT", f"{setting.deployments}/{setting.deployment_id}"),
        ("DELETE", f"{setting.deployments}/{setting.deployment_id}"),
        ("GET", f"{setting.deployments}/{setting.deployment_id}/merge_requests"),
        ("POST", f"/projects/{setting.api.org}%2F{setting.project['slug']}/deployments"),
    ]:
        body = setting.spec() if method == "POST" else {"status": "success"}  # valid: parameters are checked first
        response = setting.call(method, path, token=other.token, json=body)
        assert (response.status_code, response.json()) == (404, {"message": "404 Project Not Found"}), path

    # Unknown projects and deployments of the caller's own organization
    assert setting.call("GET", "/projects/abc").json() == {"message": "404 Project Not Found"}
    assert setting.call("GET", f"/projects/{setting.api.org}%2Fno-such-project").status_code == 404
    assert setting.call("GET", f"{setting.deployments}/abc").json() == {"message": "404 Not found"}
    assert setting.call("GET", f"{setting.deployments}/1/merge_requests").status_code == 404


def test_a_read_only_key_reads_but_cannot_write(setting: Setting) -> None:
    issued = setting.stack.admin(
        "POST",
        f"/orgs/{setting.api.org}/keys",
        json={"name": "reader", "scopes": ["projects:read", "deployments:read"]},
    )
    reader = issued.json()["data"]["token"]
    assert setting.call("GET", setting.deployments, token=reader).status_code == 200
    refused = setting.call("POST", setting.deployments, token=reader, json=setting.spec())
    assert (refused.status_code, refused.json()) == (403, {"message": "403 Forbidden"})
    removal = setting.call("DELETE", f"{setting.deployments}/{setting.deployment_id}", token=reader)
    assert (removal.status_code, removal.json()) == (403, {"message": "403 Forbidden"})
