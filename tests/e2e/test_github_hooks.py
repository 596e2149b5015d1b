"""GitHub repository webhooks end to end: PyGithub manages a hook, a receiver on loopback gets the ping and the
deployment and deployment_status events of a deployment made through the GitHub API, and @octokit/webhooks
(signatures) plus @octokit/webhooks-schemas (payloads), pinned in tests/e2e/octokit_webhooks, accept them."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from github import Auth, Github, GithubException

from tests.e2e.conftest import Api, RunningStack
from tests.support import receiver
from tests.support.git import GitRepo
from tests.support.polling import wait_until

PACKAGE = Path(__file__).parent / "octokit_webhooks"
SECRET = "a-github-hook-secret-of-some-length"

VERIFY = """
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Webhooks } from "@octokit/webhooks";
import Ajv from "ajv";
import addFormats from "ajv-formats";
const require = createRequire(import.meta.url);
const schema = require("@octokit/webhooks-schemas");
const [file, secret] = process.argv.slice(2);
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(schema, "webhooks");
const webhooks = new Webhooks({ secret });
const results = [];
for (const { headers, body } of JSON.parse(readFileSync(file, "utf8"))) {
  const event = headers["x-github-event"];
  const verified = await webhooks.verify(body, headers["x-hub-signature-256"]);
  let errors = null;
  if (event !== "ping") {
    const validate = ajv.getSchema(`webhooks#/definitions/${event}$created`);
    errors = validate(JSON.parse(body)) ? null : validate.errors;
  }
  results.push({ event, verified, errors });
}
console.log(JSON.stringify(results));
"""


def _gh(stack: RunningStack, api: Api) -> Github:
    return Github(base_url=f"{stack.api}/api/v3", auth=Auth.Token(api.token), retry=None)


def test_pygithub_hook_gets_signed_ping_and_deployment_events_octokit_accepts(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    # Given a project deployd builds, its repository through PyGithub, and a receiver on loopback
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "one"}, "v1")
    project = api.create_project(repo.path, build_command="mkdir -p dist && cp index.html dist/", output_dir="dist")
    gh_repo = _gh(stack, api).get_repo(f"{api.org}/{project['slug']}")
    with receiver.running() as target:
        # When PyGithub creates a hook, lists it and pings it
        hook = gh_repo.create_hook(
            "web",
            {"url": target.url("/github"), "content_type": "json", "secret": SECRET},
            ["deployment", "deployment_status"],
            True,
        )
        assert [h.id for h in gh_repo.get_hooks()] == [hook.id]
        assert hook.config == {
            "url": target.url("/github"),
            "content_type": "json",
            "insecure_ssl": "0",
            "secret": "********",
        }
        assert hook.events == ["deployment", "deployment_status"] and hook.active
        wait_until(lambda: len(target) >= 1, timeout=30, what="the ping of a new hook")
        hook.ping()
        wait_until(lambda: len(target) >= 2, timeout=30, what="the asked-for ping")

        # And a deployment is made through the GitHub API and deployd builds it
        deployment = gh_repo.create_deployment("main", environment="production")

        def statuses_received() -> list[str] | None:
            states = [
                json.loads(r.body)["deployment_status"]["state"]
                for r in target.received
                if r.headers["X-GitHub-Event"] == "deployment_status"
            ]
            return states if "success" in states else None

        states = wait_until(statuses_received, timeout=90, what="the deployment_status of success")
        received = list(target.received)

    # Then the receiver got two pings, the deployment, and a deployment_status per GitHub status after queued
    events = [r.headers["X-GitHub-Event"] for r in received]
    assert events[:2] == ["ping", "ping"]
    assert sorted(events[2:]) == ["deployment", "deployment_status", "deployment_status"]
    assert sorted(states) == ["in_progress", "success"]
    ping = json.loads(received[0].body)
    assert ping["hook_id"] == hook.id and ping["hook"]["config"]["secret"] == "********"
    assert ping["repository"]["full_name"] == f"{api.org}/{project['slug']}"
    for r in received:
        assert r.headers["X-GitHub-Hook-ID"] == str(hook.id)
        assert r.headers["User-Agent"].startswith("GitHub-Hookshot/")
    created = next(json.loads(r.body) for r in received if r.headers["X-GitHub-Event"] == "deployment")
    assert created["action"] == "created" and created["deployment"]["id"] == deployment.id
    # And what was delivered is what GET shows: the statuses and their ids
    shown = {s.id: s.state for s in deployment.get_statuses()}
    for r in received:
        if r.headers["X-GitHub-Event"] == "deployment_status":
            status = json.loads(r.body)["deployment_status"]
            assert shown[status["id"]] == status["state"]

    # And @octokit/webhooks verifies every signature, the schemas accept every deployment payload
    npm = shutil.which("npm")
    assert npm, "npm is needed for the @octokit/webhooks test"
    for name in ("package.json", "package-lock.json"):
        shutil.copy(PACKAGE / name, tmp_path / name)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=tmp_path, check=True, timeout=120)
    (tmp_path / "verify.mjs").write_text(VERIFY)
    deliveries = [{"headers": {k.lower(): v for k, v in r.headers.items()}, "body": r.body} for r in received]
    (tmp_path / "received.json").write_text(json.dumps(deliveries))
    run = subprocess.run(
        ["node", "verify.mjs", "received.json", SECRET], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    assert [r for r in results if not r["verified"] or r["errors"]] == [], run.stdout

    # And the delivery log lists each with GitHub's ids; a redelivery sends the same X-GitHub-Delivery again
    log = api.github("GET", f"/repos/{api.org}/{project['slug']}/hooks/{hook.id}/deliveries").json()
    assert len(log) == len(received) and {d["status_code"] for d in log} == {200}
    guids = {r.headers["X-GitHub-Delivery"] for r in received}
    assert {d["guid"] for d in log} == guids
    first_ping = next(d for d in log if d["guid"] == received[0].headers["X-GitHub-Delivery"])
    with receiver.running() as again:
        api.github(
            "PATCH", f"/repos/{api.org}/{project['slug']}/hooks/{hook.id}", json={"config": {"url": again.url()}}
        ).raise_for_status()
        attempts = f"/repos/{api.org}/{project['slug']}/hooks/{hook.id}/deliveries/{first_ping['id']}/attempts"
        assert api.github("POST", attempts).status_code == 202
        wait_until(lambda: len(again) >= 1, timeout=30, what="the redelivery")
        assert again.received[0].headers["X-GitHub-Delivery"] == first_ping["guid"]

    # And PyGithub deletes the hook
    hook.delete()
    assert list(gh_repo.get_hooks()) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"config": {"url": "http://127.0.0.1:9/h", "content_type": "form"}}, "content_type"),
        ({"config": {"url": "http://127.0.0.1:9/h"}, "events": ["push"]}, "events"),
        ({"config": {"url": "http://127.0.0.1:9/h", "secret": "short"}}, "secret"),
        ({"config": {"url": "ftp://example.com/h"}}, "config.url"),
    ],
)
def test_bad_hooks_get_githubs_validation_failed(
    stack: RunningStack, org_api: Callable[..., Api], body: dict[str, object], field: str
) -> None:
    # Given a repository
    api = org_api()
    project = api.create_project("https://example.com/some/repo.git")
    gh_repo = _gh(stack, api).get_repo(f"{api.org}/{project['slug']}")

    # When a hook is created with a bad field
    answer = api.github("POST", f"/repos/{api.org}/{project['slug']}/hooks", json={"name": "web", **body})

    # Then GitHub's 422 names it, and nothing was made
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["message"] == "Validation Failed" and error["errors"][0]["field"] == field
    assert list(gh_repo.get_hooks()) == []


def test_another_organizations_hook_is_not_found(stack: RunningStack, org_api: Callable[..., Api]) -> None:
    # Given a hook of one organization
    owner, other = org_api(), org_api()
    project = owner.create_project("https://example.com/some/repo.git")
    made = owner.github(
        "POST", f"/repos/{owner.org}/{project['slug']}/hooks", json={"config": {"url": "http://127.0.0.1:9/h"}}
    )
    assert made.status_code == 201, made.text

    # When another organization reads it through its own name or the owner's
    # Then it is 404, as GitHub answers for what one may not see
    with pytest.raises(GithubException) as excinfo:
        _gh(stack, other).get_repo(f"{owner.org}/{project['slug']}").get_hook(made.json()["id"])
    assert excinfo.value.status == 404
