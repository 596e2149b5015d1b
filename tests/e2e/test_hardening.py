"""Regressions from review: hostile input never yields a 500, and the ledger stays consistent."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Api, RunningStack, fetch
from tests.support.git import GitRepo

STATIC_BUILD = "mkdir -p dist && cp index.html dist/"
DEEP = '{"a":' + "[" * 100_000 + "]" * 100_000 + "}"


def test_hostile_bodies_and_numbers_get_each_dialects_error(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "x"}, "v1")
    project = api.create_project(repo.path)
    json_header = {"Content-Type": "application/json"}

    # Nesting deep enough to exhaust the parser's recursion
    assert api.post("/projects", data=DEEP, headers=json_header).status_code == 400
    github = api.github("POST", f"/repos/{api.org}/{project['slug']}/deployments", data=DEEP)
    assert github.status_code == 400 and github.json()["message"] == "Problems parsing JSON"
    gitlab = api.gitlab("POST", f"/projects/{project['id']}/deployments", data=DEEP, headers=json_header)
    assert gitlab.status_code == 400
    # NaN is not JSON: refused, so it can never be served back to a client that cannot parse it
    nan = api.github(
        "POST",
        f"/repos/{api.org}/{project['slug']}/deployments",
        data='{"ref": "main", "payload": {"x": NaN}}',
    )
    assert nan.status_code == 400
    # An oversized payload is a validation error, not a conflict
    big = api.github(
        "POST",
        f"/repos/{api.org}/{project['slug']}/deployments",
        json={"ref": "main", "payload": {"blob": "x" * 500_000}},
    )
    assert big.status_code == 422 and big.json()["errors"][0]["field"] == "payload"
    # Digits that are not ASCII
    assert api.get(f"/projects/{project['id']}/deployments", params={"page": "²"}).status_code == 400
    assert api.get(f"/projects/{project['id']}/deployments", params={"per_page": "1_0"}).status_code == 400
    listed = api.github("GET", f"/repos/{api.org}/{project['slug']}/deployments", params={"page": "²"})
    assert listed.status_code == 422
    # A repository URL with a NUL byte, or naming nothing
    assert api.post("/projects", json={"name": "nul", "repo_url": f"{repo.path}\u0000"}).status_code == 400
    assert api.post("/projects", json={"name": "empty", "repo_url": "file://"}).status_code == 400
    # The overflow of issue 9: a rate no clock can count is the native 400 naming the field, not a 500
    overflow = api.request(
        "PATCH", f"/projects/{project['id']}", json={"preview_rebuild_schedule": "rate(99999999999999999999 days)"}
    )
    assert overflow.status_code == 400 and overflow.json()["error"]["field"] == "preview_rebuild_schedule"
    # A NUL in a name or an output directory is refused
    assert api.post("/projects", json={"name": "n\u0000", "repo_url": str(repo.path)}).status_code == 400
    nul_dir = api.request("PATCH", f"/projects/{project['id']}", json={"output_dir": "dist\u0000"})
    assert nul_dir.status_code == 400 and nul_dir.json()["error"]["field"] == "output_dir"


def test_native_listing_shows_every_deployment_once_after_deletes(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given a ledger project with five deployments, two of them deleted through GitHub
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "x"}, "v1")
    project = api.create_project(repo.path)
    base = f"/repos/{api.org}/{project['slug']}/deployments"
    ids = [api.github("POST", base, json={"ref": "main"}).json()["id"] for _ in range(5)]
    for deleted in (ids[4], ids[3]):  # never given a success status: inactive, so GitHub lets them go
        assert api.github("DELETE", f"{base}/{deleted}").status_code == 204

    # When the native API lists two per page
    pages = [
        api.get(f"/projects/{project['id']}/deployments", params={"page": n, "per_page": 2}).json() for n in (1, 2)
    ]

    # Then the three that remain are each listed once, newest first, and the meta agrees
    assert [d["id"] for page in pages for d in page["data"]] == [ids[2], ids[1], ids[0]]
    assert pages[0]["meta"]["total"] == 3 and pages[0]["meta"]["total_pages"] == 2


def test_the_production_environment_serving_a_site_cannot_be_deleted_through_github(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "live"}, "v1")
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    deployment = api.trigger(project["id"])
    api.wait_for_status(project["id"], deployment["id"], "deployed")

    refused = api.github("DELETE", f"/repos/{api.org}/{project['slug']}/environments/production")

    assert refused.status_code == 422, refused.text
    assert fetch(project["production_url"]).text == "live"
    assert api.deployment(project["id"], deployment["id"])["is_active"] is True


def test_rolling_back_another_environment_never_touches_production(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given production live, and two staging builds made through GitHub
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "production"}, "v1")
    project = api.create_project(repo.path, build_command=STATIC_BUILD, output_dir="dist")
    live = api.trigger(project["id"])
    api.wait_for_status(project["id"], live["id"], "deployed")
    staging = [
        api.github(
            "POST",
            f"/repos/{api.org}/{project['slug']}/deployments",
            json={"ref": "main", "environment": "staging"},
        ).json()["id"]
        for _ in range(2)
    ]
    for deployment_id in staging:
        api.wait_for_status(project["id"], deployment_id, "deployed")

    # When staging is rolled back to its first build
    response = api.post(f"/projects/{project['id']}/deployments/{staging[0]}/rollback")

    # Then production still serves its own deployment
    assert response.status_code == 200, response.text
    served = fetch(project["production_url"])
    assert served.text == "production" and served.headers["X-Deployd-Deployment-Id"] == str(live["id"])


def test_gitlab_responses_carry_the_organizations_rate_limit_headers(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "x"}, "v1")
    project = api.create_project(repo.path)
    first = api.gitlab("GET", f"/projects/{project['id']}/deployments")
    second = api.gitlab("GET", f"/projects/{project['id']}/deployments")

    assert first.status_code == 200 and first.headers["x-ratelimit-resource"] == "api"
    assert int(second.headers["x-ratelimit-remaining"]) == int(first.headers["x-ratelimit-remaining"]) - 1
