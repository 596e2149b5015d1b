"""The pipeline's overhead and throughput on the embedded stack (`make run`'s stack, in this process).

- Latency: a project with nothing to build (`build_command: "true"`) is triggered over HTTP ROUNDS times, one
  deployment at a time; each trigger -> deployed is split into trigger -> claimed (the build worker's claim),
  build (claim -> the build worker answers its task) and activation (-> deployed). The floor, measured in the
  same run and alternating with the deployments, is deployd's own work with nothing between the steps: the
  trigger request's own time plus the same build run directly by the runner (workspace, clone, `true`, upload).
- Throughput: BURST deployments across PROJECTS projects of an enterprise organization (10 build slots),
  triggered at once, BURSTS times (the median is reported); deployments per second until the last is deployed,
  and the AWS calls the stack made per deployment by service and operation (every botocore call in this process
  but the bench's own, Step Functions' service integrations included), DynamoDB's singled out. The floor is the
  same builds run directly by the runner, 10 at a time. The baseline: the same bursts against BASELINE (the commit
  issue 14 measured "today" on), unpacked from this repository's history with `git archive` and run with this
  very file in a process of its own, after this process's stack has stopped (BENCH_BASELINE=none skips it).

The deployments stream's consumer and the webhook deliveries run in a process of their own (they are not the
pipeline) and are not counted.
"""

from __future__ import annotations

import contextlib
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
PROJECTS, BURST = 10, 50
# Bursts per measurement, ours and the baseline's alike: the median is reported (one burst varies by +-10% here).
BURSTS = int(os.environ.get("BENCH_BURSTS", "3"))
# Issue 14's "today": its figures were measured on a fresh clone of this commit. Its throughput goal is 2x that.
BASELINE = os.environ.get("BENCH_BASELINE", "8ffdcbf")
THROUGHPUT_GOAL = 2.0


@dataclass
class Timeline:
    """Every botocore call made in this process while recording, by `service.Operation`; and when each build
    worker answered its Build task (the end of the build)."""

    calls: Counter[str] = field(default_factory=Counter)
    integrations: Counter[str] = field(default_factory=Counter)  # made by Step Functions' own states
    built_at: dict[int, float] = field(default_factory=dict)
    ignored_thread: int | None = None
    recording: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


_timeline = Timeline()


def _made_by_step_functions() -> bool:
    """Whether the current call comes from moto's Step Functions executor (a state's service integration)."""
    frame = sys._getframe(2)
    while frame is not None:
        if "moto/stepfunctions" in frame.f_code.co_filename:
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _counts(thread: threading.Thread) -> bool:
    """Whether a call made on `thread` is the pipeline's: not the bench's own reads, not a running build's
    heartbeats (one read and one SendTaskHeartbeat per interval: a cost per build-second, not per deployment),
    not the schedule timer's, not the embedded site server's (CloudFront's stand-in: on AWS a site request reads
    the KeyValueStore, no table) answering the promotion's health checks."""
    if thread.ident == _timeline.ignored_thread:
        return False
    return not thread.name.startswith(("heartbeat-", "schedule-timer", *_site_request_threads()))


@functools.cache
def _site_request_threads() -> tuple[str, ...]:
    """The embedded site server's thread name, where it has one (the baseline's code names none)."""
    try:
        from chalicelib.local.sites import SITE_REQUEST_THREAD
    except ImportError:
        return ()
    return (SITE_REQUEST_THREAD,)


@functools.cache
def _install() -> None:
    import json

    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def recording(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        result = original(self, operation_name, api_params)
        timeline = _timeline
        if operation_name == "SendTaskSuccess":
            output = json.loads(api_params.get("output") or "{}")
            if "deployment_id" in output:
                with timeline.lock:  # the first answer with a deployment id is the build worker's
                    timeline.built_at.setdefault(int(output["deployment_id"]), time.time())
        if timeline.recording and _counts(threading.current_thread()):
            name = f"{self.meta.service_model.service_name}.{operation_name}"
            integration = _made_by_step_functions()
            with timeline.lock:
                timeline.calls[name] += 1
                if integration:
                    timeline.integrations[name] += 1
        return result

    BaseClient._make_api_call = recording  # type: ignore[method-assign]


@contextmanager
def recording_calls() -> Iterator[Timeline]:
    with _timeline.lock:
        _timeline.calls.clear()
        _timeline.integrations.clear()
        _timeline.ignored_thread = threading.get_ident()  # the bench's own waiting reads
        _timeline.recording = True
    try:
        yield _timeline
    finally:
        _timeline.recording = False


def _repository(root: Path) -> Path:
    root.mkdir(parents=True)
    git = ["git", "-C", str(root), "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (root / "index.html").write_text("<h1>pipeline</h1>\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "bench"], check=True)
    return root


@dataclass
class Tenant:
    slug: str
    headers: dict[str, str]
    project_ids: list[int]


def _tenant(plan: str, repo: Path, projects: int) -> Tenant:
    from chalicelib.services import organizations
    from chalicelib.services import projects as project_service
    from chalicelib.services.inputs import ProjectCreate

    slug = f"pipe-{uuid.uuid4().hex[:8]}"
    organizations.create(slug, None, plan)
    token = organizations.create_key(slug, "bench", None).token
    ids = [
        project_service.create(slug, ProjectCreate(name=f"p{n}", repo_url=str(repo), build_command="true")).project.id
        for n in range(projects)
    ]
    return Tenant(slug, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}, ids)


def _trigger(session: Any, api_url: str, tenant: Tenant, project_id: int) -> int:
    response = session.post(
        f"{api_url}/api/v1/public/projects/{project_id}/deployments", headers=tenant.headers, json={}, timeout=60
    )
    if response.status_code != 201:
        raise RuntimeError(f"trigger answered {response.status_code}: {response.text}")
    return int(response.json()["data"]["id"])


def _wait_until_deployed(ids: list[int], timeout: float = 300.0, interval: float = 0.02) -> dict[int, Any]:
    """The deployments once all are deployed, read with consistent BatchGetItem every `interval` seconds. The
    figures come from the items' own timestamps, not from when this noticed: a burst's wait reads rarely, since its
    reads share this process's interpreter with the stack it measures."""
    from chalicelib.models.deployment import Deployment

    deadline = time.monotonic() + timeout
    done: dict[int, Any] = {}
    while time.monotonic() < deadline:
        pending = [i for i in ids if i not in done]
        for item in Deployment.batch_get(pending, consistent_read=True):
            if item.status == "deployed":
                done[item.id] = item
            elif item.status in ("failed", "cancelled"):
                raise RuntimeError(f"deployment {item.id} ended {item.status}: {item.error_message}")
        if len(done) == len(ids):
            return done
        time.sleep(interval)
    raise RuntimeError(f"timed out: {len(done)} of {len(ids)} deployed")


def _epoch(value: datetime | str) -> float:
    """A deployment's timestamp in seconds since the epoch (the baseline commit stored them as ISO strings)."""
    when = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    return when.timestamp()


class _Silent:
    """A build reporter that records nothing: the floor's build runs without the pipeline."""

    def stage(self, status: Any) -> bool:
        return True

    def output(self, text: str) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def _direct_build(repo: Path) -> float:
    """Seconds the runner takes to build the project itself: workspace, clone, `true`, upload."""
    from chalicelib.adapters import git, sites
    from chalicelib.adapters.runners import BuildJob, LocalBuildRunner
    from chalicelib.models.registry import next_id

    deployment_id = next_id("deployment")
    sha = git.resolve(str(repo), "main").sha
    job = BuildJob(deployment_id, str(repo), sha, "main", "true", ".", 300, sites.artifact_prefix(deployment_id))
    began = time.perf_counter()
    result = LocalBuildRunner().run(job, _Silent())
    elapsed = time.perf_counter() - began
    if result.outcome != "succeeded":
        raise RuntimeError(f"direct build {result.outcome}: {result.message}")
    return elapsed


# DynamoDB calls one deployment may make, trigger to deployed, its slot given back (issue 14's goal: <= 30).
DYNAMODB_BUDGET = 30


def calls_per_deployment(api_url: str, repo: Path, rounds: int = 2) -> dict[str, float]:
    """The AWS calls (by `service.Operation`) of one deployment of a project with nothing to build, triggered
    over HTTP with nothing else running, from the trigger until its execution has ended: the mean of `rounds`."""
    import requests

    _install()
    tenant = _tenant("pro", repo, 1)
    session = requests.Session()
    project_id = tenant.project_ids[0]
    _wait_until_ended(_wait_until_deployed([_trigger(session, api_url, tenant, project_id)]))  # its environment
    total: Counter[str] = Counter()
    with recording_calls() as timeline:
        for _ in range(rounds):
            _wait_until_ended(_wait_until_deployed([_trigger(session, api_url, tenant, project_id)]))
        total.update(timeline.calls)
    return {name: n / rounds for name, n in total.items()}


def _wait_until_ended(deployed: dict[int, Any], timeout: float = 60.0) -> None:
    """Until the deployments' executions have ended (their activation's last call made), and the promotions that
    made them live (docs/promotions.md) have ended too (their live check's last call made)."""
    from chalicelib.aws import client

    sfn = client("stepfunctions")
    deadline = time.monotonic() + timeout
    for deployment in deployed.values():
        while sfn.describe_execution(executionArn=deployment.execution_arn)["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise RuntimeError(f"the execution of deployment {deployment.id} is still running")
            time.sleep(0.02)

        while not _promotion_ended(sfn, deployment):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the promotion of deployment {deployment.id} is still running")
            time.sleep(0.02)


def _promotion_ended(sfn: Any, deployment: Any) -> bool:
    """Whether the promotion that made the deployment live has ended, its execution too."""
    from chalicelib.models.promotion import Promotion

    newest = Promotion.query(deployment.project_id, scan_index_forward=False, limit=10, consistent_read=True)
    ended = [p for p in newest if p.to_deployment_id == deployment.id and p.has_ended and p.execution_arn]
    return any(sfn.describe_execution(executionArn=p.execution_arn)["status"] != "RUNNING" for p in ended)


def dynamodb_calls(calls: dict[str, float]) -> float:
    return sum(n for name, n in calls.items() if name.startswith("dynamodb."))


def _seconds(later: datetime, earlier: float) -> float:
    return later.timestamp() - earlier


def latency(api_url: str, repo: Path) -> list[str]:
    import requests

    tenant = _tenant("pro", repo, 1)
    session = requests.Session()
    _wait_until_deployed([_trigger(session, api_url, tenant, tenant.project_ids[0])])  # warm-up
    _direct_build(repo)
    rows: list[tuple[float, float, float, float]] = []
    floors: list[float] = []
    for _ in range(ROUNDS):
        began = time.time()
        deployment_id = _trigger(session, api_url, tenant, tenant.project_ids[0])
        answered = time.time() - began
        deployment = _wait_until_deployed([deployment_id])[deployment_id]
        built = _timeline.built_at[deployment_id]
        claimed = _seconds(deployment.started_at, began)
        total = _seconds(deployment.deployed_at, began)
        rows.append((total, claimed, built - began - claimed, total - (built - began)))
        floors.append(answered + _direct_build(repo))
    total, claimed, build, activation = (statistics.median(column) for column in zip(*rows, strict=True))
    floor = statistics.median(floors)
    return [
        f"trigger -> deployed, nothing to build (build_command 'true'), median of {ROUNDS}:",
        f"  {total:.3f} s (goal <= 0.8 s): trigger -> claimed {claimed:.3f} s, build {build:.3f} s, "
        f"activation {activation:.3f} s (the median of each part)",
        f"  floor (the trigger request plus the same build run directly, same run) {floor:.3f} s: "
        f"{total / floor:.2f}x the floor",
    ]


def burst(api_url: str, repo: Path) -> tuple[float, float, Counter[str], Counter[str]]:
    """BURST deployments across PROJECTS projects of an enterprise organization, triggered at once from PROJECTS
    threads: seconds until the last is deployed, seconds until the last trigger was answered, and the calls
    (all, and those made by the state machine's own states)."""
    import requests

    tenant = _tenant("enterprise", repo, PROJECTS)
    session = requests.Session()
    _wait_until_deployed([_trigger(session, api_url, tenant, tenant.project_ids[0])])  # warm-up
    targets = [tenant.project_ids[n % PROJECTS] for n in range(BURST)]
    with recording_calls() as timeline, ThreadPoolExecutor(PROJECTS) as pool:
        began = time.time()
        ids = list(pool.map(lambda project_id: _trigger(requests.Session(), api_url, tenant, project_id), targets))
        triggered = time.time() - began
        deployed = _wait_until_deployed(ids, interval=0.25)
        elapsed = max(_epoch(deployment.deployed_at) for deployment in deployed.values()) - began
        return elapsed, triggered, Counter(timeline.calls), Counter(timeline.integrations)


# Figures a part measured that a later step compares (the throughput's deployments/s, for the baseline).
_measured: dict[str, float] = {}


def _bursts(api_url: str, repo: Path) -> tuple[list[float], float, Counter[str], Counter[str]]:
    """BURSTS bursts one after another: the seconds each took (in the order run), and the first one's trigger time
    and calls."""
    elapsed, triggered, calls, integrations = burst(api_url, repo)
    times = [elapsed] + [burst(api_url, repo)[0] for _ in range(BURSTS - 1)]
    return times, triggered, calls, integrations


def throughput(api_url: str, repo: Path) -> list[str]:
    times, triggered, calls, integrations = _bursts(api_url, repo)
    elapsed = statistics.median(times)
    _measured["throughput"] = BURST / elapsed
    began = time.perf_counter()
    with ThreadPoolExecutor(PROJECTS) as pool:
        list(pool.map(lambda _: _direct_build(repo), range(BURST)))
    floor = time.perf_counter() - began
    return [
        f"{BURST} deployments across {PROJECTS} projects of an enterprise organization, triggered at once "
        f"({BURSTS} bursts, the median; each: {', '.join(f'{BURST / t:.2f}/s' for t in times)}):",
        f"  {BURST / elapsed:.2f} deployments/s ({elapsed:.2f} s); floor (the same builds run directly, "
        f"{PROJECTS} at a time, same run) {BURST / floor:.2f}/s: {floor / elapsed:.2f}x the floor's rate; "
        f"the last trigger was answered after {triggered:.2f} s",
        *call_table(calls, integrations, BURST),
    ]


def baseline_burst(api_url: str, repo: Path) -> list[str]:
    """The bursts alone, for a baseline run: one line, `deployments/s dynamodb-calls-per-deployment` (the median
    burst's rate, the first burst's calls)."""
    times, _, calls, _ = _bursts(api_url, repo)
    return [f"{BURST / statistics.median(times):.4f} {dynamodb_calls(dict(calls)) / BURST:.2f}"]


def against_baseline(ours: float, commit: str) -> list[str]:
    """Runs the burst on `commit` (unpacked with `git archive`, this file copied in) in a process of its own and
    says how `ours` (this run's deployments/s) compares."""
    here = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="deployd-bench-baseline-") as workdir:
        archive = subprocess.run(["git", "-C", str(here), "archive", commit], capture_output=True, check=False)
        if archive.returncode != 0:
            reason = archive.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["git archive failed"]
            return [f"  baseline {commit}: not measured ({reason[0]})"]
        subprocess.run(["tar", "-x", "-C", workdir], input=archive.stdout, check=True)
        (Path(workdir) / "bench").mkdir(exist_ok=True)
        (Path(workdir) / "bench" / "__init__.py").touch()
        (Path(workdir) / "bench" / "pipeline.py").write_text(Path(__file__).read_text())
        run = subprocess.run(
            [sys.executable, "-m", "bench.pipeline", "baseline"],
            cwd=workdir,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": workdir, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    if run.returncode != 0:
        return [f"  baseline {commit}: not measured (exit {run.returncode}: {run.stderr.strip()[-300:]})"]
    rate, dynamodb = (float(word) for word in run.stdout.split()[-2:])
    return [
        f"  baseline: the same bursts on {commit} (issue 14's today), same bench run: {rate:.2f} deployments/s "
        f"(the median of {BURSTS}), DynamoDB {dynamodb:.1f} calls per deployment; now {ours / rate:.2f}x its "
        f"throughput (goal >= {THROUGHPUT_GOAL:.0f}x)"
    ]


def call_table(calls: Counter[str], integrations: Counter[str], deployments: int) -> list[str]:
    dynamodb = sum(n for name, n in calls.items() if name.startswith("dynamodb."))
    lines = [
        f"  AWS calls per deployment: {sum(calls.values()) / deployments:.1f}; "
        f"DynamoDB {dynamodb / deployments:.1f} (goal <= {DYNAMODB_BUDGET})"
    ]
    for name, n in sorted(calls.items(), key=lambda item: (item[0].split(".")[0], -item[1])):
        by_states = integrations[name] / deployments
        states = f"  ({by_states:.2f} by the state machine's own states)" if by_states else ""
        lines.append(f"    {name:<40} {n / deployments:6.2f}{states}")
    return lines


def one_at_a_time(api_url: str, repo: Path) -> list[str]:
    calls = calls_per_deployment(api_url, repo)
    lines = [f"one deployment at a time (counted, not timed; budget: {DYNAMODB_BUDGET} DynamoDB calls):"]
    lines.append(f"  AWS calls: {sum(calls.values()):.1f}; DynamoDB {dynamodb_calls(calls):.1f}")
    for name, n in sorted(calls.items(), key=lambda item: (item[0].split(".")[0], -item[1])):
        lines.append(f"    {name:<40} {n:6.2f}")
    return lines


def measure(parts: list[Callable[[str, Path], list[str]]]) -> list[str]:
    """Run each part on one embedded stack (as `make run` starts it, without the schedule timer); their figures."""
    from chalicelib.local.stack import EmbeddedStack, StackConfig, free_port

    _install()
    stack = EmbeddedStack(StackConfig(api_port=free_port(), sites_port=free_port(), schedule_interval_seconds=0))
    stack.start()
    try:
        with tempfile.TemporaryDirectory(prefix="deployd-bench-pipeline-") as workdir:
            repo = _repository(Path(workdir) / "repo")
            return [line for part in parts for line in part(stack.api_url, repo)]
    finally:
        stack.stop()


def main() -> None:
    """`python -m bench.pipeline [latency|calls|throughput]`: all three by default (`baseline`: the burst alone,
    as the baseline run prints it)."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    parts = {"latency": latency, "calls": one_at_a_time, "throughput": throughput, "baseline": baseline_burst}
    chosen = sys.argv[1:] or ["latency", "calls", "throughput"]
    # The stack's metric lines (printed as CloudWatch reads them) go to standard error, the figures to output.
    with contextlib.redirect_stdout(sys.stderr):
        figures = measure([parts[name] for name in chosen])
        if "throughput" in _measured and BASELINE != "none":
            figures += against_baseline(_measured["throughput"], BASELINE)
    print("\n".join(figures))


if __name__ == "__main__":
    main()
