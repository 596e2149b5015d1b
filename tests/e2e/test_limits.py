"""Network time limits, output and log limits, and the private-address guard, on embedded stacks started with small
limits: real HTTP, real git repositories, real build commands, and git servers on loopback that never answer."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import RunningStack, create_org, fetch, gated_build, start_stack, stop_stack
from tests.support.git import GitRepo

GIT_TIMEOUT = 2
CLONE_TIMEOUT = 15


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(
        tmp_path_factory.mktemp("limited-stack"),
        DEPLOYD_GIT_TIMEOUT_SECONDS=str(GIT_TIMEOUT),
        DEPLOYD_CLONE_TIMEOUT_SECONDS=str(CLONE_TIMEOUT),
        DEPLOYD_MAX_OUTPUT_BYTES="10000",
        DEPLOYD_MAX_OUTPUT_FILES="50",
        DEPLOYD_MAX_BUILD_LOG_BYTES="4096",
    )
    yield running
    stop_stack(running)


@pytest.fixture(scope="module")
def guarded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack configured as on AWS: private addresses are not allowed."""
    running = start_stack(tmp_path_factory.mktemp("guarded-stack"), DEPLOYD_ALLOW_PRIVATE_ADDRESSES="false")
    yield running
    stop_stack(running)


@pytest.mark.parametrize("scheme", ["git", "http"])
def test_a_trigger_against_a_server_that_never_answers_fails_in_every_dialect_within_the_time_limit(
    limited_stack: RunningStack, silent_server: Callable[[str], str], scheme: str
) -> None:
    # Given a project whose repository server accepts connections and never answers
    api = create_org(limited_stack)
    url = silent_server(scheme)
    project = api.create_project(url)

    # When a deployment is triggered through each dialect
    started = time.monotonic()
    native = api.post(f"/projects/{project['id']}/deployments", json={})
    github = api.github("POST", f"/repos/{api.org}/{project['slug']}/deployments", json={"ref": "main"})
    gitlab = api.gitlab(
        "POST",
        f"/projects/{project['id']}/deployments",
        json={"ref": "main", "sha": "a" * 40, "tag": False, "status": "created", "environment": "production"},
    )
    elapsed = time.monotonic() - started

    # Then each answers its own error format after about the time limit each, not never
    assert elapsed < 3 * GIT_TIMEOUT + 6, elapsed
    assert native.status_code == 422, native.text
    assert native.json()["error"]["message"] == f"repository {url} did not answer within {GIT_TIMEOUT} seconds"
    assert github.status_code == 422, github.text
    assert github.json()["message"] == "Validation Failed"
    assert gitlab.status_code == 400, gitlab.text
    assert gitlab.json() == {"message": f"repository {url} did not answer within {GIT_TIMEOUT} seconds"}
    # And nothing was recorded
    assert api.get(f"/projects/{project['id']}/deployments").json()["data"] == []


def test_a_clone_that_hangs_fails_its_build_while_another_organization_deploys(
    limited_stack: RunningStack,
    silent_server: Callable[[str], str],
    git_repo: Callable[..., GitRepo],
    shared_dir: Path,
) -> None:
    # Given a free organization (one build slot) whose first build holds the slot, and a second one queued
    stuck = create_org(limited_stack, plan="free")
    repo = git_repo("stuck")
    repo.commit({"index.html": "stuck"}, "v1")
    gate = shared_dir / "gate"
    project = stuck.create_project(repo.path, build_command=gated_build(gate), output_dir="dist")
    first = stuck.trigger(project["id"])["id"]
    stuck.wait_for_status(project["id"], first, "building")
    second = stuck.trigger(project["id"])["id"]
    # And, before the second build clones, its repository moves to a server that never answers
    moved = stuck.request("PATCH", f"/projects/{project['id']}", json={"repo_url": silent_server("git")})
    assert moved.status_code == 200, moved.text
    gate.touch()
    stuck.wait_for_status(project["id"], first, "deployed")
    stuck.wait_for_status(project["id"], second, "cloning")
    clone_started = time.monotonic()

    # When another organization deploys while that clone hangs
    other = create_org(limited_stack, plan="free")
    other_repo = git_repo("other")
    other_repo.commit({"index.html": "other organization"}, "v1")
    other_project = other.create_project(other_repo.path, build_command="mkdir -p dist && cp index.html dist/")
    mine = other.trigger(other_project["id"])

    # Then the other organization's deployment goes live while the stuck clone is still cloning
    deployed = other.wait_for_status(other_project["id"], mine["id"], "deployed", timeout=CLONE_TIMEOUT + 30)
    assert fetch(deployed["deployment_url"]).text == "other organization"
    assert stuck.deployment(project["id"], second)["status"] == "cloning"

    # And the stuck build fails at the clone's time limit, with a message naming it
    failed = stuck.wait_for_status(project["id"], second, "failed", timeout=CLONE_TIMEOUT + 30)
    assert time.monotonic() - clone_started < CLONE_TIMEOUT + 15
    assert failed["error_message"] == (
        f"cloning the repository exceeded its time limit of {CLONE_TIMEOUT} seconds (DEPLOYD_CLONE_TIMEOUT_SECONDS)"
    )
    # And its slot is free again: the organization's next deployment builds
    stuck.request("PATCH", f"/projects/{project['id']}", json={"repo_url": str(repo.path)})
    third = stuck.trigger(project["id"])["id"]
    stuck.wait_for_status(project["id"], third, "deployed")


def test_a_build_whose_output_is_over_the_size_limit_fails_and_publishes_nothing(
    limited_stack: RunningStack, git_repo: Callable[..., GitRepo]
) -> None:
    # Given a stack limiting outputs to 10000 bytes, and a build that writes 30000
    api = create_org(limited_stack)
    repo = git_repo()
    repo.commit({"index.html": "big"}, "v1")
    build = "mkdir -p dist && cp index.html dist/ && head -c 30000 /dev/zero > dist/big.bin"
    project = api.create_project(repo.path, build_command=build, output_dir="dist")

    # When it is deployed
    deployment = api.trigger(project["id"])
    failed = api.wait_for_status(project["id"], deployment["id"], "failed")

    # Then it fails saying how big the output is and what the limit is, the log ends with it, nothing is served
    expected = "build output is 30003 bytes; the limit is 10000 bytes (DEPLOYD_MAX_OUTPUT_BYTES)"
    assert failed["error_message"] == expected
    assert api.logs(project["id"], deployment["id"]).endswith(f"==> Failed: {expected}\n")
    assert "Status: uploading" not in api.logs(project["id"], deployment["id"])


def test_a_build_log_over_its_limit_keeps_its_tail_after_a_truncation_note(
    limited_stack: RunningStack, git_repo: Callable[..., GitRepo]
) -> None:
    # Given a stack limiting build logs to 4096 bytes, and a build that prints 2000 numbered lines
    api = create_org(limited_stack)
    repo = git_repo()
    repo.commit({"index.html": "chatty"}, "v1")
    build = "for n in $(seq 1 2000); do echo line-$n; done; mkdir -p dist && cp index.html dist/"
    project = api.create_project(repo.path, build_command=build, output_dir="dist")

    # When it is deployed
    deployment = api.trigger(project["id"])
    api.wait_for_status(project["id"], deployment["id"], "deployed")

    # Then its log starts with the note, keeps the newest output, and stays within the limit
    log = api.logs(project["id"], deployment["id"])
    note, _, kept = log.partition("(limit DEPLOYD_MAX_BUILD_LOG_BYTES)]\n")
    assert note.startswith("[log truncated: its first ")
    assert "line-2000\n" in kept and "line-1\n" not in kept, log
    assert len(kept.encode()) <= 4096


@pytest.mark.parametrize(
    "repo_url",
    ["http://127.0.0.1:9/site.git", "http://2130706433/site.git", "git://localhost/site.git", "http://[::1]/x.git"],
)
def test_a_project_on_a_private_address_is_refused_where_the_platform_does_not_allow_them(
    guarded_stack: RunningStack, repo_url: str, git_repo: Callable[..., GitRepo]
) -> None:
    # Given a platform configured as on AWS
    api = create_org(guarded_stack)

    # When a project is created with a repository on a loopback address
    created = api.post("/projects", json={"name": "probe", "repo_url": repo_url})

    # Then it is refused in the native error format, pointing at repo_url
    assert created.status_code == 400, created.text
    error: dict[str, Any] = created.json()["error"]
    assert error["field"] == "repo_url"
    assert "must point at a public address" in error["message"]

    # And an existing project cannot be moved there either
    repo = git_repo(f"repo-{uuid.uuid4().hex[:6]}")
    repo.commit({"index.html": "x"}, "v1")
    project = api.create_project(repo.path)
    moved = api.request("PATCH", f"/projects/{project['id']}", json={"repo_url": repo_url})
    assert moved.status_code == 400, moved.text
    assert moved.json()["error"]["field"] == "repo_url"
