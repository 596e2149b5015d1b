"""Numbers at the edge, over HTTP in every dialect: each numeric input has a bound, and a value out of it (or no
number at all: a fraction, a boolean, digits of another script, an overflow) is that dialect's 400 or 422,
never a 500. GitLab's page and per_page follow GitLab on every list, merge requests included."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests

from chalicelib.local.stack import EmbeddedStack

NOT_NUMBERS: list[Any] = [10**20, -1, 0, 1.5, True, "10", None]
NOT_NUMBER_TEXT = ["99999999999999999999", "-1", "0", "1.5", "true", "\u0663", "1e3", " 1"]


@dataclass
class Tenant:
    stack: EmbeddedStack
    org: str
    headers: dict[str, str]
    project: Any
    sha: str

    @property
    def pid(self) -> int:
        return int(self.project.id)

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.stack.api_url + path, headers=self.headers, timeout=30, **kwargs)


@pytest.fixture
def tenant(stack: EmbeddedStack, org_factory: Any, repo_factory: Any, project_factory: Any) -> Tenant:
    """An organization with a key and a ledger project (no build command: GitLab reports move it)."""
    from chalicelib.services import organizations

    org = org_factory()
    token = organizations.create_key(org.slug, "ci", None).token
    repo = repo_factory()
    project = project_factory(org.slug, repo, build_command=None).project
    return Tenant(stack, org.slug, {"Authorization": f"Bearer {token}"}, project, repo.git("rev-parse", "HEAD"))


# --- native ---


def test_the_issues_overflowing_rate_is_a_400_naming_the_field(tenant: Tenant) -> None:
    # When a project's preview schedule is set to a rate no clock can count
    response = tenant.call(
        "PATCH",
        f"/api/v1/public/projects/{tenant.pid}",
        json={"preview_rebuild_schedule": "rate(99999999999999999999 days)"},
    )

    # Then it is refused as bad input in the native format, naming the field, and nothing changed
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert response.json()["error"]["field"] == "preview_rebuild_schedule"
    assert (
        tenant.call("GET", f"/api/v1/public/projects/{tenant.pid}").json()["data"]["preview_rebuild_schedule"] is None
    )


@pytest.mark.parametrize("field", ["build_timeout_seconds", "preview_ttl_hours"])
@pytest.mark.parametrize("value", NOT_NUMBERS[:-1])  # null is "unset" for these
def test_native_numeric_fields_refuse_what_is_out_of_bounds_or_not_an_integer(
    tenant: Tenant, field: str, value: Any
) -> None:
    response = tenant.call("PATCH", f"/api/v1/public/projects/{tenant.pid}", json={field: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(
    ("name", "value"),
    [("page", v) for v in [*NOT_NUMBER_TEXT, "1000001"]] + [("per_page", v) for v in [*NOT_NUMBER_TEXT, "101"]],
)
def test_native_paging_refuses_what_is_out_of_bounds_or_not_an_integer(tenant: Tenant, name: str, value: str) -> None:
    response = tenant.call("GET", f"/api/v1/public/projects/{tenant.pid}/deployments", params={name: value})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == name


# --- GitHub ---


def _github_repo(tenant: Tenant) -> str:
    return f"/api/v3/repos/{tenant.org}/{tenant.project.slug}"


@pytest.mark.parametrize("name", ["page", "per_page"])
@pytest.mark.parametrize("value", NOT_NUMBER_TEXT)
def test_github_paging_refuses_what_is_out_of_bounds_or_not_an_integer(tenant: Tenant, name: str, value: str) -> None:
    response = tenant.call("GET", f"{_github_repo(tenant)}/deployments", params={name: value})
    assert response.status_code == 422, response.text
    assert response.json()["message"] == "Validation Failed"
    assert response.json()["errors"][0]["field"] == name


@pytest.mark.parametrize(
    "body",
    [{"wait_timer": v} for v in NOT_NUMBERS[:-1] if v != 0]
    + [{"wait_timer": 43201}]
    + [{"reviewers": [{"type": "User", "id": v}]} for v in NOT_NUMBERS if v != "10"],
)
def test_github_environment_numbers_refuse_what_is_out_of_bounds_or_not_an_integer(
    tenant: Tenant, body: dict[str, Any]
) -> None:
    response = tenant.call("PUT", f"{_github_repo(tenant)}/environments/staging", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["message"] == "Validation Failed"


# --- GitLab ---


@pytest.fixture
def gitlab_lists(tenant: Tenant) -> list[str]:
    """Every GitLab list: the project's deployments (one, reported by the ledger's deployer) and its merge requests."""
    deployments = f"/api/v4/projects/{tenant.pid}/deployments"
    created = tenant.call(
        "POST",
        deployments,
        json={"environment": "production", "sha": tenant.sha, "ref": "main", "tag": False, "status": "success"},
    )
    assert created.status_code == 201, created.text
    return [deployments, f"{deployments}/{created.json()['id']}/merge_requests"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"page": "0"}, "page does not have a valid value"),
        ({"page": "-3"}, "page does not have a valid value"),
        ({"page": "99999999999999999999"}, "page does not have a valid value"),
        ({"page": "1.5"}, "page is invalid"),
        ({"page": "two"}, "page is invalid"),
        ({"page": "2\n"}, "page is invalid"),
        ({"page": "\uff12"}, "page is invalid"),
        ({"per_page": "0"}, "per_page has a value not allowed"),
        ({"per_page": "-1"}, "per_page does not have a valid value"),
        ({"per_page": "-99999999999999999999"}, "per_page does not have a valid value"),
        ({"per_page": "true"}, "per_page is invalid"),
        ({"page": "0", "per_page": "x"}, "page does not have a valid value, per_page is invalid"),
    ],
)
def test_gitlab_paging_is_refused_with_gitlabs_words_on_every_list(
    tenant: Tenant, gitlab_lists: list[str], params: dict[str, str], error: str
) -> None:
    for path in gitlab_lists:
        response = tenant.call("GET", path, params=params)
        assert (response.status_code, response.json()) == (400, {"error": error}), path


def test_gitlab_paging_in_range_is_echoed_and_a_large_per_page_clamped_on_every_list(
    tenant: Tenant, gitlab_lists: list[str]
) -> None:
    for path in gitlab_lists:
        response = tenant.call("GET", path, params={"page": "2", "per_page": "1000"})
        assert response.status_code == 200, (path, response.text)
        assert (response.headers["X-Page"], response.headers["X-Per-Page"]) == ("2", "100"), path


# --- Mintlify ---


@pytest.mark.parametrize("status_id", ["99999999999999999999", "-1", "1.5", "%C2%B2", "%D9%A3"])
def test_mintlify_status_ids_that_are_no_number_are_a_404(tenant: Tenant, status_id: str) -> None:
    response = tenant.call("GET", f"/v1/project/update-status/{status_id}")
    assert response.status_code == 404
    assert isinstance(response.json()["error"], str)


def test_a_status_id_in_digits_of_another_script_names_no_deployment() -> None:
    # API Gateway hands the path parameter over decoded: "²" is a digit to str.isdigit(), not to int()
    from chalicelib.errors import NotFound
    from chalicelib.services import mintlify

    for status_id in ("\u00b2", "\u0663"):
        with pytest.raises(NotFound):
            mintlify.update_status("any-org", status_id)


# --- text: control characters and links, in every dialect ---

CONTROL = ["a\x00b", "a\rb", "a\nb", "a\x1b[31mb", "a\x7fb"]
NOT_WEB_URLS = [
    "javascript:alert(document.cookie)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "http://",
    "https:///path-only",
    "//evil.example/",
    "http://exa mple.com/",
    "https://example.com/\x00",
]


@pytest.mark.parametrize("value", CONTROL)
@pytest.mark.parametrize("field", ["name", "output_dir", "default_branch", "repo_url"])
def test_native_text_fields_refuse_control_characters(tenant: Tenant, field: str, value: str) -> None:
    # When a project is created with a control character in one of its text fields
    body = {"name": "site", "repo_url": tenant.project.repo_url, field: value}
    response = tenant.call("POST", "/api/v1/public/projects", json=body)

    # Then it is the native 400 naming the field, and nothing was stored
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == field
    assert "control characters" in response.json()["error"]["message"]


def test_a_build_command_may_span_lines_but_holds_no_other_control_character(tenant: Tenant) -> None:
    path = f"/api/v1/public/projects/{tenant.pid}"
    accepted = tenant.call("PATCH", path, json={"build_command": "npm ci\r\n\tnpm run build\n"})
    refused = tenant.call("PATCH", path, json={"build_command": "npm ci\x00; curl evil"})

    assert accepted.status_code == 200 and accepted.json()["data"]["build_command"] == "npm ci\r\n\tnpm run build\n"
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "build_command"


def test_admin_text_refuses_control_characters(stack: EmbeddedStack) -> None:
    admin = {"Authorization": "Bearer test-admin-token"}
    response = requests.post(
        f"{stack.api_url}/api/v1/admin/orgs",
        json={"slug": "nul-org", "name": "N\x00", "plan": "pro"},
        headers=admin,
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "name"


def _github_deployment(tenant: Tenant) -> str:
    created = tenant.call(
        "POST", f"{_github_repo(tenant)}/deployments", json={"ref": "main", "environment": "production"}
    )
    assert created.status_code == 201, created.text
    return f"{_github_repo(tenant)}/deployments/{created.json()['id']}"


@pytest.mark.parametrize("url", NOT_WEB_URLS)
@pytest.mark.parametrize("field", ["environment_url", "log_url", "target_url"])
def test_github_status_links_are_http_or_https_with_a_host(tenant: Tenant, field: str, url: str) -> None:
    # Given a deployment on a ledger project
    deployment = _github_deployment(tenant)

    # When a status links something that is not a web page
    response = tenant.call("POST", f"{deployment}/statuses", json={"state": "success", field: url})

    # Then it is GitHub's 422 naming the field, and the deployment links nothing new
    assert response.status_code == 422, response.text
    assert response.json()["message"] == "Validation Failed"
    assert response.json()["errors"][0]["field"] == field
    assert tenant.call("GET", f"{deployment}/statuses").json() == []


def test_a_github_status_with_web_links_and_a_multiline_description_is_taken(tenant: Tenant) -> None:
    deployment = _github_deployment(tenant)
    response = tenant.call(
        "POST",
        f"{deployment}/statuses",
        json={
            "state": "success",
            "environment_url": "https://preview.example.com/",
            "log_url": "http://ci.example.com/logs/1",
            "description": "built\n\tand shipped",
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["environment_url"] == "https://preview.example.com/"
    deployed = tenant.call("GET", f"/api/v1/public/projects/{tenant.pid}/deployments").json()["data"][0]
    assert deployed["deployment_url"] == "https://preview.example.com/"


@pytest.mark.parametrize(
    "body",
    [
        {"ref": "main\x00"},
        {"ref": "main", "environment": "prod\nuction"},
        {"ref": "main", "task": "deploy\x1b"},
        {"ref": "main", "description": "a\x00b"},
        {"ref": "main", "required_contexts": ["ci\x00"]},
    ],
)
def test_github_deployment_text_refuses_control_characters(tenant: Tenant, body: dict[str, Any]) -> None:
    response = tenant.call("POST", f"{_github_repo(tenant)}/deployments", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] in body


def test_github_environment_names_refuse_control_characters(tenant: Tenant) -> None:
    response = tenant.call("PUT", f"{_github_repo(tenant)}/environments/stag%00ing", json={})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "name"


@pytest.mark.parametrize("field", ["environment", "ref", "sha"])
@pytest.mark.parametrize("value", ["x\x00", "x\r\nX-Injected: 1"])
def test_gitlab_text_refuses_control_characters(tenant: Tenant, field: str, value: str) -> None:
    body = {"environment": "production", "sha": tenant.sha, "ref": "main", "tag": False, "status": "success"}
    response = tenant.call("POST", f"/api/v4/projects/{tenant.pid}/deployments", json={**body, field: value})
    assert (response.status_code, response.json()) == (400, {"error": f"{field} is invalid"})
    listed = tenant.call("GET", f"/api/v4/projects/{tenant.pid}/deployments", params={"environment": "x\x00"})
    assert (listed.status_code, listed.json()) == (400, {"error": "environment is invalid"})


def test_mintlify_branch_refuses_control_characters(tenant: Tenant) -> None:
    response = tenant.call("POST", f"/v1/project/preview/{tenant.pid}", json={"branch": "feature\x00"})
    assert response.status_code == 400
    assert isinstance(response.json()["error"], str) and "control characters" in response.json()["error"]


@pytest.mark.parametrize("offset", ["-1", "1", "1.5", "x", "99999999999999999999"])
def test_a_log_offset_outside_the_log_is_a_400_naming_the_field(tenant: Tenant, offset: str) -> None:
    # Given a queued deployment, whose log is still empty
    created = tenant.call("POST", f"/api/v1/public/projects/{tenant.pid}/deployments", json={})
    logs = f"/api/v1/public/projects/{tenant.pid}/deployments/{created.json()['data']['id']}/logs"

    # When its log is read from an offset that is not in it
    response = tenant.call("GET", logs, params={"offset": offset})

    # Then it is the native 400 naming the field; from 0 it is the empty log, and where to read from next
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_input"
    assert response.json()["error"]["field"] == "offset"
    data = tenant.call("GET", logs, params={"offset": "0"}).json()["data"]
    assert (data["build_logs"], data["offset"], data["next_offset"]) == ("", 0, 0)


def test_whoami_names_the_keys_organization_and_scopes(tenant: Tenant) -> None:
    response = tenant.call("GET", "/api/v1/public/whoami")
    assert response.status_code == 200
    assert response.json()["data"]["org"] == tenant.org
    assert "projects:read" in response.json()["data"]["scopes"]
    assert requests.get(tenant.stack.api_url + "/api/v1/public/whoami", timeout=30).status_code == 401
