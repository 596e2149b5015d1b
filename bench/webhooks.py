"""Webhooks: how fast deployd delivers, and what subscribers cost a deployment.

Runs an in-process embedded stack (the production code path: the deployments table's stream, the fan-out, the
delivery queue and its workers) with receivers on loopback, and prints two ratios, each against a floor measured
in the same run:

- 1,000 events to 3 endpoints: 1,000 deployments recorded at once (each a `deployment.created` event), timed until
  all 3,000 messages have reached their receivers; the floor is the same 3,000 signed POSTs sent straight from
  one client with 4 threads (what the stack's 4 delivery workers could do with no queue, stream or ledger).
- Trigger to deployed with 10 endpoints subscribed to every event of the organization, against none: the median
  of ROUNDS deployments each way, alternating. The pipeline never waits for deliveries, so this stays close to 1.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import requests

from chalicelib.local.stack import EmbeddedStack, StackConfig, free_port
from tests.support.receiver import Receiver, running

EVENTS, ENDPOINTS, SUBSCRIBERS = 1000, 3, 10
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))


def _repository(root: Path) -> str:
    path = root / "repo"
    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (path / "index.html").write_text("bench\n")
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


def _wait(receivers: list[Receiver], total: int, deadline_seconds: float = 600) -> None:
    deadline = time.monotonic() + deadline_seconds
    while sum(len(r) for r in receivers) < total:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {sum(len(r) for r in receivers)} of {total} messages arrived")
        time.sleep(0.02)


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
        time.sleep(0.01)
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
            site = projects.create(org, ProjectCreate(name="site", repo_url=repo_url, build_command="true")).project

            # 1,000 events to 3 endpoints
            with running() as a, running() as b, running() as c:
                receivers = [a, b, c]
                for receiver in receivers:
                    webhooks.create(
                        org, WebhookCreate(url=receiver.url(), events=["deployment.created"], project_id=ledger.id)
                    )
                start = time.perf_counter()
                _record_deployments(org, ledger.id, EVENTS)
                _wait(receivers, EVENTS * ENDPOINTS)
                delivered = time.perf_counter() - start
            with running() as a, running() as b, running() as c:
                floor = _direct_floor([a.url(), b.url(), c.url()], EVENTS * ENDPOINTS)
            print(f"{EVENTS} events to {ENDPOINTS} endpoints, all delivered:  {delivered:7.2f} s")
            print(f"the same {EVENTS * ENDPOINTS} POSTs sent directly (floor):   {floor:7.2f} s")
            print(f"delivery / direct:                               {delivered / floor:6.2f}x")

            # trigger -> deployed, 10 subscribers against none
            _deploy_seconds(org, site.id)  # warm up: the first build pays for imports and clones
            alone, watched = [], []
            with ExitStack() as scope:
                subscribers = [scope.enter_context(running()) for _ in range(SUBSCRIBERS)]
                for _ in range(ROUNDS):
                    alone.append(_deploy_seconds(org, site.id))
                    hooks = [
                        webhooks.create(org, WebhookCreate(url=r.url(), project_id=site.id)).webhook.id
                        for r in subscribers
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
