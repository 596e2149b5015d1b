"""The GitHub dialect's responses checked against JSON Schemas written from the reference, and bad input
answered with GitHub's error bodies (never a 500, always with rate-limit headers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

from tests.e2e.conftest import Api, RunningStack
from tests.support.git import GitRepo

SCHEMAS = Path(__file__).parent / "schemas" / "github"
RATE_LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset")


def _registry() -> Registry:
    resources = [(p.name, Resource.from_contents(json.loads(p.read_text()))) for p in SCHEMAS.glob("*.json")]
    return Registry().with_resources(resources)


REGISTRY = _registry()


def validate(instance: Any, schema_name: str) -> None:
    schema = json.loads((SCHEMAS / schema_name).read_text())
    validator = Draft202012Validator(schema, registry=REGISTRY, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


class Client:
    """Plain HTTP against /api/v3 that checks what every response must carry."""

    def __init__(self, stack: RunningStack, token: str | None, scheme: str = "Bearer") -> None:
        self.base = f"{stack.api}/api/v3"
        self.headers = {"Accept": "application/vnd.github+json"}
        if token:
            self.headers["Authorization"] = f"{scheme} {token}"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        response = requests.request(method, f"{self.base}{path}", headers=headers, timeout=30, **kwargs)
        assert response.status_code < 500, response.text
        assert "Traceback" not in response.text
        for header in RATE_LIMIT_HEADERS:
            assert response.headers[header].isdigit(), (header, response.headers)
        assert response.headers["x-ratelimit-resource"] == "core"
        return response


@pytest.fixture
def ledger(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> tuple[Client, str, Api]:
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "one"}, "v1")
    project = api.create_project(repo.path)
    return Client(stack, api.token, "token"), f"/repos/{api.org}/{project['slug']}", api


def _repo_path(api: Api, repo: str) -> str:
    """The repository URL a project of `api` was created from (to register it again elsewhere)."""
    slug = repo.rsplit("/", 1)[1]
    projects = api.get("/projects").json()["data"]
    return str(next(p["repo_url"] for p in projects if p["slug"] == slug))


def expect_error(response: requests.Response, status: int, message: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = dict(response.json())
    validate(body, "validation-error.json" if status == 422 else "basic-error.json")
    if message is not None:
        assert body["message"] == message, body
    return body


def test_responses_match_the_reference_schemas(ledger: tuple[Client, str, Api]) -> None:
    client, repo, _ = ledger

    created = client("POST", f"{repo}/deployments", json={"ref": "main", "payload": {"a": 1}, "description": None})
    assert created.status_code == 201, created.text
    validate(created.json(), "deployment.json")
    deployment = created.json()
    validate(client("GET", f"{repo}/deployments/{deployment['id']}").json(), "deployment.json")
    for item in client("GET", f"{repo}/deployments").json():
        validate(item, "deployment.json")

    status = client("POST", f"{repo}/deployments/{deployment['id']}/statuses", json={"state": "queued"})
    assert status.status_code == 201, status.text
    validate(status.json(), "deployment-status.json")
    validate(client("GET", f"{repo}/deployments/{deployment['id']}/statuses/{status.json()['id']}").json(),
             "deployment-status.json")  # fmt: skip
    for item in client("GET", f"{repo}/deployments/{deployment['id']}/statuses").json():
        validate(item, "deployment-status.json")

    put = client(
        "PUT", f"{repo}/environments/staging", json={"wait_timer": 5, "reviewers": [{"type": "User", "id": 1}]}
    )
    assert put.status_code == 200, put.text
    validate(put.json(), "environment.json")
    assert [r["type"] for r in put.json()["protection_rules"]] == ["wait_timer", "required_reviewers"]
    empty = client("PUT", f"{repo}/environments/qa")  # no body at all
    assert empty.status_code == 200 and empty.json()["protection_rules"] == []
    assert empty.json()["deployment_branch_policy"] is None
    listed = client("GET", f"{repo}/environments").json()
    validate(listed, "environment-list.json")
    assert listed["total_count"] == 3
    assert client("DELETE", f"{repo}/environments/qa").status_code == 204


def test_bad_input_gets_githubs_errors(ledger: tuple[Client, str, Api]) -> None:
    client, repo, _ = ledger
    deployment = client("POST", f"{repo}/deployments", json={"ref": "main"}).json()
    statuses = f"{repo}/deployments/{deployment['id']}/statuses"

    unknown_state = expect_error(client("POST", statuses, json={"state": "exploded"}), 422, "Validation Failed")
    assert unknown_state["errors"][0] == {
        "resource": "DeploymentStatus",
        "field": "state",
        "code": "invalid",
        "message": unknown_state["errors"][0]["message"],
    }
    long_description = expect_error(client("POST", statuses, json={"state": "success", "description": "x" * 141}), 422)
    assert long_description["errors"][0]["field"] == "description"
    missing_state = expect_error(client("POST", statuses, json={}), 422)
    assert missing_state["errors"][0]["code"] == "missing_field"

    no_ref = expect_error(client("POST", f"{repo}/deployments", json={"ref": "no-such-branch"}), 422)
    assert no_ref["errors"][0]["field"] == "ref" and "no-such-branch" in no_ref["errors"][0]["message"]
    bad_payload = expect_error(client("POST", f"{repo}/deployments", json={"ref": "main", "payload": "{not json"}), 422)
    assert bad_payload["errors"][0] == {
        "resource": "Deployment",
        "field": "payload",
        "code": "invalid",
        "message": "payload is not valid JSON",
    }
    wrong_type = expect_error(
        client("POST", f"{repo}/deployments", json={"ref": "main", "transient_environment": "y"}), 422
    )
    assert wrong_type["errors"][0]["field"] == "transient_environment"
    expect_error(client("POST", f"{repo}/deployments", json={"ref": 7}), 422)
    expect_error(client("POST", f"{repo}/deployments", data="{not json"), 400, "Problems parsing JSON")
    expect_error(client("POST", f"{repo}/deployments", data="[1, 2]"), 400, "Problems parsing JSON")
    expect_error(client("PUT", f"{repo}/environments/qa", json={"wait_timer": "soon"}), 422)
    expect_error(client("PUT", f"{repo}/environments/qa", json={"reviewers": [{"type": "Robot", "id": 1}]}), 422)

    for query in ("per_page=101", "per_page=0", "per_page=ten", "page=0", "page=-1", "ref=a&ref=b"):
        expect_error(client("GET", f"{repo}/deployments?{query}"), 422)
    expect_error(client("GET", f"{statuses}?per_page=500"), 422)

    expect_error(client("GET", f"{repo}/deployments/999999"), 404, "Not Found")
    expect_error(client("GET", f"{repo}/deployments/abc"), 404, "Not Found")
    expect_error(client("GET", f"{statuses}/999999"), 404, "Not Found")
    expect_error(client("GET", f"{repo}/environments/nowhere"), 404, "Not Found")
    expect_error(client("GET", f"{repo.rsplit('/', 1)[0]}/no-such-repo"), 404, "Not Found")


def test_other_organizations_and_credentials(
    stack: RunningStack, ledger: tuple[Client, str, Api], org_api: Callable[..., Api]
) -> None:
    client, repo, owner = ledger
    stranger = Client(stack, org_api().token)

    # Another organization's repository does not exist for this key
    expect_error(stranger("GET", repo), 404, "Not Found")
    expect_error(stranger("GET", f"{repo}/deployments"), 404, "Not Found")
    expect_error(stranger("POST", f"{repo}/deployments", json={"ref": "main"}), 404, "Not Found")

    # Both Authorization schemes work; a bad or absent key is GitHub's 401
    assert Client(stack, owner.token, "Bearer")("GET", repo).status_code == 200
    assert client("GET", repo).status_code == 200
    expect_error(Client(stack, "dpl_nope_nope")("GET", repo), 401, "Bad credentials")
    expect_error(Client(stack, None)("GET", repo), 401, "Requires authentication")

    # A key without the deployments:write scope is refused with 403
    reader = org_api(scopes=["projects:read", "projects:write", "deployments:read"])
    project = reader.create_project(_repo_path(owner, repo))
    limited = Client(stack, reader.token)
    refused = expect_error(
        limited("POST", f"/repos/{reader.org}/{project['slug']}/deployments", json={"ref": "main"}), 403
    )
    assert "deployments:write" in refused["message"]
