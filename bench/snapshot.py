"""What the embedded stack's snapshots cost while it runs (docs/durability.md).

Runs an in-process embedded stack with a data directory, seeds SIZE deployments (each with its statuses, a build log
and a site file), then times: the first snapshot (everything), one with nothing changed, and one after a single
deployment changed (its table is exported again, the rest is reused). Then it measures what a request sees: the
latency of reading a deployment (PynamoDB GetItem, through the stack's endpoint) while snapshots run back to back,
each after a change, against the same reads with no snapshot running (the floor), in the same run. Last, how long
`make run` takes to start on that data directory, against a start with nothing to restore.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from chalicelib.local.stack import EmbeddedStack, StackConfig, free_port

SIZE = 1000
STATUSES_PER_DEPLOYMENT = 3
READ_SECONDS = 8.0


def seed(org_slug: str, count: int) -> int:
    from chalicelib.aws import client
    from chalicelib.infra.resources import BUILD_LOGS_BUCKET, SITES_BUCKET
    from chalicelib.models.deployment import Deployment
    from chalicelib.models.deployment_status import DeploymentStatus
    from chalicelib.models.project import Project
    from chalicelib.models.registry import next_id
    from chalicelib.services import projects
    from chalicelib.services.inputs import ProjectCreate
    from chalicelib.settings import get_settings

    settings = get_settings()
    s3 = client("s3")
    project = projects.create(org_slug, ProjectCreate(name=f"bench {count}", repo_url="/tmp/bench")).project
    with Deployment.batch_write() as deployments, DeploymentStatus.batch_write() as statuses:
        for seq in range(1, count + 1):
            deployment_id = next_id("deployment")
            deployments.save(
                Deployment(
                    id=deployment_id,
                    project_id=project.id,
                    seq=seq,
                    org_slug=org_slug,
                    environment="production",
                    branch="main",
                    commit_sha=uuid.uuid4().hex + "00000000",
                    commit_message="Update the landing page copy and fix the footer links",
                    commit_author="Ada Lovelace",
                    status="deployed",
                    deployment_url=f"http://127.0.0.1:8001/d{deployment_id}--site--{org_slug}/",
                    artifact_prefix=f"deployments/{deployment_id}/",
                    build_time_seconds=12,
                )
            )
            for state in ("queued", "in_progress", "success")[:STATUSES_PER_DEPLOYMENT]:
                statuses.save(
                    DeploymentStatus(
                        deployment_id=deployment_id,
                        id=next_id("deployment-status"),
                        state=state,
                        environment="production",
                    )
                )
            s3.put_object(
                Bucket=settings.resource_name(SITES_BUCKET.logical),
                Key=f"deployments/{deployment_id}/index.html",
                Body=b"<!doctype html><h1>site</h1>" + b"x" * 1000,
                ContentType="text/html",
            )
            s3.put_object(
                Bucket=settings.resource_name(BUILD_LOGS_BUCKET.logical),
                Key=f"{deployment_id}.log",
                Body=b"$ npm ci && npm run build\n" * 150,
                ContentType="text/plain; charset=utf-8",
            )
    project.update(actions=[Project.deployment_seq.set(count), Project.deployment_count.set(count)])
    return int(project.id)


def timed(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def read_latencies(deployment_id: int, seconds: float) -> list[float]:
    from chalicelib.models.deployment import Deployment

    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        Deployment.get(deployment_id, consistent_read=True)
        samples.append(time.perf_counter() - started)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return (
        f"{len(samples):6d} reads  p50 {statistics.median(samples) * 1000:6.2f} ms"
        f"  p99 {p99 * 1000:7.2f} ms  max {ordered[-1] * 1000:7.2f} ms"
    )


def main() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="deployd-bench-snapshot-"))
    config = StackConfig(
        api_port=free_port(), sites_port=free_port(), build_workers=0, schedule_interval_seconds=0, data_dir=data_dir
    )
    stack = EmbeddedStack(config)
    stack.start()
    try:
        from chalicelib.models.deployment import Deployment
        from chalicelib.services import organizations

        assert stack._periodic is not None and stack._snapshots is not None
        stack._periodic.stop()  # this benchmark takes the snapshots itself
        snapshots = stack._snapshots
        org = organizations.create(f"bench-{uuid.uuid4().hex[:6]}", None, "pro").slug
        seed(org, SIZE)
        newest = Deployment.scan(limit=1).next().id

        def touch() -> None:
            Deployment(id=newest).update(actions=[Deployment.commit_author.set(uuid.uuid4().hex)])

        first = timed(snapshots.snapshot)
        unchanged = timed(snapshots.snapshot)
        touch()
        one_change = timed(snapshots.snapshot)
        size = sum(path.stat().st_size for path in data_dir.rglob("*") if path.is_file())
        print(
            f"{SIZE} deployments, {SIZE * STATUSES_PER_DEPLOYMENT} statuses, {2 * SIZE} objects ({size / 1e6:.1f} MB)"
        )
        print(f"first snapshot (everything)        {first * 1000:8.1f} ms")
        print(f"snapshot, nothing changed          {unchanged * 1000:8.1f} ms")
        print(f"snapshot, one deployment changed   {one_change * 1000:8.1f} ms")

        floor = read_latencies(newest, READ_SECONDS)
        stopping = threading.Event()
        taken: list[float] = []

        def back_to_back() -> None:
            while not stopping.is_set():
                touch()
                taken.append(timed(snapshots.snapshot))

        writer = threading.Thread(target=back_to_back)
        writer.start()
        during = read_latencies(newest, READ_SECONDS)
        stopping.set()
        writer.join()
        print(f"reads, no snapshot running (floor)  {summary(floor)}")
        print(f"reads, snapshots back to back       {summary(during)}")
        print(
            f"{len(taken)} snapshots in {READ_SECONDS:.0f} s, median {statistics.median(taken) * 1000:.1f} ms; "
            f"read p50 ratio {statistics.median(during) / statistics.median(floor):.2f}"
        )
    finally:
        stack.stop()
    try:
        restored, empty = start_up_seconds(str(data_dir)), start_up_seconds("memory")
        print(f"start-up restoring that snapshot {restored:6.1f} s   start-up with nothing to restore {empty:6.1f} s")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def start_up_seconds(data_dir: str) -> float:
    """How long `make run` takes to answer /healthz on `data_dir` (run as `make run` runs it)."""
    import os
    import subprocess
    import sys

    import requests

    port = free_port()
    env = {**os.environ, "DEPLOYD_DATA_DIR": data_dir, "PORT": str(port), "DEPLOYD_SITES_PORT": str(free_port())}
    env.update(DEPLOYD_BUILD_WORKERS="0", DEPLOYD_SCHEDULE_INTERVAL_SECONDS="0", DEPLOYD_ADMIN_TOKEN="bench")
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while process.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError(f"make run exited with {process.returncode}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()  # never left running
            process.wait()
            raise


if __name__ == "__main__":
    main()
