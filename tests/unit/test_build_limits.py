"""What a local build may publish and how long its clone may take: LocalBuildRunner against real repositories, real
shell build commands, moto's in-process S3 and misbehaving git servers on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters import sites
from chalicelib.adapters.runners import LocalBuildRunner


@pytest.fixture
def limits(settings_env: Callable[..., None], aws: Any) -> Callable[..., None]:
    """Sets the build limits (after the AWS mock, so they hold for the whole test)."""

    def apply(**env: str) -> None:
        settings_env(DEPLOYD_ALLOW_PRIVATE_ADDRESSES="true", **env)

    return apply


def test_an_output_over_the_size_limit_fails_the_build_and_uploads_nothing(
    git_repo: Any, job_factory: Any, reporter_factory: Any, limits: Any, site_objects: Any
) -> None:
    # Given a 1000-byte limit on the output, and a build that writes 1500 bytes in three files
    limits(DEPLOYD_MAX_OUTPUT_BYTES="1000")
    build = "mkdir -p dist && for n in 1 2 3; do head -c 500 /dev/zero > dist/part-$n.bin; done"
    job = job_factory(git_repo(), build_command=build, output_dir="dist")
    reporter = reporter_factory()

    # When it is built
    result = LocalBuildRunner().run(job, reporter)

    # Then the deployment fails with the sizes and the setting, before any upload started
    assert result.outcome == "failed"
    assert result.message == "build output is 1500 bytes; the limit is 1000 bytes (DEPLOYD_MAX_OUTPUT_BYTES)"
    assert "uploading" not in reporter.stages
    assert site_objects(job.artifact_prefix) == {}


def test_an_output_over_the_file_count_limit_fails_the_build_and_uploads_nothing(
    git_repo: Any, job_factory: Any, reporter_factory: Any, limits: Any, site_objects: Any
) -> None:
    # Given a limit of 5 files, and a build that writes 8 (symbolic links and .git do not count)
    limits(DEPLOYD_MAX_OUTPUT_FILES="5")
    build = "mkdir -p dist && for n in 1 2 3 4 5 6 7 8; do echo $n > dist/$n.txt; done"
    job = job_factory(git_repo(), build_command=build, output_dir="dist")

    # When it is built
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then it fails naming the limit and its setting, and nothing is published
    assert result.outcome == "failed"
    assert result.message == "build output has more than 5 files; the limit is 5 files (DEPLOYD_MAX_OUTPUT_FILES)"
    assert site_objects(job.artifact_prefix) == {}


def test_an_output_at_the_limits_is_published_whole(
    git_repo: Any, job_factory: Any, reporter_factory: Any, limits: Any, site_objects: Any
) -> None:
    # Given limits of 3 files and 1500 bytes, and a build producing exactly that
    limits(DEPLOYD_MAX_OUTPUT_BYTES="1500", DEPLOYD_MAX_OUTPUT_FILES="3")
    build = "mkdir -p dist/a && for n in 1 2 3; do head -c 500 /dev/zero > dist/a/$n.bin; done"
    job = job_factory(git_repo(), build_command=build, output_dir="dist")

    # When it is built
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then every file is published
    assert (result.outcome, result.files_uploaded) == ("succeeded", 3)
    assert sorted(site_objects(job.artifact_prefix)) == [f"{job.artifact_prefix}a/{n}.bin" for n in (1, 2, 3)]


def test_a_hard_link_to_a_file_outside_the_workspace_is_never_published(
    git_repo: Any, job_factory: Any, reporter_factory: Any, limits: Any, site_objects: Any, shared_dir: Path
) -> None:
    # Given a secret outside the build's workspace, on the same file system, that the build's uid may link to
    # (the kernel's protected_hardlinks keeps it from linking files it could not write), and a build that does
    limits()
    secret = shared_dir / "passwd"
    secret.write_text("root:x:0:0:secret\n")
    secret.chmod(0o666)
    build = f"mkdir -p dist && echo page > dist/index.html && ln {secret} dist/passwd"
    job = job_factory(git_repo(), build_command=build, output_dir="dist")

    # When it is built
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then the deployment fails, naming the file, and nothing at all is published
    assert result.outcome == "failed", result.message
    assert result.message == (
        "build output file passwd is a hard link to a file outside the build's workspace; nothing was published"
    )
    assert site_objects(job.artifact_prefix) == {}


def test_hard_links_within_the_workspace_are_published(
    git_repo: Any, job_factory: Any, reporter_factory: Any, limits: Any, site_objects: Any
) -> None:
    # Given a build that hard-links files inside its own workspace (as pnpm's store does)
    limits()
    build = (
        "mkdir -p dist && echo shared > $HOME/store.txt && ln $HOME/store.txt dist/a.txt && ln dist/a.txt dist/b.txt"
    )
    job = job_factory(git_repo(), build_command=build, output_dir="dist")

    # When it is built
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then both names are published with the content
    assert result.outcome == "succeeded", result.message
    assert site_objects(job.artifact_prefix) == {
        f"{job.artifact_prefix}a.txt": b"shared\n",
        f"{job.artifact_prefix}b.txt": b"shared\n",
    }


def test_symbolic_links_in_the_output_are_never_followed(
    git_repo: Any, job_factory: Any, reporter_factory: Any, limits: Any, site_objects: Any
) -> None:
    # Given a build whose output holds symbolic links to a file and a directory outside it
    limits()
    build = "mkdir -p dist && echo page > dist/index.html && ln -s /etc/passwd dist/passwd && ln -s /etc dist/etc"
    job = job_factory(git_repo(), build_command=build, output_dir="dist")

    # When it is built
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then only the regular file is published
    assert result.outcome == "succeeded", result.message
    assert site_objects(job.artifact_prefix) == {f"{job.artifact_prefix}index.html": b"page\n"}


def test_a_file_swapped_for_a_symbolic_link_after_the_check_is_not_uploaded(tmp_path: Path, aws: Any) -> None:
    # Given an output checked while it held a regular file
    output = tmp_path / "dist"
    output.mkdir()
    (output / "index.html").write_text("page")
    files = sites.collect_output(output, tmp_path, max_bytes=10_000, max_files=10)

    # When the file becomes a symbolic link to a secret before the upload
    (output / "index.html").unlink()
    (output / "index.html").symlink_to("/etc/passwd")

    # Then the upload refuses it rather than following the link
    with pytest.raises(sites.OutputRefused) as refused:
        sites.upload_output(output, files, "deployments/1/")
    assert refused.value.message == "build output file index.html changed while it was being published"


def test_a_clone_from_a_silent_server_fails_at_the_clone_time_limit(
    job_factory: Any, git_repo: Any, reporter_factory: Any, limits: Any, silent_server: Callable[[str], str]
) -> None:
    # Given a clone limit of 2 seconds, a build limit of 30, and a repository server that never answers
    limits(DEPLOYD_CLONE_TIMEOUT_SECONDS="2")
    job = job_factory(git_repo(), repo_url=silent_server("git"), build_command="echo never")
    reporter = reporter_factory()

    # When it is built
    started = time.monotonic()
    result = LocalBuildRunner().run(job, reporter)

    # Then it fails at about two seconds, naming the clone's time limit; the build command never ran
    assert time.monotonic() - started < 6
    assert result.outcome == "failed"
    assert result.message == (
        "cloning the repository exceeded its time limit of 2 seconds (DEPLOYD_CLONE_TIMEOUT_SECONDS)"
    )
    assert reporter.stages == []


def test_the_builds_own_time_limit_covers_its_clone(
    job_factory: Any, git_repo: Any, reporter_factory: Any, limits: Any, silent_server: Callable[[str], str]
) -> None:
    # Given a build limit of 2 seconds, shorter than the clone's limit, and a silent repository server
    limits(DEPLOYD_CLONE_TIMEOUT_SECONDS="300")
    job = job_factory(git_repo(), repo_url=silent_server("git"), build_command="echo never", timeout_seconds=2)

    # When it is built
    started = time.monotonic()
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then the build's own time limit ends it while cloning
    assert time.monotonic() - started < 6
    assert result.outcome == "timed_out"
    assert result.message == "build exceeded its time limit of 2 seconds while cloning"


def test_time_spent_cloning_counts_against_the_build_time_limit(
    job_factory: Any, git_repo: Any, reporter_factory: Any, limits: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a build limit of 2 seconds, a clone that takes 1.5 of them, and a build command that needs 1.5
    limits()
    real_checkout = __import__("chalicelib.adapters.git", fromlist=["checkout"]).checkout

    def slow_checkout(*args: Any, **kwargs: Any) -> None:
        time.sleep(1.5)
        real_checkout(*args, **kwargs)

    monkeypatch.setattr("chalicelib.adapters.git.checkout", slow_checkout)
    job = job_factory(git_repo(), build_command="sleep 1.5", timeout_seconds=2)

    # When it is built
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then it runs out of time during the build command: the clone spent part of the limit
    assert result.outcome == "timed_out"
