"""The build worker: one SQS message per deployment, carrying the state machine's task token.

It claims the deployment (queued -> cloning, a conditional write, so a redelivered message or a second
worker does nothing), runs the build through a BuildRunner while heartbeating the state machine and
watching for a cancel, records the outcome, and answers the task token.

A build that runs elsewhere (CodeBuild) ends differently: the worker records the build's id and returns
without answering; `handle_build_state` finishes the deployment when the build's completion event arrives,
publishing what the build staged (pipeline.build_output) before the pipeline moves on.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from chalicelib.errors import NotFound
from chalicelib.models.base import utc_now
from chalicelib.models.conditional import try_update
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import Environment, EnvironmentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.observability import (
    FailureCause,
    build_duration,
    deployment_context,
    deployment_event,
    logger,
    queue_wait,
)
from chalicelib.pipeline import build_output, codebuild, executions
from chalicelib.pipeline.build_output import OutputRefused
from chalicelib.pipeline.codebuild import BuildStateChange, CodeBuildRunner
from chalicelib.pipeline.runners import BuildJob, BuildResult, BuildRunner, BuildStarted, LocalBuildRunner
from chalicelib.services import build_slots, deployments, sites, statuses
from chalicelib.services.build_logs import BuildLog
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
        prefix = _staging_prefix(deployment)
        if prefix is None:
            raise RuntimeError("the deployment was claimed without a staging nonce")
        return CodeBuildRunner(prefix)
    return LocalBuildRunner()


def _staging_prefix(deployment: Deployment) -> str | None:
    """Where the deployment's CodeBuild build may upload: the nonce comes from the worker's claim only."""
    if not deployment.staging_nonce:
        return None
    return build_output.staging_prefix(int(deployment.id), deployment.staging_nonce)


def _seconds_since(timestamp: str | None) -> float:
    if not timestamp:
        return 0.0
    return max(0.0, (datetime.now(UTC) - datetime.fromisoformat(timestamp)).total_seconds())


def handle_build(message: dict[str, Any]) -> None:
    deployment_id = int(message["deployment_id"])
    token = str(message["task_token"])
    deployment = DeploymentRepository.find(deployment_id)
    if deployment is None:
        executions.fail(token, "DeploymentNotFound", f"deployment {deployment_id} does not exist")
        return
    with deployment_context(deployment_id, int(deployment.project_id)):
        if deployment.status != Status.QUEUED:
            # A redelivery, or cancelled before any worker got to it. Only the first claim builds.
            logger.info("build message ignored", extra={"status": deployment.status})
            if deployment.status == Status.CANCELLED:
                executions.fail(token, "DeploymentCancelled", "cancelled before the build started")
            return
        try:
            project = ProjectRepository.get_by_id(int(deployment.project_id))
        except NotFound:
            deployments.record_failure(deployment, "the project was deleted before the build started", cause="build")
            executions.fail(token, "ProjectDeleted")
            return
        claimed = DeploymentRepository.transition(
            deployment,
            (Status.QUEUED,),
            Status.CLONING,
            started_at=utc_now(),
            task_token=token,
            staging_nonce=build_output.new_nonce(),
        )
        if not claimed:
            return
        logger.info("deployment cloning")
        queue_wait(_seconds_since(deployment.created_at))
        statuses.report_pipeline_state(deployment)
        outcome = _build(deployment, project, token)
        if isinstance(outcome, BuildStarted):
            # The token is answered when the build's completion event arrives (handle_build_state).
            logger.info("build started elsewhere", extra={"build_id": outcome.build_id})
            return
        _record_outcome(deployment, token, outcome)


def _build(deployment: Deployment, project: Project, token: str) -> BuildResult | BuildStarted:
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
    outcome: BuildResult | BuildStarted
    with BuildLog(deployment_id) as log:
        log.line("Status: cloning")
        with DeploymentReporter(deployment, token, log) as reporter:
            try:
                with exclusive_build(deployment, reporter, log) as place:
                    if reporter.should_stop():
                        outcome = BuildResult("cancelled")
                    else:
                        outcome = runner_for(deployment).run(job, reporter)
                    if isinstance(outcome, BuildStarted):
                        outcome = _hand_over(deployment, outcome, place)
            except Exception:
                logger.exception("build runner crashed")
                # The detail (which may name internals) is in the platform's log, not in what the user reads.
                outcome = BuildResult(
                    "failed", "the build failed inside deployd (a platform error); try again", failure_cause="platform"
                )
        if isinstance(outcome, BuildResult) and outcome.outcome in ("failed", "timed_out"):
            log.line(f"Failed: {outcome.message}")
    return outcome


def _hand_over(deployment: Deployment, started: BuildStarted, place: BuilderPlace) -> BuildResult | BuildStarted:
    """Record the started build on the deployment, and leave its completion (and the builder place) to
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
    place.hand_over()
    return started


class BuilderPlace:
    """A branch preview's single builder place (`Environment.builder`): a preview never has two builds running.

    Taken with a conditional write before the build starts, waiting (heartbeating) while a superseded build is
    still stopping. A build that runs in the worker gives it back when it ends; one that runs on CodeBuild
    hands it over, and the build's completion gives it back (`release_builder_place`).

    A holder that cannot give the place back (its worker died, its completion event was lost) is a deployment
    that has ended; its place is taken over once it is terminal and the heartbeat limit has passed.
    """

    def __init__(self, deployment: Deployment) -> None:
        self._deployment = deployment
        self.handed_over = False

    def take(self, reporter: DeploymentReporter, log: BuildLog) -> None:
        deployment = self._deployment
        if not deployment.environment.startswith(sites.PREVIEW_PREFIX):
            return
        holder = Environment(project_id=deployment.project_id, name=deployment.environment)
        me = int(deployment.id)
        patience = time.monotonic() + 2 * get_settings().heartbeat_seconds
        announced = False
        while not reporter.should_stop():
            if try_update(
                holder,
                [Environment.builder.set(me)],
                Environment.builder.does_not_exist() | (Environment.builder == me),
            ):
                return
            if not announced:
                log.line("Waiting for the superseded build of this preview to stop")
                announced = True
            if time.monotonic() > patience:
                _evict_stale_builder(holder)
            time.sleep(0.2)

    def hand_over(self) -> None:
        self.handed_over = True


@contextlib.contextmanager
def exclusive_build(deployment: Deployment, reporter: DeploymentReporter, log: BuildLog) -> Iterator[BuilderPlace]:
    """Hold the preview's builder place around the build (see BuilderPlace); a no-op outside previews."""
    place = BuilderPlace(deployment)
    place.take(reporter, log)
    try:
        yield place
    finally:
        if not place.handed_over:
            release_builder_place(deployment)


def release_builder_place(deployment: Deployment) -> None:
    """Give the preview's builder place back if this deployment holds it; anything else is left alone."""
    if not deployment.environment.startswith(sites.PREVIEW_PREFIX):
        return
    holder = Environment(project_id=deployment.project_id, name=deployment.environment)
    try_update(holder, [Environment.builder.remove()], Environment.builder == int(deployment.id))


def _evict_stale_builder(holder: Environment) -> None:
    current = EnvironmentRepository.find(int(holder.project_id), holder.name)
    if current is None or current.builder is None:
        return
    stale = DeploymentRepository.find(int(current.builder))
    if stale is None or stale.is_terminal:
        try_update(holder, [Environment.builder.remove()], Environment.builder == current.builder)


def _record_outcome(deployment: Deployment, token: str, result: BuildResult) -> None:
    """The end of a build the worker ran itself: record it and answer the task token."""
    if result.outcome == "succeeded":
        deployment.update(
            actions=[
                Deployment.build_time_seconds.set(result.build_time_seconds),
                Deployment.artifact_prefix.set(sites.artifact_prefix(int(deployment.id))),
            ]
        )
        logger.info("build succeeded", extra={"build_time_seconds": result.build_time_seconds})
        build_duration(_seconds_since(deployment.started_at))
        executions.succeed(token, {"deployment_id": int(deployment.id)})
    elif result.outcome == "cancelled":
        logger.info("build stopped: deployment cancelled")
        executions.fail(token, "DeploymentCancelled", "cancelled during the build")
    else:
        message = result.message or "the build failed"
        if deployments.record_failure(
            deployment, message, result.build_time_seconds or None, cause=result.failure_cause
        ):
            logger.info("build failed", extra={"error_message": message})
            build_duration(_seconds_since(deployment.started_at))
        # Answered even if a cancel ended the deployment first: the worker owns its token.
        executions.fail(token, "BuildFailed", message)


def _is_its_build(deployment: Deployment, build_id: str) -> bool:
    """Whether the event's build is the deployment's. A deployment whose worker has not recorded its build
    yet (the event outran it) adopts the build with the same conditional write the worker uses."""
    if deployment.build_id is not None:
        return bool(deployment.build_id == build_id)
    if try_update(
        deployment,
        [Deployment.build_id.set(build_id)],
        Deployment.build_id.does_not_exist() | (Deployment.build_id == build_id),
    ):
        return True
    deployment.refresh(consistent_read=True)
    return bool(deployment.build_id == build_id)


def handle_build_state(change: BuildStateChange) -> None:
    """A CodeBuild build changed state (EventBridge): move its deployment on and answer the Build task.

    Idempotent and order-proof: EventBridge may repeat an event or deliver it late, so every change is a
    conditional write on the status it leaves, and an event that finds its deployment past that status does
    nothing. The one exception is a success whose deployment is still `uploading`: its task is answered
    again (a repeat is ignored by Step Functions), so a retried invocation always completes the pipeline.
    """
    deployment_id = change.deployment_id
    deployment = DeploymentRepository.find(deployment_id) if deployment_id is not None else None
    if deployment is None or deployment_id is None:
        logger.warning(
            "build event for no known deployment ignored",
            extra={"build_id": change.build_id, "deployment_id": deployment_id},
        )
        return
    with deployment_context(deployment_id, int(deployment.project_id)):
        if not _is_its_build(deployment, change.build_id):
            logger.warning("event of a build that is not the deployment's ignored", extra={"build_id": change.build_id})
            return
        if change.status == "IN_PROGRESS":
            if DeploymentRepository.transition(deployment, (Status.CLONING,), Status.BUILDING):
                logger.info("deployment building", extra={"build_id": change.build_id})
            return
        if not change.is_final:
            return
        token = deployment.task_token
        release_builder_place(deployment)  # the build is over, whatever it came to
        if not token:
            logger.warning("build finished for a deployment without a task token", extra={"status": deployment.status})
            return
        if deployment.status == Status.CANCELLED:  # stopped by the cancel, or it ended before the stop reached it
            logger.info("build ended: deployment cancelled", extra={"build_status": change.status})
            _discard_staging(deployment)
            executions.fail(token, "DeploymentCancelled", "cancelled during the build")
        elif change.status == "SUCCEEDED":
            _finish_succeeded(deployment, token, change)
        else:
            _finish_failed(deployment, token, change)


def _finish_succeeded(deployment: Deployment, token: str, change: BuildStateChange) -> None:
    moved = DeploymentRepository.transition(
        deployment,
        (Status.CLONING, Status.BUILDING),  # building unless its IN_PROGRESS event is late (or lost)
        Status.UPLOADING,  # what MarkDeploying expects, once the staged output is published
        build_time_seconds=change.build_seconds,
    )
    if moved:
        logger.info("build succeeded", extra={"build_time_seconds": change.build_seconds})
        build_duration(_seconds_since(deployment.started_at))
    else:
        deployment.refresh(consistent_read=True)
        if deployment.status != Status.UPLOADING:
            logger.info("late or repeated build event ignored", extra={"status": deployment.status})
            _discard_staging(deployment)
            return
    # A retried invocation finds the output published already (artifact_prefix is set only then).
    if deployment.artifact_prefix is None and not _publish(deployment, token):
        return
    executions.succeed(token, {"deployment_id": int(deployment.id)})


def _publish(deployment: Deployment, token: str) -> bool:
    """Promote what the build staged into the deployment's artifact prefix, and record that prefix.

    False when the deployment failed for its output (over a limit, no or a wrong manifest) or was cancelled
    meanwhile: its task has been answered then. S3 errors propagate, so the event's invocation is retried.
    """
    prefix = _staging_prefix(deployment)
    try:
        if prefix is None:
            raise OutputRefused("the build's upload target was never recorded")
        files = build_output.promote(int(deployment.id), prefix)
    except OutputRefused as exc:
        message = str(exc)
        # What the build uploaded is the user's build's doing; a missing upload target is the platform's.
        cause: FailureCause = "build" if prefix is not None else "platform"
        if deployments.record_failure(deployment, message, cause=cause):
            logger.info("build output refused", extra={"error_message": message})
        _discard_staging(deployment)
        executions.fail(token, "BuildFailed", message)
        return False
    if not DeploymentRepository.transition(
        deployment, (Status.UPLOADING,), Status.UPLOADING, artifact_prefix=sites.artifact_prefix(int(deployment.id))
    ):
        deployment.refresh(consistent_read=True)
        logger.info("deployment ended while its output was published", extra={"status": deployment.status})
        _discard_staging(deployment)
        if deployment.status == Status.CANCELLED:
            executions.fail(token, "DeploymentCancelled", "cancelled during the upload")
        return False
    logger.info("build output published", extra={"files": files})
    _discard_staging(deployment)
    return True


def _discard_staging(deployment: Deployment) -> None:
    prefix = _staging_prefix(deployment)
    if prefix is not None:
        build_output.discard(prefix)


def _finish_failed(deployment: Deployment, token: str, change: BuildStateChange) -> None:
    message = change.failure_message()
    _discard_staging(deployment)
    if not deployments.record_failure(deployment, message, change.build_seconds or None, cause=change.failure_cause()):
        logger.info("late or repeated build event ignored", extra={"status": deployment.status})
        return
    logger.info("build failed", extra={"error_message": message, "build_status": change.status})
    build_duration(_seconds_since(deployment.started_at))
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
                published = statuses.report_pipeline_state(ended)
                if published is not None and ended.status == Status.FAILED:
                    # Whoever ends a deployment publishes its end first: nobody did, so the state machine
                    # failed it itself (silence, time limit). Its CodeBuild build, if any, must not run on.
                    deployment_event("failed", "platform")
                    if ended.build_id:
                        codebuild.stop(ended.build_id)
                        release_builder_place(ended)
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
