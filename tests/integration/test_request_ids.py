"""Correlation ids over HTTP: every response names its request, and so does every log line of it.

The embedded stack serves the API from Chalice's threaded local server, so requests run concurrently in
one process, next to the build workers: one request's id must never appear on another's lines.
"""

from __future__ import annotations

import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.support.polling import wait_until

PIPELINE = {"deployment cloning", "deployment building", "deployment uploading", "build succeeded", "deployment live"}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_a_trigger_and_the_deployment_it_queues_share_the_requests_id(
    stack, api_key, repo_factory, project_factory, pipeline, log_lines
):
    # Given a project and a client that names its request
    org_slug, auth = api_key
    pid = int(project_factory(org_slug, repo_factory()).project.id)
    rid = f"trigger-{uuid.uuid4().hex}"

    # When it triggers a deployment over HTTP, which then runs through the pipeline
    response = requests.post(
        f"{stack.api_url}/api/v1/public/projects/{pid}/deployments",
        json={},
        headers={**auth, "X-Request-Id": rid},
        timeout=10,
    )
    did = response.json()["data"]["id"]
    pipeline.wait_terminal(did)

    # Then the response names the request, and so do its lines: the access line and the line that
    # queued the deployment, which also names the deployment (the key the pipeline's lines carry)
    assert response.status_code == 201 and response.headers["X-Request-Id"] == rid
    lines = log_lines.of_request(rid)
    access = next(line for line in lines if line["message"] == "request")
    assert access["status"] == 201 and access["route"] == "/api/v1/public/projects/{project_id}/deployments"
    queued = next(line for line in lines if line["message"] == "deployment queued")
    assert queued["deployment_id"] == did

    # and the build worker's and activation handler's lines carry the deployment's id, never the request's
    def pipeline_lines() -> list[dict[str, Any]]:
        ours = [line for line in log_lines.lines if line.get("deployment_id") == did and line["message"] in PIPELINE]
        return ours if {line["message"] for line in ours} == PIPELINE else []

    lines = wait_until(pipeline_lines, timeout=20, what="the pipeline's lines")
    assert not any("correlation_id" in line for line in lines)


def test_an_invalid_request_id_is_replaced(stack, log_lines):
    # When a client sends a request id with spaces in it
    response = requests.get(f"{stack.api_url}/healthz", headers={"X-Request-Id": "not an id"}, timeout=10)

    # Then the request gets an id of deployd's making instead, in its response and its lines
    given = response.headers["X-Request-Id"]
    assert response.status_code == 200 and given != "not an id" and UUID.match(given)
    assert [line["message"] for line in log_lines.of_request(given)] == ["request"]
    assert not log_lines.of_request("not an id")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/public/projects", 401),  # no key: the dialect's own error body
        ("GET", "/api/v3/repos/nobody/nothing/deployments", 401),
        ("PUT", "/healthz", 405),  # refused by Chalice itself
    ],
)
def test_error_responses_carry_a_request_id(stack, method, path, status):
    response = requests.request(method, f"{stack.api_url}{path}", timeout=10)

    assert response.status_code == status
    assert UUID.match(response.headers["X-Request-Id"])


def test_concurrent_requests_keep_their_own_ids(stack, log_lines):
    # Given many requests in flight at once, each with its own id
    ids = [f"concurrent-{uuid.uuid4().hex}" for _ in range(24)]

    def get(rid: str) -> str:
        response = requests.get(f"{stack.api_url}/healthz", headers={"X-Request-Id": rid}, timeout=10)
        return response.headers["X-Request-Id"]

    # When they are served together
    with ThreadPoolExecutor(max_workers=12) as pool:
        echoed = list(pool.map(get, ids))

    # Then each response and each access line carries its own request's id, once
    assert echoed == ids
    logged = [line["correlation_id"] for line in log_lines.lines if line.get("message") == "request"]
    assert sorted(rid for rid in logged if rid.startswith("concurrent-")) == sorted(ids)
