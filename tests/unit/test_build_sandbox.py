"""The local build sandbox (chalicelib.adapters.sandbox) through LocalBuildRunner: real shell builds, run as this
test suite runs them (as root here: a leased uid of their own; the fallback for a non-root deployd is forced)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters import sandbox
from chalicelib.adapters.runners import BuildResult, LocalBuildRunner
from chalicelib.settings import get_settings
from tests.support.polling import wait_until
from tests.support.processes import marked_sleep, processes_with


def _published(site_objects: Any, job: Any, name: str) -> str:
    return str(site_objects(job.artifact_prefix)[f"{job.artifact_prefix}{name}"].decode())


@pytest.fixture
def secret_holder() -> Iterator[str]:
    """A process whose environment holds a secret, as the stack's holds the admin token and its AWS key."""
    secret = f"adm_{uuid.uuid4().hex}"
    holder = subprocess.Popen(["sleep", "60"], env={"DEPLOYD_ADMIN_TOKEN": secret, "PATH": os.environ["PATH"]})
    yield secret
    holder.kill()
    holder.wait()


def test_a_build_sees_only_its_own_processes_and_no_other_environment(
    git_repo: Any, job_factory: Any, reporter_factory: Any, aws: Any, site_objects: Any, secret_holder: str
) -> None:
    # Given a build that reads every process's environment it can find and counts the processes it sees
    command = (
        "mkdir -p dist; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' > dist/environ.txt; "
        "ls -d /proc/[0-9]* | wc -l > dist/processes.txt; id -u > dist/uid.txt"
    )
    job = job_factory(git_repo(), build_command=command, output_dir="dist")

    # When the runner builds it
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then the build ran as one of the build uids, saw a handful of processes (its own), and no secret
    assert result.outcome == "succeeded", result.message
    assert int(_published(site_objects, job, "uid.txt")) in sandbox.BUILD_UIDS
    assert int(_published(site_objects, job, "processes.txt")) < 10
    assert secret_holder not in _published(site_objects, job, "environ.txt")


def test_two_builds_at_once_have_distinct_uids_and_neither_enters_the_others_workspace(
    git_repo: Any, job_factory: Any, reporter_factory: Any, aws: Any, site_objects: Any, shared_dir: Path
) -> None:
    # Given a build whose checkout holds a secret, held running until the test lets it go
    started, gate = shared_dir / "started", shared_dir / "gate"
    victim = job_factory(
        git_repo({"secret.txt": "deploy key of A"}),
        build_command=f"touch {started}; while [ ! -f {gate} ]; do sleep 0.05; done; mkdir -p dist; id -u > dist/uid",
        output_dir="dist",
    )
    results: list[BuildResult] = []
    victim_build = threading.Thread(target=lambda: results.append(LocalBuildRunner().run(victim, reporter_factory())))
    victim_build.start()
    wait_until(started.exists, timeout=10, interval=0.05, what="the first build to start")
    workspaces = Path(get_settings().build_workspace_root or tempfile.gettempdir())
    (workspace,) = workspaces.glob(f"deployd-build-{victim.deployment_id}-*")
    # And a second build that tries to read that checkout, by its exact path, while it runs
    attacker = job_factory(
        git_repo(),
        build_command=f"mkdir -p dist; id -u > dist/uid; cat {workspace}/src/secret.txt > dist/stolen.txt 2>&1; true",
        output_dir="dist",
    )

    # When the second build runs
    stolen = LocalBuildRunner().run(attacker, reporter_factory())
    gate.touch()
    victim_build.join(timeout=30)

    # Then both succeeded under different uids, and the second read nothing of the first's checkout
    assert stolen.outcome == "succeeded", stolen.message
    assert results and results[0].outcome == "succeeded", results
    assert _published(site_objects, victim, "uid") != _published(site_objects, attacker, "uid")
    assert "Permission denied" in _published(site_objects, attacker, "stolen.txt")
    assert "deploy key of A" not in _published(site_objects, attacker, "stolen.txt")


def test_files_a_build_leaves_in_shared_temporary_directories_go_with_it(
    git_repo: Any, job_factory: Any, reporter_factory: Any, aws: Any
) -> None:
    # Given a build that leaves a file in /tmp and one in /dev/shm, outside its workspace
    marker = uuid.uuid4().hex
    leftovers = [Path(f"/tmp/left-{marker}"), Path(f"/dev/shm/left-{marker}")]
    command = " ".join(f"echo for-the-next-build > {path};" for path in leftovers)
    job = job_factory(git_repo(), build_command=command)

    # When it has run
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then neither file is there for the next build that gets its uid
    assert result.outcome == "succeeded", result.message
    assert [path for path in leftovers if path.exists()] == []


def test_stopping_every_running_build_ends_their_processes(
    git_repo: Any, job_factory: Any, reporter_factory: Any, aws: Any
) -> None:
    # Given a running build with a detached and an orphaned process (what the stack stops on SIGTERM)
    detached, orphan = f"setsid-{uuid.uuid4().hex}", f"orphan-{uuid.uuid4().hex}"
    job = job_factory(
        git_repo(), build_command=f"setsid {marked_sleep(detached)} & ( {marked_sleep(orphan)} & ); sleep 300"
    )
    results: list[BuildResult] = []
    build = threading.Thread(target=lambda: results.append(LocalBuildRunner().run(job, reporter_factory())))
    build.start()
    wait_until(
        lambda: processes_with(detached) and processes_with(orphan),
        timeout=10,
        interval=0.05,
        what="the detached and the orphaned process to run",
    )

    # When every running build is stopped
    stopped = sandbox.running_builds.kill_all()

    # Then the build returned and none of its processes runs
    build.join(timeout=10)
    assert stopped >= 1  # this one, and any other build this process runs (the integration suite's stack)
    assert results and results[0].outcome == "failed"
    assert processes_with(detached) == [] and processes_with(orphan) == []


def test_a_build_still_gets_its_own_pid_namespace_when_deployd_is_not_root(
    git_repo: Any,
    job_factory: Any,
    reporter_factory: Any,
    aws: Any,
    site_objects: Any,
    secret_holder: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the fallback a deployd that is not root uses: a user namespace, no uid of its own
    fallback = sandbox.Isolation(namespaces=True, own_uid=False)
    monkeypatch.setattr(sandbox, "isolation", lambda: fallback)
    detached = f"setsid-{uuid.uuid4().hex}"
    command = (
        f"setsid {marked_sleep(detached)} & mkdir -p dist; "
        "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' > dist/environ.txt; "
        "ls -d /proc/[0-9]* | wc -l > dist/processes.txt"
    )
    job = job_factory(git_repo(), build_command=command, output_dir="dist")

    # When the runner builds it
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then the build saw only its own processes, and left none behind
    assert result.outcome == "succeeded", result.message
    assert int(_published(site_objects, job, "processes.txt")) < 10
    assert secret_holder not in _published(site_objects, job, "environ.txt")
    wait_until(lambda: processes_with(detached) == [], timeout=5, interval=0.05, what="the detached process to end")
    # And the stack says at start-up that builds run as its own user
    assert fallback.warning and "builds run as the stack's own user" in fallback.warning


def test_start_up_removes_only_the_build_directories_of_stacks_that_are_gone(tmp_path: Path) -> None:
    # Given this process's stack directory, a directory whose owner has exited, and one with no owner recorded
    mine = sandbox.claim_stack_directory(tmp_path)
    (mine / "deployd-build-1-abc").mkdir()
    exited = subprocess.Popen(["true"])
    exited.wait()
    dead = tmp_path / "deployd-stack-dead"
    (dead / "deployd-build-2-def").mkdir(parents=True)
    (dead / "owner").write_text(f"{exited.pid} 12345\n")
    unknown = tmp_path / "deployd-stack-unknown"
    unknown.mkdir()

    # When stale directories are removed
    removed = sandbox.remove_stale_stack_directories(tmp_path)

    # Then only the dead owner's directory went, with its workspace
    assert removed == [dead]
    assert not dead.exists()
    assert (mine / "deployd-build-1-abc").is_dir()
    assert unknown.is_dir()


def test_where_namespaces_are_refused_a_root_deployd_still_runs_builds_as_their_own_uid(
    git_repo: Any,
    job_factory: Any,
    reporter_factory: Any,
    aws: Any,
    site_objects: Any,
    secret_holder: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the fallback of a root deployd in a container that refuses namespaces: a leased uid, no namespaces
    fallback = sandbox.Isolation(namespaces=False, own_uid=True)
    monkeypatch.setattr(sandbox, "isolation", lambda: fallback)
    command = "mkdir -p dist; id -u > dist/uid; cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n' > dist/environ"
    job = job_factory(git_repo(), build_command=command, output_dir="dist")

    # When the runner builds it
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then it ran as a build uid, which may not read another user's process environment
    assert result.outcome == "succeeded", result.message
    assert int(_published(site_objects, job, "uid")) in sandbox.BUILD_UIDS
    assert secret_holder not in _published(site_objects, job, "environ")
    # And the stack says at start-up what is missing
    assert fallback.warning and "namespaces cannot be created here" in fallback.warning


def test_a_build_cannot_publish_a_file_of_the_machine_through_a_hard_link(
    git_repo: Any, job_factory: Any, reporter_factory: Any, aws: Any, site_objects: Any
) -> None:
    # Given a build that hard-links the machine's account files into its output (fs.protected_hardlinks is on)
    command = "mkdir -p dist; echo page > dist/index.html; ln /etc/passwd dist/passwd; ln /etc/shadow dist/shadow; true"
    job = job_factory(git_repo(), build_command=command, output_dir="dist")

    # When it is built and published
    result = LocalBuildRunner().run(job, reporter_factory())

    # Then only the build's own page is published: its uid may link neither file
    assert result.outcome == "succeeded", result.message
    assert set(site_objects(job.artifact_prefix)) == {f"{job.artifact_prefix}index.html"}
