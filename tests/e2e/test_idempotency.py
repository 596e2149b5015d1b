"""Idempotency-Key over HTTP on the embedded stack: a retried trigger is replayed, a reused key is refused, a
refused request keeps nothing, Mintlify's triggers are covered too, and ten simultaneous identical triggers with
one key create one deployment."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from tests.e2e.conftest import Api
from tests.support.git import GitRepo


def _ledger_project(api: Api, git_repo: Callable[..., GitRepo]) -> int:
    """A project without a build command: its deployments are recorded, nothing builds."""
    repo = git_repo()
    repo.commit({"index.html": "v1"}, "v1")
    repo.git("branch", "feature")
    return int(api.create_project(repo.path)["id"])


def _deployment_count(api: Api, project_id: int) -> int:
    return int(api.get(f"/projects/{project_id}/deployments").json()["meta"]["total"])


def test_a_retried_trigger_is_replayed_and_a_reused_key_refused(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    pid = _ledger_project(api, git_repo)
    trigger = f"/projects/{pid}/deployments"

    # When a trigger is sent, then retried with the same key and body
    first = api.post(trigger, json={"branch": "main"}, headers={"Idempotency-Key": "deploy-main-1"})
    retry = api.post(trigger, json={"branch": "main"}, headers={"Idempotency-Key": "deploy-main-1"})

    # Then the retry answers the first's status and body, says it is a replay, and nothing else was deployed
    assert first.status_code == 201, first.text
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert retry.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert _deployment_count(api, pid) == 1

    # And the same key with another body or another path is refused, still without deploying
    key = {"Idempotency-Key": "deploy-main-1"}
    other_body = api.post(trigger, json={"branch": "feature"}, headers=key)
    other_path = api.post("/projects", json={"name": "x", "repo_url": "/nowhere"}, headers=key)
    for refused in (other_body, other_path):
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "idempotency_key_reused"
    assert _deployment_count(api, pid) == 1

    # And a key that is not 1-255 printable ASCII characters is a 400 in the native format
    bad = api.post(trigger, json={"branch": "main"}, headers={"Idempotency-Key": "x" * 256})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "Idempotency-Key"


def test_a_request_refused_before_executing_keeps_nothing_of_its_key(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    pid = _ledger_project(api, git_repo)
    key = {"Idempotency-Key": "retry-after-fixing"}

    # Given requests with one key refused for a body that is not valid and a project that does not exist
    invalid = api.post(f"/projects/{pid}/deployments", json={"branch": 7}, headers=key)
    missing = api.post(f"/projects/{pid + 10_000}/deployments", json={"branch": "main"}, headers=key)
    # and with an API key of the organization that lacks the scope
    read_only = api.stack.admin("POST", f"/orgs/{api.org}/keys", json={"name": "ro", "scopes": ["deployments:read"]})
    forbidden = requests.post(
        f"{api.stack.api}/api/v1/public/projects/{pid}/deployments",
        json={"branch": "main"},
        headers={"Authorization": f"Bearer {read_only.json()['data']['token']}", **key},
        timeout=30,
    )

    # When the corrected request is sent with the same key
    corrected = api.post(f"/projects/{pid}/deployments", json={"branch": "main"}, headers=key)

    # Then it executes: none of the refusals was stored
    assert (invalid.status_code, missing.status_code, forbidden.status_code) == (400, 404, 403)
    assert corrected.status_code == 201, corrected.text
    assert "Idempotent-Replayed" not in corrected.headers
    assert _deployment_count(api, pid) == 1


def test_mintlify_triggers_honour_the_key(org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]) -> None:
    api = org_api()
    pid = _ledger_project(api, git_repo)
    url = f"{api.stack.api}/v1/project/update/{pid}"

    # When Mintlify's update is sent twice with one key
    key = {"Idempotency-Key": "mintlify-update"}
    first = api.session.post(url, headers=key, timeout=30)
    retry = api.session.post(url, headers=key, timeout=30)
    preview = f"{api.stack.api}/v1/project/preview/{pid}"
    reused = api.session.post(preview, json={"branch": "feature"}, headers=key, timeout=30)

    # Then one update was triggered and the retry replays its statusId; a reused key is Mintlify's 422
    assert first.status_code == 202, first.text
    assert (retry.status_code, retry.json(), retry.headers["Idempotent-Replayed"]) == (202, first.json(), "true")
    assert _deployment_count(api, pid) == 1
    assert reused.status_code == 422 and "Idempotency-Key" in reused.json()["error"]


def test_ten_simultaneous_identical_triggers_with_one_key_create_one_deployment(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    pid = _ledger_project(api, git_repo)
    start = threading.Barrier(10)

    def trigger(_: int) -> requests.Response:
        start.wait(10)
        return api.post(f"/projects/{pid}/deployments", json={"branch": "main"}, headers={"Idempotency-Key": "burst"})

    # When ten clients send the same trigger with the same key at once
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(trigger, range(10)))

    # Then exactly one deployment exists; every other client got the replay of it or was told the key is in use
    created = [a for a in answers if a.status_code == 201]
    in_use = [a for a in answers if a.status_code == 409]
    assert len(created) + len(in_use) == 10, [a.text for a in answers]
    assert {a.json()["data"]["id"] for a in created} == {created[0].json()["data"]["id"]}
    assert all(a.json()["error"]["code"] == "idempotency_key_in_use" for a in in_use)
    assert all(a.headers["Retry-After"] == "1" for a in in_use)
    assert _deployment_count(api, pid) == 1
    # And a later retry replays that one deployment
    again = api.post(f"/projects/{pid}/deployments", json={"branch": "main"}, headers={"Idempotency-Key": "burst"})
    answered: dict[str, Any] = again.json()
    assert (again.status_code, answered["data"]["id"]) == (201, created[0].json()["data"]["id"])
