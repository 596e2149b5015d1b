"""LocalBuildRunner against real git repositories, real shell build commands and moto's in-process S3."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.runners import BuildResult, LocalBuildRunner

BuildRun = Callable[..., BuildResult]


@pytest.fixture
def run_build(aws: Any) -> BuildRun:
    """Runs a job through a fresh LocalBuildRunner with moto standing in for S3."""

    def run(job: Any, reporter: Any) -> BuildResult:
        return LocalBuildRunner().run(job, reporter)

    return run


def test_a_successful_build_uploads_its_output_under_the_deployments_prefix(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, site_objects: Any
) -> None:
    # Given a repository whose build command writes dist/index.html and prints a line
    repo = git_repo({"src/page.txt": "<h1>hello from the source</h1>\n"})
    job = job_factory(
        repo,
        build_command="mkdir -p dist && cp src/page.txt dist/index.html && echo compiled-$((6 * 7))",
        output_dir="dist",
    )
    reporter = reporter_factory()

    # When the runner builds it
    result = run_build(job, reporter)

    # Then the build succeeded, moved through building then uploading, and showed the command's output
    assert result.outcome == "succeeded", result.message
    assert result.files_uploaded == 1
    assert reporter.stages == ["building", "uploading"]
    assert "compiled-42\n" in reporter.text
    # And the built page is in S3 under the job's artifact prefix, with its content
    assert site_objects(job.artifact_prefix) == {
        f"{job.artifact_prefix}index.html": b"<h1>hello from the source</h1>\n"
    }


def test_a_build_that_exits_non_zero_fails_with_its_status_and_uploads_nothing(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, site_objects: Any
) -> None:
    # Given a build command that prints "boom" and exits with status 3
    job = job_factory(git_repo(), build_command='echo "bo""om"; exit 3')
    reporter = reporter_factory()

    # When the runner builds it
    result = run_build(job, reporter)

    # Then the build failed, says why, and the user sees the command's output
    assert result.outcome == "failed"
    assert result.message is not None and "status 3" in result.message
    assert "boom\n" in reporter.text
    # And it never reached the upload stage
    assert "uploading" not in reporter.stages
    assert site_objects(job.artifact_prefix) == {}


def test_a_commit_that_cannot_be_checked_out_fails_the_build(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun
) -> None:
    # Given a job for a commit the repository does not have
    job = job_factory(git_repo(), commit_sha="0" * 40, build_command="echo should-not-run")
    reporter = reporter_factory()

    # When the runner builds it
    result = run_build(job, reporter)

    # Then it fails at checkout, naming the commit, and never runs the build command
    assert result.outcome == "failed"
    assert result.message is not None and "0" * 40 in result.message
    assert reporter.stages == []
    assert "Running build command" not in reporter.text


def test_a_build_over_its_time_limit_is_stopped_with_every_process_it_started(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, processes: Any
) -> None:
    # Given a one-second limit and a build whose shell starts a 30 s background child, then waits for it
    shell = processes.shell("shell")
    child = processes.background_sleep("child")
    job = job_factory(git_repo(), build_command=f"{shell}{child} & wait", timeout_seconds=1)
    reporter = reporter_factory()

    # When the runner builds it
    started = time.monotonic()
    result = run_build(job, reporter)
    elapsed = time.monotonic() - started

    # Then it ends as timed out soon after the limit, telling the user why
    assert result.outcome == "timed_out"
    assert elapsed < 8, f"the build ran {elapsed:.1f}s under a 1 s limit"
    assert result.message is not None and "time limit" in result.message
    assert "time limit" in reporter.text
    # And neither the shell nor its background child is still running
    assert processes.wait_until_gone(processes.markers[0])
    assert processes.wait_until_gone(processes.markers[1])


def test_cancelling_a_running_build_stops_it_and_every_process_it_started(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, processes: Any, site_objects: Any
) -> None:
    # Given a long build that the user cancels as soon as its background child runs
    shell = processes.shell("shell")
    child = processes.background_sleep("child")
    job = job_factory(git_repo(), build_command=f"{shell}{child} & wait", timeout_seconds=60)
    shell_marker, child_marker = processes.markers
    reporter = reporter_factory(stop_when=lambda r: processes.running(child_marker))

    # When the runner builds it
    started = time.monotonic()
    result = run_build(job, reporter)

    # Then it ends as cancelled promptly, uploads nothing, and leaves no process behind
    assert result.outcome == "cancelled"
    assert time.monotonic() - started < 8
    assert "uploading" not in reporter.stages
    assert site_objects(job.artifact_prefix) == {}
    assert processes.wait_until_gone(shell_marker)
    assert processes.wait_until_gone(child_marker)


def test_a_deployment_cancelled_before_its_build_never_runs_the_build_command(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, shared_dir: Path
) -> None:
    # Given a deployment that was cancelled while it was being cloned
    marker = shared_dir / "ran"
    job = job_factory(git_repo(), build_command=f"echo $$ > {marker}")
    reporter = reporter_factory(refuse_stage="building")

    # When the runner picks it up
    result = run_build(job, reporter)

    # Then it is cancelled and the build command never ran
    assert result.outcome == "cancelled"
    assert not marker.exists()


def test_a_deployment_cancelled_after_its_build_uploads_nothing(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, site_objects: Any
) -> None:
    # Given a deployment that is cancelled while its build runs, noticed when the runner moves to uploading
    job = job_factory(git_repo({"index.html": "<p>hi</p>"}))
    reporter = reporter_factory(refuse_stage="uploading")

    # When the runner builds it
    result = run_build(job, reporter)

    # Then it is cancelled and nothing reaches the sites bucket
    assert result.outcome == "cancelled"
    assert site_objects(job.artifact_prefix) == {}


def test_the_build_environment_holds_no_platform_credentials(
    git_repo: Any,
    job_factory: Any,
    reporter_factory: Any,
    run_build: BuildRun,
    site_objects: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a worker whose own environment holds AWS credentials and the admin token
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-secret-key")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "worker-session-token")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWORKER")
    monkeypatch.setenv("DEPLOYD_ADMIN_TOKEN", "worker-admin-token")
    # And a build that publishes its whole environment
    job = job_factory(git_repo(), build_command="mkdir -p dist && env > dist/env.txt", output_dir="dist")

    # When the runner builds it
    result = run_build(job, reporter_factory())

    # Then the published environment names none of the worker's secrets
    assert result.outcome == "succeeded", result.message
    env_text = site_objects(job.artifact_prefix)[f"{job.artifact_prefix}env.txt"].decode()
    names = {line.split("=", 1)[0] for line in env_text.splitlines() if "=" in line}
    assert not {n for n in names if n.startswith("AWS_")}
    assert "DEPLOYD_ADMIN_TOKEN" not in names
    for secret in ("worker-secret-key", "worker-session-token", "AKIAWORKER", "worker-admin-token"):
        assert secret not in env_text
    # And it does see what it is building
    assert f"DEPLOYD_COMMIT_SHA={job.commit_sha}" in env_text.splitlines()


def test_a_build_can_ask_who_it_is_and_write_its_home(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, site_objects: Any
) -> None:
    # Given a build that asks for its user name, as pip, npm and ssh do, and writes below its home
    build = (
        "mkdir -p dist ~/.cache && python3 -c 'import getpass; print(getpass.getuser())' > ~/.cache/who "
        "&& cp ~/.cache/who dist/who.txt"
    )
    job = job_factory(git_repo(), build_command=build, output_dir="dist")

    # When the runner builds it (as a uid of its own, which has no account on the machine)
    result = run_build(job, reporter_factory())

    # Then it succeeds and knows itself by the build user's name
    assert result.outcome == "succeeded", result.message
    assert site_objects(job.artifact_prefix)[f"{job.artifact_prefix}who.txt"].decode().strip() == "deployd-build"


def test_a_missing_output_directory_fails_the_build_naming_the_directory(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, site_objects: Any
) -> None:
    # Given a build that succeeds but never creates its output directory
    job = job_factory(git_repo(), build_command="echo built", output_dir="public")

    # When the runner builds it
    result = run_build(job, reporter_factory())

    # Then the build fails naming the directory, and nothing is published
    assert result.outcome == "failed"
    assert result.message is not None and "'public'" in result.message
    assert site_objects(job.artifact_prefix) == {}


@pytest.mark.parametrize(
    "build_command, output_dir",
    [
        pytest.param("mkdir -p ../x && echo outside > ../x/index.html", "../x", id="parent-path"),
        pytest.param("mkdir -p ../x && echo outside > ../x/index.html && ln -s ../x dist", "dist", id="symlink"),
    ],
)
def test_an_output_directory_outside_the_checkout_fails_the_build(
    git_repo: Any,
    job_factory: Any,
    reporter_factory: Any,
    run_build: BuildRun,
    site_objects: Any,
    build_command: str,
    output_dir: str,
) -> None:
    # Given a build whose output directory exists but lies outside the checked-out repository
    job = job_factory(git_repo(), build_command=build_command, output_dir=output_dir)

    # When the runner builds it
    result = run_build(job, reporter_factory())

    # Then the build fails and nothing from outside the checkout is published
    assert result.outcome == "failed"
    assert result.message is not None and output_dir in result.message
    assert site_objects(job.artifact_prefix) == {}


def test_without_a_build_command_the_repository_files_are_published_as_they_are(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, site_objects: Any
) -> None:
    # Given a static site repository and no build command
    repo = git_repo({"index.html": "<h1>static</h1>", "css/site.css": "body{}", "docs/guide/index.html": "guide"})
    job = job_factory(repo, build_command=None, output_dir=".")
    reporter = reporter_factory()

    # When the runner builds it
    result = run_build(job, reporter)

    # Then exactly the repository's files are published, byte for byte, and nothing of .git
    assert result.outcome == "succeeded", result.message
    prefix = job.artifact_prefix
    assert site_objects(prefix) == {
        f"{prefix}index.html": b"<h1>static</h1>",
        f"{prefix}css/site.css": b"body{}",
        f"{prefix}docs/guide/index.html": b"guide",
    }
    assert result.files_uploaded == 3
    assert reporter.stages == ["building", "uploading"]


def test_published_files_carry_a_content_type_browsers_render(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, aws: Any
) -> None:
    # Given a static site with a page and a stylesheet
    job = job_factory(git_repo({"index.html": "<h1>x</h1>", "site.css": "body{}"}))

    # When it is built and published
    run_build(job, reporter_factory())

    # Then S3 serves each with its type
    from chalicelib.infra.resources import SITES_BUCKET
    from chalicelib.settings import get_settings

    bucket = get_settings().resource_name(SITES_BUCKET.logical)
    head = aws.head_object(Bucket=bucket, Key=f"{job.artifact_prefix}index.html")
    assert head["ContentType"].startswith("text/html")
    head = aws.head_object(Bucket=bucket, Key=f"{job.artifact_prefix}site.css")
    assert head["ContentType"].startswith("text/css")


def test_a_background_process_left_by_a_finished_build_is_stopped_with_it(
    git_repo: Any, job_factory: Any, reporter_factory: Any, run_build: BuildRun, processes: Any
) -> None:
    # Given a build that exits successfully but leaves a background process running (a dev server, a watcher)
    child = processes.background_sleep("child")
    job = job_factory(git_repo({"index.html": "<h1>x</h1>"}), build_command=f"{child} & echo built", timeout_seconds=2)
    results: list[BuildResult] = []
    runner = threading.Thread(target=lambda: results.append(run_build(job, reporter_factory())), daemon=True)

    # When the runner builds it
    runner.start()
    runner.join(timeout=6)
    finished_in_time = not runner.is_alive()
    child_gone = processes.wait_until_gone(processes.markers[0], within_seconds=1)
    processes.kill_survivors()  # lets a stuck runner return, whatever the outcome
    runner.join(timeout=10)

    # Then the build returned without overrunning its 2 s time limit, and the background process was stopped
    assert finished_in_time, "the build was still running after 6 s although its time limit is 2 s"
    assert child_gone, "a process the build started is still running after the build ended"
    assert results and results[0].outcome == "succeeded"
