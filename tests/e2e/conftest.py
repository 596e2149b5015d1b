"""End-to-end tests: the embedded stack started as `make run` starts it (`python -m chalicelib.local`),
spoken to over real HTTP, building real git repositories with real build commands."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.local.stack import free_port
from tests.support import fake_slack as fake_slack_api
from tests.support.git import GitRepo
from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "e2e-admin-token"
SLACK_SIGNING_SECRET = "e2e-slack-signing-secret"


@dataclass
class RunningStack:
    api: str
    sites: str
    moto_port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    admin_token: str = ADMIN_TOKEN

    def aws_key(self) -> tuple[str, str]:
        """The local AWS endpoint's key, which only the stack holds: read where an operator reads it, in the
        walkthrough the stack prints once it is up."""

        def printed() -> tuple[str, str] | None:
            match = re.search(r"Local AWS .*key (\S+), secret (\S+)\)", self.log_path.read_text())
            return (match.group(1), match.group(2)) if match else None

        return tuple(wait_until(printed, timeout=30, what="the stack to print its AWS key"))  # type: ignore[return-value]

    def aws_client(self, service: str) -> Any:
        """A boto3 client of the stack's local AWS endpoint, signing with the stack's key."""
        import boto3

        key_id, secret = self.aws_key()
        return boto3.client(
            service,
            endpoint_url=f"http://127.0.0.1:{self.moto_port}",
            region_name="us-east-1",
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.admin_token}", **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.api}/api/v1/admin{path}", headers=headers, timeout=30, **kwargs)


def start_stack(tmp: Path, **env: str) -> RunningStack:
    """`make run` in a subprocess, on free ports unless `env` names them (PORT, DEPLOYD_SITES_PORT and
    DEPLOYD_MOTO_PORT)."""
    api_port = int(env.pop("PORT", 0)) or free_port()
    sites_port = int(env.pop("DEPLOYD_SITES_PORT", 0)) or free_port()
    moto_port = int(env.pop("DEPLOYD_MOTO_PORT", 0)) or free_port()
    log_path = tmp / f"stack-{api_port}-{uuid.uuid4().hex[:6]}.log"  # a restart on the same port keeps the first
    child_env = {
        **os.environ,
        "PORT": str(api_port),
        "DEPLOYD_SITES_PORT": str(sites_port),
        "DEPLOYD_MOTO_PORT": str(moto_port),
        "DEPLOYD_ADMIN_TOKEN": ADMIN_TOKEN,
        "DEPLOYD_HEARTBEAT_INTERVAL_SECONDS": "0.5",
        "PYTHONUNBUFFERED": "1",
        "DEPLOYD_DATA_DIR": "memory",  # a test about durability names a directory of its own
        **env,
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local"], cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT
        )
    stack = RunningStack(
        f"http://127.0.0.1:{api_port}",
        f"http://127.0.0.1:{sites_port}",
        moto_port,
        process,
        log_path,
        child_env["DEPLOYD_ADMIN_TOKEN"],
    )

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"embedded stack exited early:\n{log_path.read_text()[-4000:]}")
        try:
            return requests.get(f"{stack.api}/healthz", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(healthy, timeout=60, what="GET /healthz to return 200")
    return stack


def stop_stack(stack: RunningStack) -> None:
    stack.process.terminate()
    try:
        stack.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        stack.process.kill()
        stack.process.wait()


@pytest.fixture(scope="session")
def fake_slack() -> Iterator[fake_slack_api.FakeSlack]:
    """The session stack's Slack: a fake Web API on loopback (tests/support/fake_slack.py)."""
    with fake_slack_api.running() as fake:
        yield fake


def slack_env(fake: fake_slack_api.FakeSlack) -> dict[str, str]:
    return {
        "DEPLOYD_SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
        "DEPLOYD_SLACK_CLIENT_ID": fake.client_id,
        "DEPLOYD_SLACK_CLIENT_SECRET": fake.client_secret,
        "DEPLOYD_SLACK_API_URL": fake.api_url,
    }


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, fake_slack: fake_slack_api.FakeSlack) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stack"), **slack_env(fake_slack))
    yield running
    stop_stack(running)


class Api:
    """An organization's view of the native API: a requests session carrying its key."""

    def __init__(self, stack: RunningStack, org: str, token: str) -> None:
        self.stack = stack
        self.org = org
        self.token = token
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.stack.api}/api/v1/public{path}", timeout=30, **kwargs)

    def github(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The same organization through the GitHub dialect (`token` scheme, as GitHub clients send it)."""
        headers = {"Authorization": f"token {self.token}", "Accept": "application/vnd.github+json"}
        return requests.request(method, f"{self.stack.api}/api/v3{path}", headers=headers, timeout=30, **kwargs)

    def gitlab(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """The same organization through the GitLab dialect (PRIVATE-TOKEN, as python-gitlab sends it)."""
        headers = {"PRIVATE-TOKEN": self.token, **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.stack.api}/api/v4{path}", headers=headers, timeout=30, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def create_project(self, repo: Path | str, **fields: Any) -> dict[str, Any]:
        body = {"name": f"site {uuid.uuid4().hex[:6]}", "repo_url": str(repo), **fields}
        response = self.post("/projects", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json()["data"])

    def trigger(self, project_id: int, **body: Any) -> dict[str, Any]:
        response = self.post(f"/projects/{project_id}/deployments", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json()["data"])

    def deployment(self, project_id: int, deployment_id: int) -> dict[str, Any]:
        response = self.get(f"/projects/{project_id}/deployments/{deployment_id}")
        assert response.status_code == 200, response.text
        return dict(response.json()["data"])

    def logs(self, project_id: int, deployment_id: int) -> str:
        response = self.get(f"/projects/{project_id}/deployments/{deployment_id}/logs")
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["build_logs"])

    def wait_for_status(
        self, project_id: int, deployment_id: int, *statuses: str, timeout: float = 60
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            d = self.deployment(project_id, deployment_id)
            return d if d["status"] in statuses else None

        return dict(wait_until(probe, timeout, what=f"deployment {deployment_id} to be {statuses}"))


def create_org(stack: RunningStack, plan: str = "pro", scopes: list[str] | None = None) -> Api:
    """A new organization on `stack` and an API key for it."""
    slug = f"org-{uuid.uuid4().hex[:8]}"
    assert stack.admin("POST", "/orgs", json={"slug": slug, "plan": plan}).status_code == 201
    body: dict[str, Any] = {"name": "e2e"}
    if scopes is not None:
        body["scopes"] = scopes
    key = stack.admin("POST", f"/orgs/{slug}/keys", json=body)
    assert key.status_code == 201, key.text
    return Api(stack, slug, key.json()["data"]["token"])


@pytest.fixture
def org_api(stack: RunningStack) -> Callable[..., Api]:
    def make(plan: str = "pro", scopes: list[str] | None = None) -> Api:
        return create_org(stack, plan, scopes)

    return make


@pytest.fixture
def git_repo(tmp_path: Path) -> Callable[[str], GitRepo]:
    """An empty git repository (branch main) named `name` in the test's directory."""

    def make(name: str = "repo") -> GitRepo:
        return GitRepo.create(tmp_path / name)

    return make


def gated_build(gate: Path, then: str = "mkdir -p dist && cp index.html dist/") -> str:
    """A build command that prints, then waits until the test creates `gate`, then builds."""
    quoted = shlex.quote(str(gate))
    return f"echo build-started; while [ ! -f {quoted} ]; do sleep 0.05; done; {then}"


def fetch(url: str) -> requests.Response:
    return requests.get(url, timeout=10)
