"""The GitHub dialect driven by PyGithub over real HTTP: deployments, statuses, environments, the
inactive and delete rules, the two ways of deploying, and rate limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import github
import pytest
import requests
from github import Auth, Github, GithubException

from tests.e2e.conftest import Api, RunningStack, fetch
from tests.support.git import GitRepo
from tests.support.polling import wait_until

STATIC_BUILD = "mkdir -p dist && cp index.html dist/"


@dataclass
class GithubProject:
    api: Api
    gh: Github
    repo: Any  # github.Repository.Repository
    git: GitRepo
    project: dict[str, Any]
    shas: dict[str, str]


@pytest.fixture
def github_project(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> Callable[..., GithubProject]:
    def make(per_page: int = 30, **project_fields: Any) -> GithubProject:
        api = org_api()
        repo = git_repo()
        shas = {"v1": repo.commit({"index.html": "one"}, "v1")}
        repo.git("tag", "v1.0")
        repo.git("checkout", "-q", "-b", "feature")
        shas["feature"] = repo.commit({"index.html": "feature"}, "feature")
        repo.git("checkout", "-q", "main")
        shas["main"] = repo.commit({"index.html": "two"}, "v2")
        project = api.create_project(repo.path, **project_fields)
        gh = Github(
            base_url=f"{stack.api}/api/v3",
            auth=Auth.Token(api.token),
            per_page=per_page,
            retry=None,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        return GithubProject(api, gh, gh.get_repo(f"{api.org}/{project['slug']}"), repo, project, shas)

    return make


def _error(excinfo: pytest.ExceptionInfo[GithubException], status: int) -> dict[str, Any]:
    assert excinfo.value.status == status, excinfo.value.data
    data = dict(excinfo.value.data)  # type: ignore[arg-type]
    assert data["documentation_url"]
    return data


def test_repository_resource(github_project: Callable[..., GithubProject]) -> None:
    # Given a project; When PyGithub asks for it as owner/repo (any case)
    p = github_project()
    upper = p.gh.get_repo(f"{p.api.org.upper()}/{p.project['slug'].upper()}")

    # Then it is the project, as a repository of the organization
    assert p.repo.id == p.project["id"] == upper.id
    assert p.repo.full_name == f"{p.api.org}/{p.project['slug']}"
    assert p.repo.owner.login == p.api.org and p.repo.owner.type == "Organization"
    assert p.repo.default_branch == "main"
    assert p.repo.private is True


def test_ledger_deployment_by_branch_tag_and_sha(github_project: Callable[..., GithubProject]) -> None:
    # Given an external-ledger project (no build command)
    p = github_project()

    # When deployments are created by branch, tag and SHA, with object and string payloads
    by_branch = p.repo.create_deployment("feature", payload={"deploy": "migrate"}, description="from hubot")
    by_tag = p.repo.create_deployment("v1.0", environment="staging", task="deploy:migrations")
    raw = p.gh.requester.requestJsonAndCheck(
        "POST",
        f"{p.repo.url}/deployments",
        input={
            "ref": p.shas["v1"],
            "payload": '{ "deploy": "migrate" }',
            "environment": "qa",
            "transient_environment": True,
        },
    )[1]

    # Then each resolves its ref to a sha and carries GitHub's fields
    assert (by_branch.sha, by_branch.ref, by_branch.task) == (p.shas["feature"], "feature", "deploy")
    assert by_branch.payload == {"deploy": "migrate"} and by_branch.description == "from hubot"
    assert by_branch.environment == by_branch.original_environment == "production"
    assert by_branch.production_environment is True and by_branch.transient_environment is False
    assert by_branch.creator.login == p.api.org
    assert (by_tag.sha, by_tag.ref, by_tag.task) == (p.shas["v1"], "v1.0", "deploy:migrations")
    assert by_tag.production_environment is False
    assert raw["sha"] == raw["ref"] == p.shas["v1"]
    assert raw["payload"] == '{ "deploy": "migrate" }'
    assert raw["transient_environment"] is True and raw["production_environment"] is False
    assert raw["performed_via_github_app"] is None

    # And GET one returns the same deployment
    fetched = p.repo.get_deployment(by_branch.id)
    assert (fetched.id, fetched.sha, fetched.payload) == (by_branch.id, by_branch.sha, {"deploy": "migrate"})


def test_listing_filters_and_pagination(github_project: Callable[..., GithubProject]) -> None:
    # Given five deployments across refs, tasks and environments, listed two per page
    p = github_project(per_page=2)
    made = [
        p.repo.create_deployment("main"),
        p.repo.create_deployment("feature", environment="staging"),
        p.repo.create_deployment("main", task="deploy:migrations"),
        p.repo.create_deployment("v1.0", environment="staging"),
        p.repo.create_deployment("main", environment="staging"),
    ]
    ids = [d.id for d in made]

    # Then the unfiltered listing is newest first across pages, with GitHub's Link header
    everything = p.repo.get_deployments()
    assert everything.totalCount == 5
    assert [d.id for d in everything] == ids[::-1]
    first_page = requests.get(
        f"{p.repo.url}/deployments?per_page=2", headers={"Authorization": f"token {p.api.token}"}, timeout=10
    )
    assert 'rel="next"' in first_page.headers["Link"] and 'rel="last"' in first_page.headers["Link"]
    assert "page=3" in first_page.headers["Link"]
    last_page = requests.get(
        f"{p.repo.url}/deployments?per_page=2&page=3", headers={"Authorization": f"Bearer {p.api.token}"}, timeout=10
    )
    assert [d["id"] for d in last_page.json()] == [ids[0]]
    assert 'rel="prev"' in last_page.headers["Link"] and 'rel="first"' in last_page.headers["Link"]
    one_page = requests.get(
        f"{p.repo.url}/deployments?per_page=10", headers={"Authorization": f"token {p.api.token}"}, timeout=10
    )
    assert "Link" not in one_page.headers and len(one_page.json()) == 5

    # And every filter selects, also across pages
    staging = p.repo.get_deployments(environment="staging")
    assert staging.totalCount == 3 and [d.id for d in staging] == [ids[4], ids[3], ids[1]]
    assert [d.id for d in p.repo.get_deployments(ref="main")] == [ids[4], ids[2], ids[0]]
    assert [d.id for d in p.repo.get_deployments(sha=p.shas["v1"])] == [ids[3]]
    assert [d.id for d in p.repo.get_deployments(task="deploy:migrations")] == [ids[2]]
    assert [d.id for d in p.repo.get_deployments(ref="main", environment="staging")] == [ids[4]]
    assert p.repo.get_deployments(ref="nope").totalCount == 0


def test_ledger_statuses_move_the_native_status(github_project: Callable[..., GithubProject]) -> None:
    # Given a ledger deployment
    p = github_project()
    deployment = p.repo.create_deployment("main", environment="staging")
    pid = p.project["id"]

    # When its deployer reports in_progress, then success with URLs
    deployment.create_status("in_progress", description="rolling out")
    assert p.api.deployment(pid, deployment.id)["status"] == "deploying"
    done = deployment.create_status(
        "success", target_url="https://ci.example/1", environment_url="https://staging.example", description="done"
    )

    # Then the statuses are recorded newest first, and the native deployment is deployed there
    assert done.state == "success" and done.environment == "staging"
    assert done.log_url == done.target_url == "https://ci.example/1"
    assert done.environment_url == "https://staging.example"
    assert [s.state for s in deployment.get_statuses()] == ["success", "in_progress"]
    assert deployment.get_status(done.id).description == "done"
    native = p.api.deployment(pid, deployment.id)
    assert native["status"] == "deployed" and native["deployment_url"] == "https://staging.example"

    # And log_url sets target_url; failure and error become failed
    failed = p.repo.create_deployment("main", environment="staging")
    status = p.gh.requester.requestJsonAndCheck(
        "POST", f"{failed.url}/statuses", input={"state": "failure", "log_url": "https://ci.example/2"}
    )[1]
    assert status["target_url"] == status["log_url"] == "https://ci.example/2"
    assert status["environment"] == "staging"
    assert p.api.deployment(pid, failed.id)["status"] == "failed"


def test_auto_inactive(github_project: Callable[..., GithubProject]) -> None:
    # Given two successful non-production deployments of staging and one of production
    p = github_project()
    first = p.repo.create_deployment("main", environment="staging")
    first.create_status("success")
    prod = p.repo.create_deployment("main")
    prod.create_status("success")
    second = p.repo.create_deployment("feature", environment="staging")

    # When the second succeeds with auto_inactive false, the first stays successful
    second.create_status("success", auto_inactive=False)
    assert [s.state for s in first.get_statuses()][0] == "success"

    # And when a third succeeds (auto_inactive default true), both earlier staging ones become inactive
    third = p.repo.create_deployment("main", environment="staging")
    third.create_status("success")
    assert [s.state for s in first.get_statuses()][0] == "inactive"
    assert [s.state for s in second.get_statuses()][0] == "inactive"
    assert [s.state for s in prod.get_statuses()][0] == "success"  # production ones are never auto-inactivated
    assert [s.state for s in third.get_statuses()][0] == "success"


def test_transient_deployment_set_inactive_is_destroyed(github_project: Callable[..., GithubProject]) -> None:
    p = github_project()
    review = p.repo.create_deployment("feature", environment="review-feature", transient_environment=True)
    review.create_status("success", environment_url="https://review.example")

    status = review.create_status("inactive", description="branch deleted")

    assert status.state == "inactive"
    assert [s.state for s in review.get_statuses()] == ["inactive", "success"]
    # inactive changes no native status
    assert p.api.deployment(p.project["id"], review.id)["status"] == "deployed"


def test_delete_rules(github_project: Callable[..., GithubProject]) -> None:
    # Given the only deployment of a repository, successful: it can be deleted
    p = github_project()
    only = p.repo.create_deployment("main")
    only.create_status("success")
    p.gh.requester.requestJsonAndCheck("DELETE", only.url)
    with pytest.raises(GithubException) as missing:
        p.repo.get_deployment(only.id)
    assert _error(missing, 404)["message"] == "Not Found"

    # Given two deployments, an active one cannot be deleted
    active = p.repo.create_deployment("main")
    active.create_status("success")
    pending = p.repo.create_deployment("feature")
    with pytest.raises(GithubException) as refused:
        p.gh.requester.requestJsonAndCheck("DELETE", active.url)
    body = _error(refused, 422)
    assert body["message"] == "Validation Failed" and body["errors"][0]["code"] == "custom"

    # But an inactive one (no success yet, or set inactive) can
    p.gh.requester.requestJsonAndCheck("DELETE", pending.url)
    active.create_status("inactive")
    p.gh.requester.requestJsonAndCheck("DELETE", active.url)
    assert p.repo.get_deployments().totalCount == 0


def test_managed_project_follows_the_pipeline(github_project: Callable[..., GithubProject]) -> None:
    # Given a project deployd builds
    p = github_project(build_command=STATIC_BUILD, output_dir="dist")

    # When a deployment is created through the GitHub API
    deployment = p.repo.create_deployment("main", description="via github")

    # Then the pipeline posts queued, in_progress, success, with a build log and a live URL
    def states() -> list[str] | None:
        seen = [s.state for s in deployment.get_statuses()]
        return seen if seen and seen[0] in ("success", "failure", "error") else None

    assert wait_until(states, timeout=60, what="the pipeline's final status") == ["success", "in_progress", "queued"]
    success = deployment.get_statuses()[0]
    assert success.creator.login == "deployd[bot]"
    log = requests.get(success.log_url, headers={"Authorization": f"Bearer {p.api.token}"}, timeout=10)
    assert log.status_code == 200 and "build" in log.json()["data"]["build_logs"].lower()
    assert fetch(success.environment_url).text == "two"

    # And a caller may repeat the current state, or retire it with inactive, but nothing else
    repeat = deployment.create_status("success", description="smoke tests passed", target_url="https://ci.example/9")
    assert repeat.description == "smoke tests passed"
    with pytest.raises(GithubException) as refused:
        deployment.create_status("failure")
    error = _error(refused, 422)["errors"][0]
    assert error == {
        "resource": "DeploymentStatus",
        "field": "state",
        "code": "custom",
        "message": f"deployment {deployment.id} is built by deployd; its state follows the build (currently success)",
    }
    deployment.create_status("inactive")
    assert deployment.get_statuses()[0].state == "inactive"
    assert fetch(success.environment_url).text == "two"  # still production's active deployment: it keeps serving


def test_environments(github_project: Callable[..., GithubProject]) -> None:
    # Given a project with one deployment to production
    p = github_project()
    p.repo.create_deployment("main")

    # When environments are created through PUT (with and without settings)
    staging = p.repo.create_environment("staging")
    qa = p.repo.create_environment(
        "qa",
        wait_timer=30,
        deployment_branch_policy=github.EnvironmentDeploymentBranchPolicy.EnvironmentDeploymentBranchPolicyParams(
            protected_branches=True, custom_branch_policies=False
        ),
    )

    # Then they are listed with production, fetched by name, and show what was stored
    listed = p.repo.get_environments()
    assert listed.totalCount == 3
    assert {e.name for e in listed} == {"production", "staging", "qa"}
    assert p.repo.get_environment("staging").id == staging.id
    assert qa.deployment_branch_policy.protected_branches is True
    assert [r.type for r in qa.protection_rules] == ["wait_timer"]

    # And a deployment to staging uses that environment; PUT again keeps the id
    assert p.repo.create_environment("staging").id == staging.id

    # When deleted, it is gone
    p.repo.delete_environment("qa")
    with pytest.raises(GithubException) as gone:
        p.repo.get_environment("qa")
    _error(gone, 404)


def test_environment_with_a_build_in_progress_cannot_be_deleted(
    github_project: Callable[..., GithubProject], shared_dir: Any
) -> None:
    gate = shared_dir / "gate"
    from tests.e2e.conftest import gated_build

    p = github_project(build_command=gated_build(gate), output_dir="dist")
    deployment = p.repo.create_deployment("main", environment="staging")

    with pytest.raises(GithubException) as refused:
        p.repo.delete_environment("staging")
    error = _error(refused, 422)["errors"][0]
    assert error["resource"] == "Environment" and error["code"] == "custom"
    assert str(deployment.id) in error["message"]

    gate.write_text("go")
    wait_until(lambda: deployment.get_statuses()[0].state == "success", timeout=60, what="the build to finish")
    p.repo.delete_environment("staging")


def test_rate_limit_headers_and_exhaustion(stack: RunningStack, github_project: Callable[..., GithubProject]) -> None:
    # Given an organization on the pro plan
    p = github_project()
    headers = {"Authorization": f"token {p.api.token}"}
    first = requests.get(p.repo.url, headers=headers, timeout=10)

    # Then every response carries the limit, errors too
    assert first.headers["x-ratelimit-resource"] == "core"
    assert int(first.headers["x-ratelimit-limit"]) == 5000  # org_api's default plan is pro
    used = int(first.headers["x-ratelimit-used"])
    second = requests.get(f"{p.repo.url}/deployments/999999", headers=headers, timeout=10)
    assert second.status_code == 404
    assert int(second.headers["x-ratelimit-used"]) == used + 1
    assert int(second.headers["x-ratelimit-remaining"]) == 5000 - used - 1
    anonymous = requests.get(p.repo.url, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["message"] == "Requires authentication"
    assert anonymous.headers["x-ratelimit-limit"] == "60"

    # When the window's counter is nearly spent (one atomic ADD on the counter item, as the API does)
    reset = int(second.headers["x-ratelimit-reset"])
    dynamodb = stack.aws_client("dynamodb")
    table = next(t for t in dynamodb.list_tables()["TableNames"] if t.endswith("-registry"))
    dynamodb.update_item(
        TableName=table,
        Key={"name": {"S": f"ratelimit#{p.api.org}#core#{reset - 3600}"}},
        UpdateExpression="ADD #v :n",
        ExpressionAttributeNames={"#v": "value"},
        ExpressionAttributeValues={":n": {"N": str(5000 - used - 2)}},
    )

    # Then the last allowed request gets remaining 0, and the next is refused with 403 and retry-after
    last = requests.get(p.repo.url, headers=headers, timeout=10)
    assert last.status_code == 200 and last.headers["x-ratelimit-remaining"] == "0"
    refused = requests.get(p.repo.url, headers=headers, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["message"].startswith("API rate limit exceeded")
    assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert refused.headers["x-ratelimit-remaining"] == "0"
