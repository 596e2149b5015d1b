"""Deploy hooks over HTTP against the in-process embedded stack: made, listed masked and deleted through the native
API; called like a CMS or a cron job does (a plain POST or GET, no Authorization header), with collapsing into a
deployment that has not started building, under concurrency too, and the organization's trigger rate limit."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.support.git import GitRepo


@pytest.fixture
def api(stack: Any) -> str:
    return f"{stack.api_url}/api/v1/public"


def _key(org_slug: str, scopes: list[str] | None = None) -> dict[str, str]:
    from chalicelib.services import organizations

    return {"Authorization": f"Bearer {organizations.create_key(org_slug, 'ci', scopes).token}"}


def _hook(api: str, headers: dict[str, str], project_id: int, **body: Any) -> dict[str, Any]:
    made = requests.post(f"{api}/projects/{project_id}/deploy-hooks", json=body, headers=headers, timeout=30)
    assert made.status_code == 201, made.text
    return dict(made.json()["data"])


def test_a_hook_is_made_listed_masked_called_without_credentials_and_deleted(
    api: str,
    stack: Any,
    api_key: tuple[str, dict[str, str]],
    repo_factory: Callable[..., GitRepo],
    project_factory: Callable[..., Any],
    pipeline: Any,
) -> None:
    org_slug, headers = api_key
    repo = repo_factory()
    project = project_factory(org_slug, repo).project

    # Given a hook made with a name only: the project's default branch, its URL shown whole this once
    hook = _hook(api, headers, project.id, name="cms")
    assert hook["name"] == "cms" and hook["branch"] == "main" and hook["created_at"]
    prefix = f"{stack.api_url}/api/v1/hooks/deploy/"
    assert hook["url"].startswith(prefix)
    secret = hook["url"][len(prefix) :]
    assert len(secret) >= 32  # at least 128 bits of randomness, URL-safe

    # Then the list shows it with the URL masked, and the table holds no trace of the secret
    listed = requests.get(f"{api}/projects/{project.id}/deploy-hooks", headers=headers, timeout=10)
    assert listed.status_code == 200
    (shown,) = listed.json()["data"]
    assert shown["id"] == hook["id"] and shown["url"].startswith(prefix) and secret not in shown["url"]
    from chalicelib.models.deploy_hook import DeployHook

    stored = [item.serialize() for item in DeployHook.scan()]
    assert stored and not any(secret in str(item) for item in stored)

    # When the branch moves on and the URL is POSTed with no header and no body
    head = repo.commit({"index.html": "<h1>new</h1>"}, "new home page")
    called = requests.post(hook["url"], timeout=30)

    # Then a job is pending and the deployment builds the branch head as it is now, triggered by the hook
    assert called.status_code == 201, called.text
    job, deployment = called.json()["job"], called.json()["deployment"]
    assert job["state"] == "PENDING" and job["id"] and isinstance(job["createdAt"], int)
    assert deployment["commit_sha"] == head and deployment["branch"] == "main"
    assert deployment["triggered_by"] == "deploy_hook:cms"
    assert pipeline.wait_terminal(deployment["id"]).status == "deployed"

    # When the hook is deleted, its URL stops working at once, answering as a URL no hook ever had
    deleted = requests.delete(f"{api}/projects/{project.id}/deploy-hooks/{hook['id']}", headers=headers, timeout=10)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = requests.post(hook["url"], timeout=10)
    never = requests.post(f"{prefix}dh_{'x' * 43}", timeout=10)
    assert gone.status_code == never.status_code == 404
    assert gone.json() == never.json() == {"error": {"code": "not_found", "message": "deploy hook not found"}}
    assert requests.get(f"{api}/projects/{project.id}/deploy-hooks", headers=headers, timeout=10).json()["data"] == []


def test_a_hook_deploys_its_own_branch_which_must_exist_and_takes_a_title(
    api: str,
    api_key: tuple[str, dict[str, str]],
    repo_factory: Callable[..., GitRepo],
    project_factory: Callable[..., Any],
    pipeline: Any,
) -> None:
    org_slug, headers = api_key
    repo = repo_factory()
    repo.git("checkout", "-q", "-b", "docs")
    docs_head = repo.commit({"index.html": "<h1>docs</h1>"}, "docs")
    project = project_factory(org_slug, repo, build_command=None).project  # a ledger: nothing builds

    # A branch that does not exist is refused in the native format; so is a body that is not a hook
    missing = requests.post(
        f"{api}/projects/{project.id}/deploy-hooks", json={"name": "x", "branch": "nope"}, headers=headers, timeout=30
    )
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "branch"
    nameless = requests.post(f"{api}/projects/{project.id}/deploy-hooks", json={}, headers=headers, timeout=10)
    assert nameless.status_code == 400 and nameless.json()["error"]["field"] == "name"

    # Given a hook of the docs branch, called with GET and Netlify's trigger_title in the query
    hook = _hook(api, headers, project.id, name="nightly", branch="docs")
    called = requests.get(hook["url"], params={"trigger_title": "nightly rebuild"}, timeout=30)

    # Then it deploys the docs branch head, titled as asked
    assert called.status_code == 201, called.text
    deployment = called.json()["deployment"]
    assert deployment["branch"] == "docs" and deployment["commit_sha"] == docs_head
    assert pipeline.deployment(deployment["id"]).description == "nightly rebuild"

    # A title that is not plain text is a 400 that starts nothing
    bad = requests.post(hook["url"], data={"trigger_title": "a\x00b"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "trigger_title"


def test_calls_collapse_into_a_deployment_until_it_starts_building(
    api: str,
    org_factory: Callable[..., Any],
    repo_factory: Callable[..., GitRepo],
    project_factory: Callable[..., Any],
    pipeline: Any,
    gates: Any,
) -> None:
    # Given a free organization (one build slot) whose builds wait for the test
    org = org_factory(plan="free")
    headers = _key(org.slug)
    project = project_factory(org.slug, repo_factory(), build_command=gates.command, output_dir="dist").project
    hook = _hook(api, headers, project.id, name="cms")

    # When the hook is called and its deployment starts building
    first = requests.post(hook["url"], timeout=30).json()
    first_id = first["deployment"]["id"]
    pipeline.wait_for_status(first_id, "building")

    # Then the next call makes a new deployment, which waits for the slot; calls made meanwhile join it
    second = requests.post(hook["url"], json={"sys": {"type": "Entry"}}, timeout=30)
    assert second.status_code == 201 and second.json()["deployment"]["id"] != first_id
    third = requests.post(hook["url"], timeout=30)
    assert third.status_code == 200, third.text
    assert third.json()["job"] == second.json()["job"]
    assert third.json()["deployment"]["id"] == second.json()["deployment"]["id"]
    assert third.json()["deployment"]["status"] == "queued"

    gates.open_all()
    assert pipeline.wait_terminal(second.json()["deployment"]["id"], timeout=60).status == "deployed"


def test_simultaneous_calls_make_one_deployment(
    api: str,
    api_key: tuple[str, dict[str, str]],
    repo_factory: Callable[..., GitRepo],
    project_factory: Callable[..., Any],
) -> None:
    org_slug, headers = api_key
    project = project_factory(org_slug, repo_factory(), build_command=None).project
    hook = _hook(api, headers, project.id, name="cms")

    # When eight clients call the hook at the same moment
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: requests.post(hook["url"], timeout=60), range(8)))

    # Then one deployment was made: one 201, seven 200s with the same job
    assert sorted(a.status_code for a in answers) == [200] * 7 + [201], [a.text for a in answers]
    assert len({a.json()["job"]["id"] for a in answers}) == 1
    assert len({a.json()["deployment"]["id"] for a in answers}) == 1
    listed = requests.get(f"{api}/projects/{project.id}/deployments", headers=headers, timeout=10)
    assert listed.json()["meta"]["total"] == 1


def test_calls_count_against_the_organizations_trigger_limit(
    api: str,
    org_factory: Callable[..., Any],
    repo_factory: Callable[..., GitRepo],
    project_factory: Callable[..., Any],
) -> None:
    repo = repo_factory()
    for attempt in range(2):
        # Given a free organization (10 triggers a minute) and a hook whose deployments stay queued
        org = org_factory(plan="free")
        headers = _key(org.slug)
        project = project_factory(org.slug, repo, build_command=None).project
        hook = _hook(api, headers, project.id, name="cron")
        if 60 - time.time() % 60 < 10:
            time.sleep(60 - time.time() % 60 + 0.2)  # not across a minute boundary

        # When the hook is called 11 times
        answers = [requests.post(hook["url"], timeout=30) for _ in range(11)]
        if len({a.headers["x-ratelimit-reset"] for a in answers}) > 1 and attempt == 0:
            continue

        # Then ten are accepted (one deployment) and the 11th is refused with Retry-After
        assert [a.status_code for a in answers] == [201] + [200] * 9 + [429]
        refused = answers[-1]
        assert refused.json()["error"]["code"] == "rate_limited"
        assert refused.headers["x-ratelimit-resource"] == "triggers"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60

        # And the organization's own trigger endpoint shares that budget
        trigger = requests.post(f"{api}/projects/{project.id}/deployments", json={}, headers=headers, timeout=30)
        assert trigger.status_code == 429
        return


def test_managing_hooks_needs_the_deployments_write_scope(
    api: str, org_factory: Callable[..., Any], repo_factory: Callable[..., GitRepo], project_factory: Callable[..., Any]
) -> None:
    org = org_factory()
    project = project_factory(org.slug, repo_factory()).project
    reader = _key(org.slug, ["deployments:read", "projects:read"])
    for method, path in (("POST", "deploy-hooks"), ("GET", "deploy-hooks"), ("DELETE", "deploy-hooks/1")):
        answer = requests.request(
            method, f"{api}/projects/{project.id}/{path}", json={"name": "x"}, headers=reader, timeout=10
        )
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "forbidden"
    # Another organization sees none of the project's hooks
    _hook(api, _key(org.slug), project.id, name="cms")
    stranger = _key(org_factory().slug)
    assert requests.get(f"{api}/projects/{project.id}/deploy-hooks", headers=stranger, timeout=10).status_code == 404


def test_a_start_abandoned_by_a_crashed_call_does_not_hold_the_hook(
    api: str,
    api_key: tuple[str, dict[str, str]],
    repo_factory: Callable[..., GitRepo],
    project_factory: Callable[..., Any],
) -> None:
    from datetime import timedelta

    from chalicelib.models.attributes import utc_now
    from chalicelib.models.deploy_hook import DeployHook
    from chalicelib.services import deploy_hooks

    org_slug, headers = api_key
    project = project_factory(org_slug, repo_factory(), build_command=None).project
    hook = _hook(api, headers, project.id, name="cms")
    secret = hook["url"].rsplit("/", 1)[1]

    # Given a call that claimed a job two minutes ago and died before making its deployment
    DeployHook(digest=deploy_hooks.digest(secret)).update(
        actions=[DeployHook.job_id.set("crashed"), DeployHook.job_created_at.set(utc_now() - timedelta(minutes=2))]
    )

    # When the hook is called, it does not wait for that job: it starts its own
    started = time.monotonic()
    called = requests.post(hook["url"], timeout=60)
    assert called.status_code == 201, called.text
    assert called.json()["job"]["id"] != "crashed" and time.monotonic() - started < 10
