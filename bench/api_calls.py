"""AWS calls per API operation: how many botocore calls each request makes, counted through the real Chalice app.

`counted()` records every botocore call made in its context (work handed to a thread with the context copied
counts too, as chalicelib.concurrency hands it), so a request's calls are told apart from the pipeline's worker
threads running beside it. A call made on the request's own thread is a round trip the request waits for in
sequence; a call handed to the pool overlaps one of those (`concurrency.both` hands off single reads), so the
calls on the request's thread are its sequential round trips.
`measure_operations` runs each operation of the table once on a fresh tenant through chalice.test.Client and
returns its calls; `make bench` prints the table against the floor of the same run (GET /healthz).
"""

from __future__ import annotations

import contextvars
import functools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_calls: contextvars.ContextVar[list[tuple[str, int]] | None] = contextvars.ContextVar("bench_api_calls", default=None)


@functools.cache
def _install() -> None:
    """Wraps botocore's one entry point for every call (boto3 clients and PynamoDB's connection alike)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counting(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        calls = _calls.get()
        if calls is not None:
            calls.append((f"{self.meta.service_model.service_name}.{operation_name}", threading.get_ident()))
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counting  # type: ignore[method-assign]


@contextmanager
def counted() -> Iterator[list[tuple[str, int]]]:
    """The botocore calls made inside the block, as (`service.Operation`, the id of the thread making it)."""
    _install()
    calls: list[tuple[str, int]] = []
    token = _calls.set(calls)
    try:
        yield calls
    finally:
        _calls.reset(token)


@dataclass
class Measured:
    operation: str
    status: int
    calls: list[str] = field(default_factory=list)
    sequential: int = 0

    @property
    def count(self) -> int:
        return len(self.calls)

    def summary(self) -> str:
        return ", ".join(f"{name}×{n}" if n > 1 else name for name, n in Counter(self.calls).items())


@dataclass(frozen=True)
class Budget:
    calls: int  # every AWS call the request makes
    sequential: int  # the round trips it waits for one after another


# What each operation may cost: the figures reached; a regression fails tests/integration/test_call_budgets.py.
BUDGETS: dict[str, Budget] = {
    "GET /healthz (floor)": Budget(0, 0),
    "native GET deployment": Budget(2, 2),
    "native list page": Budget(3, 2),
    "native logs": Budget(3, 2),
    "native list promotions": Budget(4, 3),
    "native GET promotion": Budget(2, 2),
    # A rollback is a promotion (issue 16): its id drawn, its execution started, and a few reads of it until it
    # switched (services.promotions.wait_until_switched), where it used to be one transaction.
    "native rollback": Budget(10, 10),
    # The plan its key carries gives the free build slot's limit: no read of the organization (services.caller_plan);
    # the environment is not read either: its id is written by its first deployment, whose record is refused once
    # for want of it, then written with it (services.deployments.creation).
    "native trigger, new environment": Budget(11, 11),
    "native trigger": Budget(9, 9),
    "native cancel": Budget(14, 14),
    "GitHub POST status": Budget(13, 13),
    "GitLab list deployments": Budget(6, 5),
}


def _git(directory: Path, *args: str) -> str:
    import subprocess

    done = subprocess.run(["git", "-C", str(directory), *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _repository(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "-q", "-b", "main")
    (root / "index.html").write_text("<h1>calls</h1>\n")
    _git(root, "add", ".")
    _git(root, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "first")
    return root


def _wait(probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Tenant:
    headers: dict[str, str]
    deployment_path: str  # a deployed deployment's native URL path


def measure_operations(workdir: Path, tenant: list[Tenant] | None = None) -> list[Measured]:
    """Each operation of BUDGETS once, for a fresh pro organization, through the Chalice app in this process.

    Needs the embedded stack running in this process with at least one build worker (rollback needs two
    deployed deployments)."""
    from chalice.test import Client

    from app import app
    from chalicelib.models.deployment import DeploymentRepository
    from chalicelib.services import organizations, projects
    from chalicelib.services.inputs import ProjectCreate

    slug = f"calls-{uuid.uuid4().hex[:8]}"
    organizations.create(slug, None, "pro")
    token = organizations.create_key(slug, "bench", None).token
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    repo = _repository(workdir / f"repo-{slug}")
    built = projects.create(slug, ProjectCreate(name="built", repo_url=str(repo), build_command="true")).project
    # Cancelled while it builds (a deterministic state to leave: a queued one races the build worker's claim).
    slow = projects.create(slug, ProjectCreate(name="slow", repo_url=str(repo), build_command="sleep 60")).project
    ledger = projects.create(slug, ProjectCreate(name="ledger", repo_url=str(repo), build_command=None)).project
    native = f"/api/v1/public/projects/{built.id}"
    results: list[Measured] = []

    with Client(app) as api:

        def call(operation: str, method: str, path: str, body: str | None = None) -> Any:
            with counted() as calls:
                response = api.http.request(method, path, headers=headers, body=(body or "").encode())
            here = threading.get_ident()
            made = [name for name, _ in calls]
            sequential = sum(1 for _, thread in calls if thread == here)
            results.append(Measured(operation, response.status_code, made, sequential))
            return response

        def reached(deployment_id: int, status: str) -> bool:
            return DeploymentRepository.get(deployment_id).status == status

        def trigger() -> int:
            response = api.http.post(f"{native}/deployments", headers=headers, body=b'{"branch": "main"}')
            assert response.status_code == 201, response.body
            return int(response.json_body["data"]["id"])

        first, second = trigger(), None
        _wait(lambda: reached(first, "deployed"), f"deployment {first} to deploy")
        second = trigger()
        _wait(lambda: reached(second, "deployed"), f"deployment {second} to deploy")

        if tenant is not None:
            tenant.append(Tenant(headers, f"{native}/deployments/{second}"))
        call("GET /healthz (floor)", "GET", "/healthz")
        call("native GET deployment", "GET", f"{native}/deployments/{second}")
        call("native list page", "GET", f"{native}/deployments?page=1&per_page=20")
        call("native logs", "GET", f"{native}/deployments/{second}/logs")
        # Each deployment's activation was a promotion: the newest is the second's
        listed = call("native list promotions", "GET", f"{native}/promotions?environment=production&page=1&per_page=20")
        call("native GET promotion", "GET", f"{native}/promotions/{listed.json_body['data'][0]['id']}")
        call("native rollback", "POST", f"{native}/deployments/{first}/rollback", "{}")
        slow_path = f"/api/v1/public/projects/{slow.id}/deployments"
        # The first deployment to an environment also gives the environment its id: its record is refused once
        # (the environment has none), the id is taken, and the record written again. Every later one reads nothing.
        first_slow = call("native trigger, new environment", "POST", slow_path, '{"branch": "main"}')
        first_slow_id = first_slow.json_body["data"]["id"]
        _wait(lambda: reached(first_slow_id, "building"), f"deployment {first_slow_id} to build")
        api.http.post(f"{slow_path}/{first_slow_id}/cancel", headers=headers, body=b"{}")
        _wait(lambda: reached(first_slow_id, "cancelled"), f"deployment {first_slow_id} to be cancelled")
        third = call("native trigger", "POST", slow_path, '{"branch": "main"}').json_body["data"]["id"]
        _wait(lambda: reached(third, "building"), f"deployment {third} to build")
        call("native cancel", "POST", f"{slow_path}/{third}/cancel", "{}")

        repo_path = f"/api/v3/repos/{slug}/{ledger.slug}"
        created = api.http.post(
            f"{repo_path}/deployments", headers=headers, body=b'{"ref": "main", "environment": "production"}'
        )
        assert created.status_code == 201, created.body
        call(
            "GitHub POST status",
            "POST",
            f"{repo_path}/deployments/{created.json_body['id']}/statuses",
            '{"state": "success"}',
        )
        call("GitLab list deployments", "GET", f"/api/v4/projects/{ledger.id}/deployments")
    return results


def table(results: list[Measured]) -> str:
    lines = [f"{'operation':<28} {'status':>6} {'calls':>5} {'budget':>6} {'in turn':>7} {'budget':>6}  calls made"]
    for r in results:
        budget = BUDGETS[r.operation]
        lines.append(
            f"{r.operation:<28} {r.status:>6} {r.count:>5} {budget.calls:>6} {r.sequential:>7} {budget.sequential:>6}"
            f"  {r.summary()}"
        )
    return "\n".join(lines)


ROUNDS = 50


@dataclass(frozen=True)
class Timing:
    seconds: float  # median wall time of a request
    cpu_seconds: float  # median CPU time this process spent on it: the client, the API and the local AWS


def over_http(floor: str, read: str, headers: dict[str, str]) -> tuple[Timing, Timing]:
    """GET `floor` (no headers) and GET `read` over loopback HTTP (a connection each, as curl makes), after a
    warm-up. The two alternate, so a neighbour's load on the machine weighs on both alike; the CPU time is the
    figure such load disturbs least (the stack, the API and this client all run in this process)."""
    import statistics

    import requests

    def timed(url: str, sent: dict[str, str]) -> tuple[float, float]:
        began, began_cpu = time.perf_counter(), time.process_time()
        requests.get(url, headers=sent, timeout=30).raise_for_status()
        return time.perf_counter() - began, time.process_time() - began_cpu

    def median(samples: list[tuple[float, float]]) -> Timing:
        return Timing(statistics.median(s for s, _ in samples), statistics.median(c for _, c in samples))

    timed(floor, {}), timed(read, headers)
    pairs = [(timed(floor, {}), timed(read, headers)) for _ in range(ROUNDS)]
    return median([f for f, _ in pairs]), median([r for _, r in pairs])


def main() -> None:
    import tempfile

    from chalicelib.local.stack import EmbeddedStack, StackConfig, free_port

    stack = EmbeddedStack(StackConfig(api_port=free_port(), sites_port=free_port(), build_workers=1))
    stack.start()
    try:
        with tempfile.TemporaryDirectory(prefix="deployd-bench-calls-") as workdir:
            tenant: list[Tenant] = []
            print("botocore calls per API operation (counted, not timed; the floor is GET /healthz)")
            print(table(measure_operations(Path(workdir), tenant)))
            floor, read = over_http(
                stack.api_url + "/healthz", stack.api_url + tenant[0].deployment_path, tenant[0].headers
            )
            print(
                f"over HTTP on the embedded stack, median of {ROUNDS} alternating: "
                f"GET /healthz {floor.seconds * 1000:.1f} ms (CPU {floor.cpu_seconds * 1000:.1f} ms), "
                f"GET deployment {read.seconds * 1000:.1f} ms (CPU {read.cpu_seconds * 1000:.1f} ms): "
                f"{read.seconds / floor.seconds:.1f}x the floor in time, "
                f"{read.cpu_seconds / floor.cpu_seconds:.1f}x in CPU (goal <= 4x)"
            )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
