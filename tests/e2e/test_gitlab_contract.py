"""Contract: real GitLab-dialect responses validate against JSON Schemas written from the reference's examples."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.e2e.conftest import Api, RunningStack
from tests.support.git import GitRepo

SCHEMAS = Path(__file__).parent / "schemas" / "gitlab"
STATIC_BUILD = "mkdir -p dist && cp index.html dist/"


def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def assert_valid(schema_name: str, instance: Any) -> None:
    schema = json.loads((SCHEMAS / schema_name).read_text())
    validator = Draft202012Validator(schema, registry=REGISTRY, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


@pytest.mark.parametrize("name", sorted(p.name for p in SCHEMAS.glob("*.json")))
def test_every_schema_is_a_valid_schema(name: str) -> None:
    Draft202012Validator.check_schema(json.loads((SCHEMAS / name).read_text()))


def test_the_reference_example_matches_the_deployment_schema() -> None:
    # The reference's create response, as printed there (its timestamps and 8-character short ids)
    user = {
        "name": "Administrator",
        "username": "root",
        "id": 1,
        "state": "active",
        "avatar_url": "http://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=80&d=identicon",
        "web_url": "http://localhost:3000/root",
    }
    example = {
        "id": 42,
        "iid": 2,
        "ref": "master",
        "sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a",
        "created_at": "2016-08-11T11:32:35.444Z",
        "updated_at": "2016-08-11T11:34:01.123Z",
        "status": "success",
        "user": user,
        "environment": {"id": 9, "name": "production", "external_url": "https://about.gitlab.com"},
        "deployable": None,
    }
    assert_valid("deployment.json", example)


def test_responses_match_the_schemas(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "contract"}, "Contract\n\nbody")
    built = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    ledger = api.create_project(repo.path)
    headers = {"PRIVATE-TOKEN": api.token}

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        all_headers = {**headers, **kwargs.pop("headers", {})}
        return requests.request(method, f"{stack.api}/api/v4{path}", headers=all_headers, timeout=30, **kwargs)

    spec = {"environment": "production", "sha": sha, "ref": "main", "tag": False}

    # The project, by id and by URL-encoded path
    assert_valid("project.json", call("GET", f"/projects/{built['id']}").json())
    assert_valid("project.json", call("GET", f"/projects/{api.org}%2F{built['slug']}").json())

    # A deployment deployd builds (with its job) and one an external deployer reports (no job)
    managed = call("POST", f"/projects/{built['id']}/deployments", json={**spec, "status": "created"})
    assert managed.status_code == 201
    assert_valid("deployment.json", managed.json())
    assert managed.json()["deployable"] is not None
    external = call("POST", f"/projects/{ledger['id']}/deployments", json={**spec, "status": "success"})
    assert external.status_code == 201
    assert_valid("deployment.json", external.json())
    assert external.json()["deployable"] is None

    # GET one, PUT, and the list
    assert_valid("deployment.json", call("GET", f"/projects/{built['id']}/deployments/{managed.json()['id']}").json())
    ledger_path = f"/projects/{ledger['id']}/deployments"
    running = call("POST", ledger_path, json={**spec, "status": "running", "environment": "staging"}).json()
    updated = call("PUT", f"{ledger_path}/{running['id']}", json={"status": "failed"})
    assert updated.status_code == 200 and updated.json()["status"] == "failed"
    assert_valid("deployment.json", updated.json())
    listed = call("GET", ledger_path)
    assert_valid("deployment_list.json", listed.json())
    assert len(listed.json()) == 2

    # Every error body: 401, 404 (project, deployment), 400 Grape-style, 400 message, 400 validation
    errors = [
        requests.get(f"{stack.api}/api/v4/projects/{ledger['id']}", timeout=30),
        call("GET", "/projects/999999999"),
        call("GET", f"{ledger_path}/999999999"),
        call("POST", ledger_path, json={}),
        call("PUT", f"{ledger_path}/{running['id']}", json={"status": "running"}),
        call("POST", ledger_path, json={**spec, "ref": "no-such-branch", "status": "success"}),
        call("POST", ledger_path, data="{not json", headers={"Content-Type": "application/json"}),
    ]
    assert [e.status_code for e in errors] == [401, 404, 404, 400, 400, 400, 400]
    for error in errors:
        assert_valid("error.json", error.json())
