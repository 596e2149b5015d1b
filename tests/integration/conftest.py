"""Integration tests run against an in-process embedded stack: moto's server as AWS, the real pipeline
(state machine, SQS worker threads calling the Lambda handlers), and the Chalice API on loopback.
Tests call services directly or speak HTTP to it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.local.stack import EmbeddedStack, StackConfig, free_port
from tests.support.git import GitRepo
from tests.support.polling import wait_until


@pytest.fixture(scope="session")
def stack() -> Iterator[EmbeddedStack]:
    embedded = EmbeddedStack(
        StackConfig(
            api_port=free_port(),
            sites_port=free_port(),
            admin_token="test-admin-token",
            build_workers=2,
            extra_env={"DEPLOYD_HEARTBEAT_INTERVAL_SECONDS": "0.5"},
        )
    )
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture
def org_factory(stack: EmbeddedStack) -> Callable[..., Any]:
    """Creates an organization (unique slug) and returns it; services are called directly."""
    from chalicelib.services import organizations

    def make(plan: str = "pro") -> Any:
        return organizations.create(f"org-{uuid.uuid4().hex[:8]}", None, plan)

    return make


@pytest.fixture
def api_key(org_factory: Callable[..., Any]) -> tuple[str, dict[str, str]]:
    """An organization and a Bearer header for one of its keys."""
    from chalicelib.services import organizations

    org = org_factory()
    return org.slug, {"Authorization": f"Bearer {organizations.create_key(org.slug, 'ci', None).token}"}


@pytest.fixture
def repo_factory(tmp_path: Path) -> Callable[..., GitRepo]:
    """A git repository on branch main with one commit of an index.html."""

    def make(name: str = "repo", files: dict[str, str] | None = None) -> GitRepo:
        return GitRepo.create(tmp_path / name, files or {"index.html": "<h1>hello</h1>\n"}, "first page")

    return make


@dataclass
class Gates:
    """Build commands that wait for the test: each deployment's build blocks until its gate is opened.

    The command touches `started-<id>` once running, and builds `dist/index.html` naming its deployment.
    """

    directory: Path

    @property
    def command(self) -> str:
        d = self.directory
        return (
            f'touch {d}/started-$DEPLOYD_DEPLOYMENT_ID; echo "build $DEPLOYD_DEPLOYMENT_ID started"; '
            f"while [ ! -f {d}/gate-$DEPLOYD_DEPLOYMENT_ID ] && [ ! -f {d}/all ]; do sleep 0.05; done; "
            'mkdir -p dist; echo "deployment $DEPLOYD_DEPLOYMENT_ID" > dist/index.html'
        )

    def started(self, deployment_id: int) -> bool:
        return (self.directory / f"started-{deployment_id}").exists()

    def open(self, deployment_id: int) -> None:
        (self.directory / f"gate-{deployment_id}").touch()

    def open_all(self) -> None:
        (self.directory / "all").touch()


@pytest.fixture
def gates(shared_dir: Path) -> Iterator[Gates]:
    g = Gates(shared_dir)  # builds create their started-<id> files here
    yield g
    g.open_all()  # a failed test must not leave builds holding the stack's two build workers


@pytest.fixture
def project_factory(stack: EmbeddedStack) -> Callable[..., Any]:
    """Registers a project through the service. The default build command publishes the repository as is."""
    from chalicelib.services import projects
    from chalicelib.services.inputs import ProjectCreate

    def make(org_slug: str, repo: GitRepo, **fields: Any) -> Any:
        fields.setdefault("name", f"site-{uuid.uuid4().hex[:6]}")
        fields.setdefault("build_timeout_seconds", 60)
        fields.setdefault("build_command", "true")
        return projects.create(org_slug, ProjectCreate(repo_url=repo.url, **fields))

    return make


class Pipeline:
    """What a user can observe of deployments: their records, the state machine, and the site server."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.stack = stack

    def deployment(self, deployment_id: int) -> Any:
        from chalicelib.models.deployment import DeploymentRepository

        return DeploymentRepository.get(deployment_id)

    def wait_for_status(self, deployment_id: int, *statuses: str, timeout: float = 30.0) -> Any:
        def reached() -> Any:
            d = self.deployment(deployment_id)
            return d if d.status in statuses else None

        return wait_until(reached, timeout, what=f"deployment {deployment_id} to become {'/'.join(statuses)}")

    def wait_terminal(self, deployment_id: int, timeout: float = 30.0) -> Any:
        return self.wait_for_status(deployment_id, "deployed", "failed", "cancelled", timeout=timeout)

    def execution(self, deployment_id: int) -> dict[str, Any]:
        from chalicelib.aws import client

        arn = self.deployment(deployment_id).execution_arn
        assert arn and arn.endswith(f":deployment-{deployment_id}")
        return dict(client("stepfunctions").describe_execution(executionArn=arn))

    def wait_execution_end(self, deployment_id: int, timeout: float = 30.0) -> str:
        def ended() -> str:
            status = str(self.execution(deployment_id)["status"])
            return "" if status == "RUNNING" else status

        return wait_until(ended, timeout, what=f"the execution of deployment {deployment_id} to end")

    def wait_builds_drained(self, timeout: float = 30.0) -> None:
        """Wait until no build message is waiting or being handled: every worker has seen every build."""
        from chalicelib.aws import client, queue_url
        from chalicelib.infra.resources import BUILD_QUEUE

        url = queue_url(BUILD_QUEUE.logical)

        def drained() -> bool:
            attributes = client("sqs").get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
            )["Attributes"]
            return all(int(v) == 0 for v in attributes.values())

        wait_until(drained, timeout, what="the build queue to drain")

    def deploy(self, org_slug: str, project_id: int, timeout: float = 30.0) -> Any:
        """Trigger a deployment of the default branch and wait until it is live."""
        from chalicelib.services import deployments

        view = deployments.trigger(org_slug, project_id, None, "integration-test")
        done = self.wait_terminal(int(view.deployment.id), timeout)
        assert done.status == "deployed", f"deployment {done.id} ended {done.status}: {done.error_message}"
        return done

    def served(self, url: str) -> tuple[int, int | None, str]:
        """What the site server answers at `url`: status, the deployment it served, and the body."""
        response = requests.get(url, timeout=10)
        header = response.headers.get("X-Deployd-Deployment-Id")
        return response.status_code, int(header) if header else None, response.text


@pytest.fixture
def pipeline(stack: EmbeddedStack) -> Pipeline:
    return Pipeline(stack)


@pytest.fixture
def ledger(stack: EmbeddedStack) -> Callable[..., Any]:
    """Records a deployment row the way `deployments.trigger` does, without starting its pipeline.

    The project's sequence and count and the environment's in-flight set move with it, so the ledger stays
    consistent; a non-terminal row is in flight, a terminal one is not.
    """
    from chalicelib.models.attributes import utc_now
    from chalicelib.models.base import transaction
    from chalicelib.models.deployment import Deployment
    from chalicelib.models.environment import PRODUCTION, Environment
    from chalicelib.models.project import Project
    from chalicelib.models.registry import next_id
    from chalicelib.vocabulary import NON_TERMINAL

    def record(project: Any, status: str = "queued") -> Deployment:
        holder = Project(id=project.id)
        holder.update(actions=[Project.deployment_seq.add(1)], condition=Project.id.exists())
        deployment = Deployment(
            id=next_id("deployment"),
            project_id=project.id,
            seq=int(holder.deployment_seq),
            org_slug=project.org_slug,
            environment=PRODUCTION,
            branch=project.default_branch,
            commit_sha=uuid.uuid4().hex + uuid.uuid4().hex[:8],
            commit_message=f"change {int(holder.deployment_seq)}",
            commit_author="Ann",
            status=status,
            triggered_by="integration-test",
        )
        env_actions: list[Any] = [Environment.updated_at.set(utc_now())]
        if status in NON_TERMINAL:
            env_actions.append(Environment.in_flight.add({int(deployment.id)}))
        with transaction() as tx:
            tx.save(deployment, condition=Deployment.id.does_not_exist())
            tx.update(Environment(project_id=project.id, name=PRODUCTION), actions=env_actions)
            tx.update(Project(id=project.id), actions=[Project.deployment_count.add(1)])
        return deployment

    return record


def burst(url: str, clients: int = 50) -> list[int | str]:
    """`clients` GETs of `url` started at the same instant, each on its own connection; their statuses (or the
    exception a client got). The connect timeout is under Linux's first SYN retransmission (1 s), so a
    connection the server's listen queue had no room for fails it instead of quietly arriving late."""
    ready = threading.Barrier(clients)

    def fetch(_: int) -> int | str:
        ready.wait()
        try:
            return requests.get(url, timeout=(0.9, 30)).status_code
        except requests.RequestException as exc:
            return type(exc).__name__

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(fetch, range(clients)))


@pytest.fixture(name="burst")
def burst_fixture() -> Callable[..., list[int | str]]:
    return burst
