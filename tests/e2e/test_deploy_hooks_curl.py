"""Deploy hooks end to end: a hook made through the native API and called with plain curl, as a CMS or a cron job
calls it (no Authorization header, no body), builds and serves the branch head; simultaneous calls make one
deployment; a deleted hook's URL is a 404 at once."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.conftest import Api, fetch
from tests.support.git import GitRepo


def curl(*args: str) -> tuple[int, Any]:
    """curl as a cron job runs it: the status and the JSON body."""
    done = subprocess.run(
        ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    return int(status), json.loads(body) if body else None


def test_a_hook_called_with_curl_deploys_collapses_and_stops_when_deleted(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "<h1>v1</h1>"}, "first")
    project = api.create_project(repo.path, build_command="mkdir -p dist && cp index.html dist/", output_dir="dist")
    made = api.post(f"/projects/{project['id']}/deploy-hooks", json={"name": "cms"})
    assert made.status_code == 201, made.text
    hook = made.json()["data"]

    # When the content changes and the CMS calls the hook with a bare POST
    head = repo.commit({"index.html": "<h1>v2</h1>"}, "publish")
    status, answer = curl("-X", "POST", hook["url"])

    # Then the branch head is built and served, triggered by the hook
    assert status == 201 and answer["job"]["state"] == "PENDING"
    assert answer["deployment"]["commit_sha"] == head and answer["deployment"]["triggered_by"] == "deploy_hook:cms"
    deployed = api.wait_for_status(project["id"], answer["deployment"]["id"], "deployed", "failed")
    assert deployed["status"] == "deployed", api.logs(project["id"], deployed["id"])
    assert fetch(project["production_url"]).text == "<h1>v2</h1>"

    # When six cron jobs call a hook of a project whose deployments stay queued (an external deployer's ledger)
    ledger = api.create_project(repo.path)
    ledger_hook = api.post(f"/projects/{ledger['id']}/deploy-hooks", json={"name": "cron"}).json()["data"]
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: curl(ledger_hook["url"]), range(6)))  # GET works as well as POST

    # Then they share one job and one deployment
    assert sorted(s for s, _ in answers) == [200] * 5 + [201]
    assert len({a["job"]["id"] for _, a in answers}) == 1
    assert api.get(f"/projects/{ledger['id']}/deployments").json()["meta"]["total"] == 1

    # When the first hook is deleted, its URL answers 404 from the next call on
    assert api.request("DELETE", f"/projects/{project['id']}/deploy-hooks/{hook['id']}").status_code == 204
    status, refused = curl("-X", "POST", hook["url"])
    assert status == 404 and refused == {"error": {"code": "not_found", "message": "deploy hook not found"}}
