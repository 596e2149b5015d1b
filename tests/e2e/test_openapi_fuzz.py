"""Schemathesis holds the embedded stack to its own OpenAPI document: every operation, with generated valid and
invalid input (seeded, a bounded number of examples each), answers no 5xx, only the status codes, content types,
headers and bodies the document states, errors in the native shape, and refuses what the document says is
invalid (docs/openapi.md).

Generated ids name nothing, so part of the valid cases are pointed at resources that exist: an organization, a
deployed project, a webhook and a deploy hook made for each operation (`World`).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from chalicelib.api import openapi_document as openapi
from tests.e2e.conftest import Api, RunningStack, create_org
from tests.support.git import GitRepo

LOCAL = "http://127.0.0.1"
SEED = 20261129
EXAMPLES = 5  # per operation, after the coverage phase; see docs/openapi.md for the run's time
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.negative_data_rejection,
    openapi_checks.ignored_auth,
]


@dataclass
class World:
    """Resources of one organization that valid cases name in their paths."""

    api: Api
    project_id: int
    deployment_id: int
    webhook_id: int
    hook_id: int
    hook_secret: str
    preview_branch: str

    def path_values(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "deployment_id": self.deployment_id,
            "webhook_id": self.webhook_id,
            "hook_id": self.hook_id,
            "secret": self.hook_secret,
            "branch": self.preview_branch,
            "slug": self.api.org,
        }


@pytest.fixture(scope="module")
def deployed(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> tuple[Api, GitRepo, int, int]:
    """An organization with a project deployed once, shared by every operation's world."""
    api = create_org(stack)
    repo = GitRepo.create(tmp_path_factory.mktemp("fuzz") / "site", {"index.html": "<h1>fuzz</h1>"})
    project = api.create_project(repo.path, build_command="true", output_dir=".")
    deployment = api.trigger(project["id"])
    api.wait_for_status(project["id"], deployment["id"], "deployed", timeout=90)
    return api, repo, project["id"], deployment["id"]


@pytest.fixture
def world(deployed: tuple[Api, GitRepo, int, int]) -> Iterator[World]:
    """A project, webhook and deploy hook of the organization, new for each operation (its DELETE may remove them).
    After the operation's cases every webhook of the organization is deleted (the world's, and those the cases
    made): their receivers refuse every message, and the stack is shared, so webhooks left behind would keep its
    delivery workers retrying for minutes, with other tests' messages waiting behind them."""
    api, repo, project_id, deployment_id = deployed
    fresh = api.create_project(repo.path, build_command="true", output_dir=".")
    webhook = api.post("/webhooks", json={"url": "http://127.0.0.1:9/hook"})
    assert webhook.status_code == 201, webhook.text
    hook = api.post(f"/projects/{fresh['id']}/deploy-hooks", json={"name": f"fuzz-{uuid.uuid4().hex[:6]}"})
    assert hook.status_code == 201, hook.text
    secret = hook.json()["data"]["url"].rsplit("/", 1)[1]
    yield World(
        api, fresh["id"], deployment_id, webhook.json()["data"]["id"], hook.json()["data"]["id"], secret, "main"
    )
    for left in api.get("/webhooks").json()["data"]:
        gone = api.request("DELETE", f"/webhooks/{left['id']}")
        assert gone.status_code == 204, gone.text


# The document the stack serves is made by this same code (chalicelib.api.openapi; test_the_document_is_served
# checks they are equal), so the tests are generated from it when the module is collected, before any stack is up.
schema = schemathesis.openapi.from_dict(
    openapi.document(LOCAL),
    config=schemathesis.Config.from_dict(
        {"seed": SEED, "generation": {"max-examples": EXAMPLES, "mode": "all", "deterministic": True}}
    ),
)


def _credentials(case: Any, world: World) -> dict[str, str]:
    if case.path.startswith("/api/v1/admin"):
        return {"Authorization": f"Bearer {world.api.stack.admin_token}"}
    if case.path.startswith("/api/v1/public"):
        return {"Authorization": f"Bearer {world.api.token}"}
    return {}


@pytest.fixture
def pointed() -> Callable[[Any], bool]:
    """Every other valid case of an operation is pointed at the world's resources."""
    counter = itertools.count()
    return lambda case: (
        case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE and next(counter) % 2 == 0
    )


@schema.parametrize()
@settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_holds_to_the_document(case: Any, world: World, pointed: Callable[[Any], bool]) -> None:
    # Given a generated request, valid or not, with the credentials its operation takes
    if case.path_parameters and pointed(case):
        case.path_parameters = {
            **case.path_parameters,
            **{name: value for name, value in world.path_values().items() if name in case.path_parameters},
        }

    # When it is sent to the stack
    # Then the answer is what the document says it may be
    case.call_and_validate(base_url=world.api.stack.api, headers=_credentials(case, world), checks=CHECKS, timeout=30)


def test_the_document_is_served(stack: RunningStack) -> None:
    # When a client fetches the document, with no credentials
    response = requests.get(f"{stack.api}/api/v1/openapi.json", timeout=30)

    # Then it is OpenAPI 3.1, whose server is the stack's API
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["openapi"] == "3.1.0"
    assert response.json() == {**openapi.document(LOCAL), "servers": [{"url": stack.api}]}
