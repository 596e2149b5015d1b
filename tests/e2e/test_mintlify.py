"""Mintlify's API under /v1: preview triggers, production updates, update-status, errors and the 5-per-minute limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from tests.e2e.conftest import Api, fetch
from tests.support.git import GitRepo
from tests.support.polling import wait_until

STATIC_BUILD = "mkdir -p dist && cp index.html dist/ && echo built"


class Mintlify:
    """An organization's view of the Mintlify dialect: its key as Bearer token, base URL /v1."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.base = f"{api.stack.api}/v1"
        self.headers = {"Authorization": f"Bearer {api.token}"}

    def preview(self, project_id: Any, body: Any = None, raw: str | None = None) -> requests.Response:
        url = f"{self.base}/project/preview/{project_id}"
        if raw is not None:
            headers = {**self.headers, "Content-Type": "application/json"}
            return requests.post(url, headers=headers, timeout=30, data=raw)
        return requests.post(url, headers=self.headers, timeout=30, json=body)

    def update(self, project_id: Any) -> requests.Response:
        return requests.post(f"{self.base}/project/update/{project_id}", headers=self.headers, timeout=30)

    def status(self, status_id: str) -> requests.Response:
        return requests.get(f"{self.base}/project/update-status/{status_id}", headers=self.headers, timeout=30)

    def wait_for(self, status_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            response = self.status(status_id)
            assert response.status_code == 200, response.text
            body = dict(response.json())
            return body if body["status"] in statuses else None

        return dict(wait_until(probe, timeout, what=f"status {status_id} to be {statuses}"))


def _docs_repo(git_repo: Callable[..., GitRepo], branch_content: str = "<h1>feature v1</h1>") -> GitRepo:
    repo = git_repo()
    repo.commit({"index.html": "<h1>main</h1>"}, "Docs home")
    repo.git("checkout", "-q", "-b", "feature/docs")
    repo.commit({"index.html": branch_content}, "Feature docs")
    repo.git("checkout", "-q", "main")
    return repo


def test_preview_serves_the_branch_and_a_redeploy_keeps_the_url(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given a pro organization and a project with a feature branch
    api = org_api(plan="pro")
    mint = Mintlify(api)
    repo = _docs_repo(git_repo)
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")

    # When a preview of the branch is triggered
    first = mint.preview(project["id"], {"branch": "feature/docs"})

    # Then it is accepted with a status id and a preview URL, and the response carries the previews budget
    assert first.status_code == 202, first.text
    body = first.json()
    assert set(body) == {"statusId", "previewUrl"}
    assert isinstance(body["statusId"], str)
    assert first.headers["x-ratelimit-limit"] == "5"
    assert int(first.headers["x-ratelimit-remaining"]) <= 4
    assert int(first.headers["x-ratelimit-reset"]) > time.time()

    # And update-status reaches success with Mintlify's fields, then the URL serves the branch
    done = mint.wait_for(body["statusId"], "success", "failure")
    assert done["status"] == "success", done
    assert done["_id"] == body["statusId"]
    assert done["projectId"] == str(project["id"])
    assert done["commit"]["ref"] == "feature/docs"
    assert done["commit"]["message"] == "Feature docs"
    assert len(done["commit"]["sha"]) == 40
    assert done["author"] == "Ada Lovelace"
    assert done["source"] == "mintlify"
    assert done["createdAt"] and done["endedAt"]
    assert isinstance(done["logs"], list) and "built" in done["logs"]
    assert "feature v1" in fetch(body["previewUrl"]).text

    # When the branch moves and the preview is triggered again
    repo.git("checkout", "-q", "feature/docs")
    repo.commit({"index.html": "<h1>feature v2</h1>"}, "Feature docs v2")
    second = mint.preview(project["id"], {"branch": "feature/docs"})

    # Then the URL is the same, the status id is new, and the URL serves the new content
    assert second.status_code == 202, second.text
    assert second.json()["previewUrl"] == body["previewUrl"]
    assert second.json()["statusId"] != body["statusId"]
    assert mint.wait_for(second.json()["statusId"], "success", "failure")["status"] == "success"
    wait_until(lambda: "feature v2" in fetch(body["previewUrl"]).text, 10, what="the preview to serve v2")

    # And there is still one preview of the branch, not two
    listing = api.get(f"/projects/{project['id']}/previews").json()
    assert [p["branch"] for p in listing["data"]] == ["feature/docs"]


def test_update_redeploys_production(org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]) -> None:
    # Given a free organization (updates need no preview plan) and a project
    api = org_api(plan="free")
    mint = Mintlify(api)
    repo = _docs_repo(git_repo)
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")

    # When production is updated
    response = mint.update(project["id"])

    # Then the default branch is deployed to production
    assert response.status_code == 202, response.text
    assert set(response.json()) == {"statusId"}
    assert response.headers["x-ratelimit-resource"] == "previews"
    done = mint.wait_for(response.json()["statusId"], "success", "failure")
    assert done["status"] == "success", done
    assert done["commit"]["ref"] == "main"
    assert "main" in fetch(project["production_url"]).text


def test_client_errors(org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]) -> None:
    # Given a pro organization with a project, another organization, and a free one
    api = org_api(plan="pro")
    mint = Mintlify(api)
    repo = _docs_repo(git_repo)
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    other = Mintlify(org_api(plan="pro"))
    free = org_api(plan="free")
    free_project = free.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")

    # Then a missing, empty or non-string branch, and a malformed body, are 400 and consume nothing
    for body in ({}, {"branch": ""}, {"branch": 7}, {"branch": None}):
        response = mint.preview(project["id"], body)
        assert response.status_code == 400, (body, response.text)
        assert set(response.json()) == {"error"} and "branch" in response.json()["error"]
        assert response.headers["x-ratelimit-remaining"] == "5"
    malformed = mint.preview(project["id"], raw="{not json")
    assert malformed.status_code == 400 and "error" in malformed.json()

    # And a branch that does not exist is 400 naming it, and its count is given back
    unknown = mint.preview(project["id"], {"branch": "no-such-branch"})
    assert unknown.status_code == 400
    assert "no-such-branch" in unknown.json()["error"]
    assert unknown.headers["x-ratelimit-remaining"] == "5"

    # And a plan without previews is 403
    forbidden = Mintlify(free).preview(free_project["id"], {"branch": "feature/docs"})
    assert forbidden.status_code == 403 and "plan" in forbidden.json()["error"]

    # And another organization's project, and unknown projects, are 404
    for response in (other.preview(project["id"], {"branch": "feature/docs"}), mint.preview("999999", {"branch": "x"})):
        assert response.status_code == 404 and set(response.json()) == {"error"}
    assert other.update(project["id"]).status_code == 404

    # And a status of another organization, or none at all, is 404
    accepted = mint.preview(project["id"], {"branch": "feature/docs"})
    assert accepted.status_code == 202
    assert other.status(accepted.json()["statusId"]).status_code == 404
    assert mint.status("424242424").status_code == 404
    assert mint.status("abc").status_code == 404
    assert mint.status(accepted.json()["statusId"]).headers["x-ratelimit-resource"] == "api"

    # And without a key it is 401
    assert requests.get(f"{mint.base}/project/update-status/1", timeout=10).status_code == 401


def _fire_together(mint: Mintlify, project_id: int, count: int) -> list[requests.Response]:
    barrier = threading.Barrier(count)
    results: list[requests.Response | None] = [None] * count

    def send(index: int) -> None:
        barrier.wait()
        results[index] = mint.preview(project_id, {"branch": "feature/docs"})

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _fresh_window_if_close(margin: float = 10.0) -> None:
    # Windows are per minute: start well inside one rather than straddle two.
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.2)


def test_twelve_concurrent_previews_accept_exactly_five(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    repo = _docs_repo(git_repo)
    for attempt in range(2):
        # Given two pro organizations with a project each
        api, neighbour = org_api(plan="pro"), org_api(plan="pro")
        project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
        neighbour_project = neighbour.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
        _fresh_window_if_close()

        # When one of them sends 12 valid preview triggers at once
        responses = _fire_together(Mintlify(api), project["id"], 12)
        if len({r.headers["x-ratelimit-reset"] for r in responses}) > 1 and attempt == 0:
            continue  # the burst straddled a minute boundary: try once more in a fresh window

        # Then exactly 5 are accepted and 7 refused with 429 and the limit headers
        codes = sorted(r.status_code for r in responses)
        assert codes == [202] * 5 + [429] * 7, codes
        for refused in (r for r in responses if r.status_code == 429):
            assert set(refused.json()) == {"error"}
            assert 1 <= int(refused.headers["Retry-After"]) <= 60
            assert refused.headers["x-ratelimit-limit"] == "5"
            assert refused.headers["x-ratelimit-remaining"] == "0"
            assert int(refused.headers["x-ratelimit-reset"]) % 60 == 0

        # And the native preview trigger shares the budget: 429 in the native error shape
        native = api.post(f"/projects/{project['id']}/previews", json={"branch": "feature/docs"})
        if native.headers["x-ratelimit-reset"] == responses[0].headers["x-ratelimit-reset"]:
            assert native.status_code == 429, native.text
            assert native.json()["error"]["code"] == "rate_limited"
            assert "Retry-After" in native.headers

        # And the other organization is unaffected
        assert Mintlify(neighbour).preview(neighbour_project["id"], {"branch": "feature/docs"}).status_code == 202
        return
