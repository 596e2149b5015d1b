"""GitHub repository hooks over HTTP against the in-process embedded stack: a deployment triggered natively
reaches a GitHub-format hook as GitHub tells it (the statuses GET shows, nothing for moves within one GitHub
state or for a promotion), delivery ids are stable, and PATCH changes a hook as GitHub's does."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import pytest
import requests

from tests.support.polling import wait_until
from tests.support.receiver import running

SECRET = "integration-hook-secret-0123456789"


@pytest.fixture
def repository(stack: Any, api_key: tuple[str, dict[str, str]], repo_factory: Any, project_factory: Any) -> Any:
    org_slug, headers = api_key
    project = project_factory(org_slug, repo_factory()).project
    base = f"{stack.api_url}/api/v3/repos/{org_slug}/{project.slug}"

    class Repository:
        def __init__(self) -> None:
            self.org_slug, self.project, self.base, self.headers = org_slug, project, base, headers

        def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
            return requests.request(method, f"{base}{path}", headers=headers, timeout=10, **kwargs)

    return Repository()


def test_a_native_deployment_reaches_a_github_hook_as_the_statuses_get_shows_them(repository: Any, pipeline: Any):
    # Given a GitHub-format hook on the repository, with a receiver on loopback
    with running() as receiver:
        made = repository.call(
            "POST",
            "/hooks",
            json={"config": {"url": receiver.url(), "content_type": "json", "secret": SECRET}, "events": ["*"]},
        )
        assert made.status_code == 201, made.text
        hook = made.json()
        wait_until(lambda: len(receiver) >= 1, timeout=30, what="the ping")

        # When a deployment is triggered through the native API and goes live
        deployment = pipeline.deploy(repository.org_slug, repository.project.id)

        def statuses() -> list[dict[str, Any]] | None:
            told = [json.loads(r.body) for r in receiver.received if r.headers["X-GitHub-Event"] == "deployment_status"]
            return told if any(t["deployment_status"]["state"] == "success" for t in told) else None

        told = wait_until(statuses, timeout=30, what="the success deployment_status")
        received = list(receiver.received)

    # Then the hook heard the deployment once, and exactly the statuses GET shows after queued, in order of ids
    events = [r.headers["X-GitHub-Event"] for r in received]
    assert events.count("deployment") == 1 and events.count("ping") == 1
    shown = repository.call("GET", f"/deployments/{deployment.id}/statuses").json()
    assert [s["state"] for s in shown] == ["success", "in_progress", "queued"]
    by_id = {s["id"]: s for s in shown}
    assert sorted(t["deployment_status"]["id"] for t in told) == sorted(s["id"] for s in shown[:2])
    for t in told:
        status = t["deployment_status"]
        assert status["state"] == by_id[status["id"]]["state"] and status["url"] == by_id[status["id"]]["url"]
        assert t["deployment"]["id"] == deployment.id and t["action"] == "created"
    # And every delivery is signed with the hook's secret and names the hook, each with its own GUID
    for r in received:
        digest = hmac.new(SECRET.encode(), r.body.encode(), hashlib.sha256).hexdigest()
        assert r.headers["X-Hub-Signature-256"] == f"sha256={digest}"
        assert r.headers["X-GitHub-Hook-ID"] == str(hook["id"])
        uuid.UUID(r.headers["X-GitHub-Delivery"])
    assert len({r.headers["X-GitHub-Delivery"] for r in received}) == len(received)

    # And the delivery log shows them with GitHub's integer ids, the GUIDs sent, and a detail with the request
    log = repository.call("GET", f"/hooks/{hook['id']}/deliveries").json()
    assert sorted(d["guid"] for d in log) == sorted(r.headers["X-GitHub-Delivery"] for r in received)
    assert all(
        isinstance(d["id"], int) and d["status"] == "OK" and d["repository_id"] == repository.project.id for d in log
    )
    detail = repository.call("GET", f"/hooks/{hook['id']}/deliveries/{log[0]['id']}").json()
    assert detail["guid"] == log[0]["guid"] and detail["request"]["headers"]["X-GitHub-Delivery"] == log[0]["guid"]
    assert repository.call("GET", f"/hooks/{hook['id']}").json()["last_response"] == {
        "code": 200,
        "status": "active",
        "message": "OK",
    }


def test_patch_changes_events_and_url_and_keeps_the_secret(repository: Any) -> None:
    # Given a hook for deployments only
    made = repository.call(
        "POST",
        "/hooks",
        json={
            "config": {"url": "https://hooks.example.com/a", "secret": SECRET},
            "events": ["deployment"],
            "active": False,
        },
    )
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["last_response"] == {"code": None, "status": "unused", "message": None}

    # When events are added and removed, and the config changes without a secret
    patched = repository.call(
        "PATCH",
        f"/hooks/{hook['id']}",
        json={
            "config": {"url": "https://hooks.example.com/b", "content_type": "json"},
            "add_events": ["deployment_status"],
            "remove_events": ["deployment"],
        },
    )

    # Then the hook has the new URL and events, and still a secret
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["deployment_status"]
    assert patched.json()["config"] == {
        "content_type": "json",
        "insecure_ssl": "0",
        "url": "https://hooks.example.com/b",
        "secret": "********",
    }
    # And removing its last event, or pinging it while inactive, is refused in GitHub's format
    emptied = repository.call("PATCH", f"/hooks/{hook['id']}", json={"remove_events": ["deployment_status"]})
    assert emptied.status_code == 422 and emptied.json()["errors"][0]["field"] == "events"
    assert repository.call("POST", f"/hooks/{hook['id']}/pings").status_code == 409
    # And the native API does not show it: it is managed in its own dialect
    native = requests.get(
        repository.base.split("/api/v3")[0] + "/api/v1/public/webhooks", headers=repository.headers, timeout=10
    ).json()
    assert native["data"] == []
