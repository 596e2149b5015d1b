"""Webhooks: how fast deployd delivers, and what subscribers cost a deployment.

Runs an in-process embedded stack (the production code path: the deployments table's stream, the fan-out, the
delivery queue and its workers) with receivers on loopback, and prints two ratios, each against a floor measured
in the same run:

- 1,000 events to 3 endpoints: 1,000 deployments recorded at once (each a `deployment.created` event), timed until
  all 3,000 messages have reached their receivers; the floor is the same 3,000 signed POSTs sent straight from
  one client with 4 threads (what the stack's 4 delivery workers could do with no queue, stream or ledger).
- Trigger to deployed with 10 endpoints subscribed to every event of the project, against none: the median of
  ROUNDS deployments each way, alternating. The pipeline never waits for deliveries, so this stays close to 1.
  The deployment is a realistic one: its build spends about a second compiling in its own process (BUILD), as
  every real build has a compile step. With an empty build the figure measures something else: the control
  plane's own few hundred milliseconds, which in the embedded stack share one interpreter lock with the
  deliveries' work (on AWS the fan-out and the deliveries run in functions of their own); docs/webhooks.md
  gives that figure too.

The receivers run in a process of their own (bench/receivers.py): a subscriber's endpoint is not deployd's work.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import requests

from chalicelib.local.stack import EmbeddedStack, StackConfig, free_port

EVENTS, ENDPOINTS, SUBSCRIBERS = 1000, 3, 10
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
# The measured deployment's build: renders 200 pages, fingerprinting each (about a second of CPU in the build).
BUILD_SCRIPT = """\
import hashlib, pathlib
out = pathlib.Path("dist")
out.mkdir(exist_ok=True)
chunk = b"deployd" * 150_000
for page in range(200):
    digest = hashlib.sha256()
    for _ in range(8):
        digest.update(chunk)
    (out / f"page-{page}.html").write_text(f"<h1>page {page}</h1><p>{digest.hexdigest()}</p>")
"""


class Endpoints:
    """`count` receivers in a process of their own (bench/receivers.py)."""

    def __init__(self, count: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.receivers", str(count)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.ports = [int(port) for port in self._process.stdout.readline().split()]
        self._session = requests.Session()

    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}/hook" for port in self.ports]

    def received(self) -> int:
        return sum(self._session.get(f"http://127.0.0.1:{self.ports[0]}/count", timeout=5).json())

    def close(self) -> None:
        assert self._process.stdin is not None
        self._process.stdin.close()
        self._process.wait(timeout=10)


@contextmanager
def endpoints(count: int) -> Iterator[Endpoints]:
    running = Endpoints(count)
    try:
        yield running
    finally:
        running.close()


def _repository(root: Path) -> str:
    path = root / "repo"
    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (path / "index.html").write_text("bench\n")
    (path / "build.py").write_text(BUILD_SCRIPT)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True)
    return str(path)


def _record_deployments(org: str, project_id: int, count: int) -> None:
    """`count` deployments recorded as an external deployer's would be: each one INSERT, one created event."""
    from chalicelib.models.deployment import Deployment
    from chalicelib.models.registry import next_id

    with Deployment.batch_write() as batch:
        for seq in range(1, count + 1):
            batch.save(
                Deployment(
                    id=next_id("deployment"),
                    project_id=project_id,
                    seq=seq,
                    org_slug=org,
                    environment="production",
                    branch="main",
                    commit_sha="0" * 40,
                    status="queued",
                    managed=False,
                    event_seq=1,
                )
            )


def _wait(receivers: Endpoints, total: int, deadline_seconds: float = 600) -> None:
    deadline = time.monotonic() + deadline_seconds
    while (arrived := receivers.received()) < total:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {arrived} of {total} messages arrived")
        time.sleep(0.05)


def _direct_floor(urls: list[str], count: int) -> float:
    """The same number of signed POSTs, sent straight to the receivers by 4 threads."""
    from standardwebhooks.webhooks import Webhook as Signer

    signer = Signer("whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = '{"type":"deployment.created","timestamp":"2026-01-01T00:00:00.000+00:00","data":{}}'
    session = requests.Session()

    def send(index: int) -> None:
        at = datetime.now(UTC)
        message = f"msg_{index}"
        headers = {"webhook-id": message, "webhook-signature": signer.sign(message, at, body)}
        session.post(urls[index % len(urls)], data=body, headers=headers, timeout=15)

    start = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(send, range(count)))
    return time.perf_counter() - start


def _deploy_seconds(org: str, project_id: int) -> float:
    from chalicelib.models.deployment import DeploymentRepository
    from chalicelib.services import deployments

    start = time.perf_counter()
    deployment_id = deployments.trigger(org, project_id, None, "bench").deployment.id
    while (status := DeploymentRepository.get(deployment_id).status) not in ("deployed", "failed"):
        time.sleep(0.05)  # the same for both arms; a tighter poll would itself load the one-process stack
    if status != "deployed":
        raise RuntimeError(f"deployment {deployment_id} {status}")
    return time.perf_counter() - start


def main() -> None:
    # The stack's metrics and info logs would bury the figures: only warnings and the figures are printed.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    stack = EmbeddedStack(StackConfig(api_port=free_port(), sites_port=free_port(), build_workers=2))
    stack.start()
    try:
        from chalicelib.services import organizations, projects, webhooks
        from chalicelib.services.inputs import ProjectCreate, WebhookCreate

        org = organizations.create(f"bench-{uuid.uuid4().hex[:6]}", None, "enterprise").slug
        with tempfile.TemporaryDirectory() as scratch:
            repo_url = _repository(Path(scratch))
            ledger = projects.create(org, ProjectCreate(name="ledger", repo_url=repo_url)).project

            site = projects.create(
                org, ProjectCreate(name="site", repo_url=repo_url, build_command="python3 build.py", output_dir="dist")
            ).project

            # 1,000 events to 3 endpoints
            with endpoints(ENDPOINTS) as receivers:
                for url in receivers.urls():
                    webhooks.create(org, WebhookCreate(url=url, events=["deployment.created"], project_id=ledger.id))
                start = time.perf_counter()
                _record_deployments(org, ledger.id, EVENTS)
                _wait(receivers, EVENTS * ENDPOINTS)
                delivered = time.perf_counter() - start
            with endpoints(ENDPOINTS) as receivers:
                floor = _direct_floor(receivers.urls(), EVENTS * ENDPOINTS)
            print(f"{EVENTS} events to {ENDPOINTS} endpoints, all delivered:  {delivered:7.2f} s")
            print(f"the same {EVENTS * ENDPOINTS} POSTs sent directly (floor):   {floor:7.2f} s")
            print(f"delivery / direct:                               {delivered / floor:6.2f}x")

            # trigger -> deployed, 10 subscribers against none
            _deploy_seconds(org, site.id)  # warm up: the first build pays for imports and clones
            alone, watched = [], []
            with endpoints(SUBSCRIBERS) as subscribers:
                for _ in range(ROUNDS):
                    alone.append(_deploy_seconds(org, site.id))
                    hooks = [
                        webhooks.create(org, WebhookCreate(url=url, project_id=site.id)).webhook.id
                        for url in subscribers.urls()
                    ]
                    watched.append(_deploy_seconds(org, site.id))
                    for hook in hooks:
                        webhooks.delete(org, hook)
            base, with_hooks = statistics.median(alone), statistics.median(watched)
            print(f"trigger -> deployed, no subscribers (median of {ROUNDS}):   {base * 1000:7.1f} ms")
            print(f"trigger -> deployed, {SUBSCRIBERS} subscribers (median of {ROUNDS}):  {with_hooks * 1000:7.1f} ms")
            print(f"with / without subscribers:                      {with_hooks / base:6.2f}x  (goal: within 1.10x)")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
