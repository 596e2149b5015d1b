"""The build worker: one SQS message per deployment, carrying the state machine's task token.

It claims the deployment (queued -> cloning, a conditional write, so a redelivered message or a second
worker does nothing), runs the build through a BuildRunner while heartbeating the state machine and
watching for a cancel, records the outcome, and answers the task token.

A build that runs elsewhere (CodeBuild) ends differently: the worker records the build's id and returns
without answering; `build_state.handle_build_state` finishes the deployment when the build's completion
event arrives.
"""

from __future__ import annotations

import contextvars
import threading
from datetime import UTC, datetime
from typing import Any

from pynamodb.transactions import TransactWrite

from chalicelib.adapters import build_output, codebuild, executions, sites
from chalicelib.adapters.build_logs import BuildLog
from chalicelib.adapters.codebuild import CodeBuildRunner
from chalicelib.adapters.runners import BuildJob, BuildResult, BuildRunner, BuildStarted, LocalBuildRunner
from chalicelib.errors import ConditionFailed, NotFound
from chalicelib.models.attributes import utc_now
from chalicelib.models.base import read_together
from chalicelib.models.conditional import transact, try_update
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.observability import build_duration, deployment_context, logger, queue_wait
from chalicelib.services import deployments, preview_build_lock, statuses
from chalicelib.services.preview_build_lock import PreviewBuildLock
from chalicelib.settings import get_settings
from chalicelib.vocabulary import NON_TERMINAL, Status


class DeploymentReporter:
    """Records status moves, streams output to the build log, and keeps the state machine informed.

    A background thread sends task heartbeats and re-reads the deployment, so a cancel made through the
    API (or an execution stopped for any reason) reaches the runner within one heartbeat interval.
    """

    def __init__(self, deployment: Deployment, task_token: str, log: BuildLog) -> None:
        self._deployment = deployment
        self._token = task_token
        self._log = log
        self._stop = threading.Event()
        self._cancelled = threading.Event()
        # Run in a copy of this context so the thread's log lines keep deployment_id and project_id.
        self._thread = threading.Thread(
            target=contextvars.copy_context().run, args=(self._beat,), name=f"heartbeat-{deployment.id}", daemon=True
        )

    def __enter__(self) -> DeploymentReporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        interval = get_settings().heartbeat_interval_seconds
        while not self._stop.wait(interval):
            try:
                try:
                    record = Deployment.get(self._deployment.id, consistent_read=True, attributes_to_get=["status"])
                except Deployment.DoesNotExist:  # cancelled and then deleted: stop all the same
                    self._cancelled.set()
                    return
                status = record.status
                if status not in NON_TERMINAL:
                    self._cancelled.set()
                    return
                if not executions.heartbeat(self._token):
                    self._cancelled.set()
                    return
            except Exception:  # a missed beat is retried on the next tick; the state machine tolerates one
                logger.exception("heartbeat failed")

    def stage(self, status: Status) -> bool:
        leaving = {Status.BUILDING: (Status.CLONING,), Status.UPLOADING: (Status.BUILDING,)}[status]
        moved = DeploymentRepository.transition(self._deployment, leaving, status)
        if moved:
            self._log.line(f"Status: {status}")
            logger.info(f"deployment {status}")
        else:
            self._cancelled.set()
        return moved

    def output(self, text: str) -> None:
        self._log.write(text)

    def should_stop(self) -> bool:
        return self._cancelled.is_set()


def runner_for(deployment: Deployment) -> BuildRunner:
    """CodeBuild on AWS (settings.build_runner = "codebuild"); a local process otherwise (the embedded stack)."""
    if get_settings().build_runner == "codebuild":
        prefix = staging_prefix(deployment)
        if prefix is None:
            raise RuntimeError("the deployment was claimed without a staging nonce")
        return CodeBuildRunner(prefix)
    return LocalBuildRunner()


def staging_prefix(deployment: Deployment) -> str | None:
    """Where the deployment's CodeBuild build may upload: the nonce comes from the worker's claim only."""
    if not deployment.staging_nonce:
        return None
    return build_output.staging_prefix(deployment.id, deployment.staging_nonce)


def seconds_since(moment: datetime | None) -> float:
    if not moment:
        return 0.0
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())


def handle_build(message: dict[str, Any]) -> None:
    deployment_id = int(message["deployment_id"])
    token = str(message["task_token"])
    deployment, project = _read_for_build(deployment_id, message)
    if deployment is None:
        executions.fail(token, "DeploymentNotFound", f"deployment {deployment_id} does not exist")
        return
    with deployment_context(deployment_id, deployment.project_id):
        if deployment.status != Status.QUEUED:
            # A redelivery, or cancelled before any worker got to it. Only the first claim builds.
            logger.info("build message ignored", extra={"status": deployment.status})
            if deployment.status == Status.CANCELLED:
                executions.fail(token, "DeploymentCancelled", "cancelled before the build started")
            return
        if project is None or project.id != deployment.project_id:
            try:
                project = ProjectRepository.get_by_id(deployment.project_id)
            except NotFound:
                deployments.record_failure(
                    deployment, "the project was deleted before the build started", cause="build"
                )
                executions.fail(token, "ProjectDeleted")
                return
        if not _claim(deployment, token):
            return
        logger.info("deployment cloning")
        queue_wait(seconds_since(deployment.created_at))
        outcome = _build(deployment, project, token)
        if isinstance(outcome, BuildStarted):
            # The token is answered when the build's completion event arrives (handle_build_state).
            logger.info("build started elsewhere", extra={"build_id": outcome.build_id})
            return
        _record_outcome(deployment, token, outcome)


def _read_for_build(deployment_id: int, message: dict[str, Any]) -> tuple[Deployment | None, Project | None]:
    """The deployment and its project, read together when the message names the project."""
    if "project_id" not in message:
        return DeploymentRepository.find(deployment_id), None
    deployment, project = read_together((Deployment, deployment_id, None), (Project, int(message["project_id"]), None))
    return deployment, project


def _claim(deployment: Deployment, token: str) -> bool:
    """queued -> cloning, with its "in_progress" status, in one transaction: only the first claim builds (a
    redelivered message, or a second worker, finds the deployment claimed and does nothing)."""
    now = utc_now()
    fields: dict[str, Any] = {
        "status": Status.CLONING,
        "updated_at": now,
        "started_at": now,
        "task_token": token,
        "staging_nonce": build_output.new_nonce(),
    }
    report = statuses.pipeline_report(deployment, Status.CLONING)

    def claim(tx: TransactWrite) -> None:
        actions = [getattr(Deployment, name).set(value) for name, value in fields.items()]
        tx.update(
            Deployment(id=deployment.id),
            actions=[*actions, Deployment.event_seq.add(1), *report.actions],
            condition=Deployment.status == Status.QUEUED,
        )
        report.write(tx)

    try:
        transact(claim)
    except ConditionFailed:
        return False
    for name, value in fields.items():
        setattr(deployment, name, value)
    deployment.event_seq = (deployment.event_seq or 0) + 1
    deployment.reported_rank = report.rank
    return True


def _build(deployment: Deployment, project: Project, token: str) -> BuildResult | BuildStarted:
    """Run the build with a live log and a heartbeat; a crashing runner is a failed build, never a stuck one."""
    deployment_id = deployment.id
    job = BuildJob(
        deployment_id=deployment_id,
        repo_url=project.repo_url,
        commit_sha=deployment.commit_sha,
        branch=deployment.branch,
        build_command=project.build_command,
        output_dir=project.output_dir,
        timeout_seconds=project.build_timeout_seconds,
        artifact_prefix=sites.artifact_prefix(deployment_id),
    )
    outcome: BuildResult | BuildStarted
    with BuildLog(deployment_id) as log:
        log.line("Status: cloning")
        with DeploymentReporter(deployment, token, log) as reporter:
            try:
                with preview_build_lock.held(deployment, reporter, log) as lock:
                    if reporter.should_stop():
                        outcome = BuildResult("cancelled")
                    else:
                        outcome = runner_for(deployment).run(job, reporter)
                    if isinstance(outcome, BuildStarted):
                        outcome = _hand_over(deployment, outcome, lock)
            except Exception:
                logger.exception("build runner crashed")
                # The detail (which may name internals) is in the platform's log, not in what the user reads.
                outcome = BuildResult(
                    "failed", "the build failed inside deployd (a platform error); try again", failure_cause="platform"
                )
        if isinstance(outcome, BuildResult) and outcome.outcome in ("failed", "timed_out"):
            log.line(f"Failed: {outcome.message}")
    return outcome


def _hand_over(deployment: Deployment, started: BuildStarted, lock: PreviewBuildLock) -> BuildResult | BuildStarted:
    """Record the started build on the deployment, and leave its completion (and the preview build lock) to
    `handle_build_state`. A deployment that ended meanwhile gets its build stopped instead."""
    try:
        recorded = try_update(
            deployment,
            [Deployment.build_id.set(started.build_id), Deployment.updated_at.set(utc_now())],
            Deployment.status.is_in(*NON_TERMINAL)
            & (Deployment.build_id.does_not_exist() | (Deployment.build_id == started.build_id)),
        )
    except Exception:
        codebuild.stop(started.build_id)  # nobody would ever hear of this build: do not let it run
        raise
    if not recorded:
        deployment.refresh(consistent_read=True)
        logger.info("deployment ended while its build started", extra={"status": deployment.status})
        codebuild.stop(started.build_id)
        if deployment.status == Status.CANCELLED:
            return BuildResult("cancelled")
        return started  # already finished by the build's own completion event: nothing left to do here
    lock.hand_over()
    return started


def _record_outcome(deployment: Deployment, token: str, result: BuildResult) -> None:
    """The end of a build the worker ran itself: record it and answer the task token."""
    if result.outcome == "succeeded":
        deployment.update(
            actions=[
                Deployment.build_time_seconds.set(result.build_time_seconds),
                Deployment.artifact_prefix.set(sites.artifact_prefix(deployment.id)),
            ]
        )
        logger.info("build succeeded", extra={"build_time_seconds": result.build_time_seconds})
        build_duration(seconds_since(deployment.started_at))
        executions.succeed(token, {"deployment_id": deployment.id})
    elif result.outcome == "cancelled":
        logger.info("build stopped: deployment cancelled")
        executions.fail(token, "DeploymentCancelled", "cancelled during the build")
    else:
        message = result.message or "the build failed"
        if deployments.record_failure(
            deployment, message, result.build_time_seconds or None, cause=result.failure_cause
        ):
            logger.info("build failed", extra={"error_message": message})
            build_duration(seconds_since(deployment.started_at))
        # Answered even if a cancel ended the deployment first: the worker owns its token.
        executions.fail(token, "BuildFailed", message)
