"""The build worker: one SQS message per deployment, carrying the state machine's task token.

It claims the deployment (queued -> cloning, a conditional write, so a redelivered message or a second
worker does nothing), runs the build through a BuildRunner while heartbeating the state machine and
watching for a cancel, records the outcome, and answers the task token.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator
from typing import Any

from pynamodb.exceptions import UpdateError

from chalicelib.errors import NotFound
from chalicelib.infra.state_machine import NON_TERMINAL
from chalicelib.models.base import utc_now
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import Environment, EnvironmentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.observability import deployment_context, logger
from chalicelib.pipeline import executions
from chalicelib.pipeline.runners import BuildJob, BuildResult, BuildRunner, LocalBuildRunner
from chalicelib.services import build_slots, deployments, sites, statuses
from chalicelib.services.build_logs import BuildLog
from chalicelib.settings import get_settings


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

    def stage(self, status: str) -> bool:
        leaving = {"building": ("cloning",), "uploading": ("building",)}[status]
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


def runner_for(_deployment: Deployment) -> BuildRunner:
    return LocalBuildRunner()


def handle_build(message: dict[str, Any]) -> None:
    deployment_id = int(message["deployment_id"])
    token = str(message["task_token"])
    deployment = DeploymentRepository.find(deployment_id)
    if deployment is None:
        executions.fail(token, "DeploymentNotFound", f"deployment {deployment_id} does not exist")
        return
    with deployment_context(deployment_id, int(deployment.project_id)):
        if deployment.status != "queued":
            # A redelivery, or cancelled before any worker got to it. Only the first claim builds.
            logger.info("build message ignored", extra={"status": deployment.status})
            if deployment.status == "cancelled":
                executions.fail(token, "DeploymentCancelled", "cancelled before the build started")
            return
        try:
            project = ProjectRepository.get_by_id(int(deployment.project_id))
        except NotFound:
            deployments.record_failure(deployment, "the project was deleted before the build started")
            executions.fail(token, "ProjectDeleted")
            return
        if not DeploymentRepository.transition(deployment, ("queued",), "cloning", started_at=utc_now()):
            return
        logger.info("deployment cloning")
        statuses.report_pipeline_state(deployment)
        result = _build(deployment, project, token)
        _record_outcome(deployment, token, result)


def _build(deployment: Deployment, project: Project, token: str) -> BuildResult:
    """Run the build with a live log and a heartbeat; a crashing runner is a failed build, never a stuck one."""
    deployment_id = int(deployment.id)
    job = BuildJob(
        deployment_id=deployment_id,
        repo_url=project.repo_url,
        commit_sha=deployment.commit_sha,
        branch=deployment.branch,
        build_command=project.build_command,
        output_dir=project.output_dir,
        timeout_seconds=int(project.build_timeout_seconds),
        artifact_prefix=sites.artifact_prefix(deployment_id),
    )
    with BuildLog(deployment_id) as log:
        log.line("Status: cloning")
        with DeploymentReporter(deployment, token, log) as reporter:
            try:
                with exclusive_build(deployment, reporter, log):
                    result = (
                        runner_for(deployment).run(job, reporter)
                        if not reporter.should_stop()
                        else BuildResult("cancelled")
                    )
            except Exception as exc:
                logger.exception("build runner crashed")
                result = BuildResult("failed", f"the build runner crashed: {exc.__class__.__name__}: {exc}")
        if result.outcome in ("failed", "timed_out"):
            log.line(f"Failed: {result.message}")
    return result


@contextlib.contextmanager
def exclusive_build(deployment: Deployment, reporter: DeploymentReporter, log: BuildLog) -> Iterator[None]:
    """A branch preview never has two builds running: the build takes its environment's single builder
    place with a conditional write, waiting (heartbeating) while a superseded build is still stopping.

    A holder that cannot give the place back (its worker died) is a deployment the state machine has ended;
    its place is taken over once it is terminal and the heartbeat limit has passed.
    """
    if not deployment.environment.startswith(sites.PREVIEW_PREFIX):
        yield
        return
    holder = Environment(project_id=deployment.project_id, name=deployment.environment)
    me = int(deployment.id)
    patience = time.monotonic() + 2 * get_settings().heartbeat_seconds
    announced = False
    while not reporter.should_stop():
        try:
            holder.update(
                actions=[Environment.builder.set(me)],
                condition=Environment.builder.does_not_exist() | (Environment.builder == me),
            )
            break
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
        if not announced:
            log.line("Waiting for the superseded build of this preview to stop")
            announced = True
        if time.monotonic() > patience:
            _evict_stale_builder(holder)
        time.sleep(0.2)
    try:
        yield
    finally:
        try:
            holder.update(actions=[Environment.builder.remove()], condition=Environment.builder == me)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise


def _evict_stale_builder(holder: Environment) -> None:
    current = EnvironmentRepository.find(int(holder.project_id), holder.name)
    if current is None or current.builder is None:
        return
    stale = DeploymentRepository.find(int(current.builder))
    if stale is None or stale.is_terminal:
        try:
            holder.update(actions=[Environment.builder.remove()], condition=Environment.builder == current.builder)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise


def _record_outcome(deployment: Deployment, token: str, result: BuildResult) -> None:
    if result.outcome == "succeeded":
        deployment.update(
            actions=[
                Deployment.build_time_seconds.set(result.build_time_seconds),
                Deployment.artifact_prefix.set(sites.artifact_prefix(int(deployment.id))),
            ]
        )
        logger.info("build succeeded", extra={"build_time_seconds": result.build_time_seconds})
        executions.succeed(token, {"deployment_id": int(deployment.id)})
    elif result.outcome == "cancelled":
        logger.info("build stopped: deployment cancelled")
        executions.fail(token, "DeploymentCancelled", "cancelled during the build")
    else:
        message = result.message or "the build failed"
        if result.build_time_seconds:
            deployment.update(actions=[Deployment.build_time_seconds.set(result.build_time_seconds)])
        deployments.record_failure(deployment, message)
        logger.info("build failed", extra={"error_message": message})
        executions.fail(token, "BuildFailed", message)


def handle_activation(message: dict[str, Any]) -> None:
    """The pipeline's short steps, all on the activation queue: a build-slot request, the end of a
    deployment the state machine failed itself (silence, time limit), and going live."""
    deployment_id = int(message["deployment_id"])
    if message.get("event") == "acquire_slot":
        build_slots.request(deployment_id, str(message["task_token"]))
        return
    if "task_token" not in message:  # the state machine ended a deployment itself
        ended = DeploymentRepository.find(deployment_id)
        if ended is not None:
            with deployment_context(deployment_id, int(ended.project_id)):
                statuses.report_pipeline_state(ended)
                build_slots.release(ended)
        return
    token = str(message["task_token"])
    deployment = DeploymentRepository.find(deployment_id)
    if deployment is None:
        executions.fail(token, "DeploymentNotFound")
        return
    with deployment_context(deployment_id, int(deployment.project_id)):
        if deployments.activate(deployment):
            executions.succeed(token, {"deployment_id": deployment_id})
        else:
            logger.info("activation skipped", extra={"status": deployment.status})
            executions.fail(token, "DeploymentNotDeploying", f"deployment is {deployment.status}")
