"""Unit-test fixtures: an in-process moto AWS built from the resource catalogue, real git repositories
made with the git CLI, build jobs and a recording build reporter.

Nothing here starts a server. Every fixture that touches AWS forgets cached boto3 clients and PynamoDB
connections on the way in and on the way out, so no client bound to moto's in-process mock leaks into
other tests (the integration suite talks to a real moto server in the same pytest process).
"""

from __future__ import annotations

import itertools
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.runners import BuildJob
from chalicelib.aws import client
from chalicelib.infra.resources import CATALOGUE, SITES_BUCKET
from chalicelib.settings import get_settings
from tests.support.aws import MOCK_AWS_ENV, forget_aws_state
from tests.support.git import GitRepo
from tests.support.polling import poll
from tests.support.processes import marked_sleep, processes_with

# Distinct per process: pytest-xdist workers build at once in the same temporary directory, whose workspaces are
# named by deployment id.
_deployment_ids = itertools.count(1000 + (os.getpid() % 100_000) * 1000)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Sets environment variables and makes the next get_settings() read them; the cache is cleared again after."""

    def apply(**env: str | None) -> None:
        for name, value in env.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        get_settings.cache_clear()

    get_settings.cache_clear()
    yield apply
    # Runs before monkeypatch restores the environment: the next reader re-reads the restored values.
    get_settings.cache_clear()


@pytest.fixture
def aws(settings_env: Callable[..., None]) -> Iterator[Any]:
    """moto's in-process AWS holding the catalogue's buckets; yields the S3 client the code itself uses."""
    from moto import mock_aws

    settings_env(**MOCK_AWS_ENV)
    forget_aws_state()
    try:
        with mock_aws():
            s3 = client("s3")
            for bucket in CATALOGUE.buckets:
                s3.create_bucket(Bucket=get_settings().resource_name(bucket.logical))
            yield s3
    finally:
        forget_aws_state()


@pytest.fixture
def tables(aws: Any) -> None:
    """Adds the catalogue's DynamoDB tables to the mock, created exactly as the embedded stack creates them."""
    from chalicelib.local.provision import table_request

    dynamodb = client("dynamodb")
    for table in CATALOGUE.tables:
        dynamodb.create_table(**table_request(table, get_settings()))


@pytest.fixture
def site_objects(aws: Any) -> Callable[[str], dict[str, bytes]]:
    """Reads every object of the sites bucket under a prefix, key -> body."""

    def read(prefix: str) -> dict[str, bytes]:
        bucket = get_settings().resource_name(SITES_BUCKET.logical)
        listing = aws.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
        return {o["Key"]: aws.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}

    return read


@pytest.fixture
def git_repo(tmp_path: Path) -> Callable[..., GitRepo]:
    """Creates a real git repository (branch main) with one commit of `files`."""
    names = itertools.count()

    def make(files: dict[str, str] | None = None, message: str = "initial commit") -> GitRepo:
        initial = files if files is not None else {"README.md": "# site\n"}
        return GitRepo.create(tmp_path / f"repo-{next(names)}", initial, message)

    return make


@pytest.fixture
def job_factory() -> Callable[..., BuildJob]:
    """A build job for the head of a repository's main branch; keyword arguments override any field."""

    def make(repo: GitRepo, **overrides: Any) -> BuildJob:
        deployment_id = next(_deployment_ids)
        job = BuildJob(
            deployment_id=deployment_id,
            repo_url=str(repo.path),
            commit_sha=repo.head,
            branch="main",
            build_command=None,
            output_dir=".",
            timeout_seconds=30,
            artifact_prefix=f"deployments/{deployment_id}/",
        )
        return job._replace(**overrides)

    return make


@dataclass
class RecordingReporter:
    """A BuildReporter that records what the runner tells it and can refuse a stage or ask it to stop."""

    stop_when: Callable[[RecordingReporter], bool] = lambda reporter: False
    refuse_stage: str | None = None
    stages: list[str] = field(default_factory=list)
    chunks: list[str] = field(default_factory=list)

    def stage(self, status: str) -> bool:
        self.stages.append(status)
        return status != self.refuse_stage

    def output(self, text: str) -> None:
        self.chunks.append(text)

    def should_stop(self) -> bool:
        return self.stop_when(self)

    @property
    def text(self) -> str:
        return "".join(self.chunks)


@pytest.fixture
def reporter_factory() -> Callable[..., RecordingReporter]:
    def make(**kwargs: Any) -> RecordingReporter:
        return RecordingReporter(**kwargs)

    return make


@dataclass
class Processes:
    """Markers for processes a build command starts, and checks on whether such processes still run."""

    markers: list[str] = field(default_factory=list)

    def marker(self, name: str) -> str:
        marker = f"deployd-test-{uuid.uuid4().hex[:12]}-{name}"
        self.markers.append(marker)
        return marker

    def shell(self, name: str) -> str:
        """A build command prefix that puts a marker in the build shell's own arguments (its `-c` string)."""
        return f": {self.marker(name)}; "

    def background_sleep(self, name: str, seconds: int = 30) -> str:
        """A shell command that runs `sleep` under a marked shell (the marker is that shell's $0)."""
        return marked_sleep(self.marker(name), seconds)

    @staticmethod
    def running(marker: str) -> bool:
        return bool(processes_with(marker))

    def wait_until_gone(self, marker: str, within_seconds: float = 5.0) -> bool:
        return poll(lambda: not self.running(marker), within_seconds, interval=0.05)

    def wait_until_running(self, marker: str, within_seconds: float = 5.0) -> bool:
        return poll(lambda: self.running(marker), within_seconds, interval=0.05)

    def kill_survivors(self) -> None:
        for marker in self.markers:
            for pid in processes_with(marker):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Process markers; whatever still runs with one at teardown is SIGKILLed so no test leaks a process."""
    watcher = Processes()
    yield watcher
    watcher.kill_survivors()
