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
        ({"per_page": "0"}, "per_page has a value not allowed"),
        ({"per_page": "-1"}, "per_page does not have a valid value"),
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
