"""Builds on AWS CodeBuild: start a deployment's build, stop it, and read what its state-change events say.

A Lambda cannot wait an hour for a build, so the runner only starts it (`BuildStarted`); the build's
outcome arrives as an EventBridge "CodeBuild Build State Change" event, which
`build_state.handle_build_state` turns into the deployment's next status. The project never changes per
deployment: everything specific to one build goes in as environment variables (infra.buildspec), among them
the build's only upload target, a presigned POST for its staging prefix (adapters.build_output).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chalicelib.aws import client
from chalicelib.infra.buildspec import BUILD_VARIABLES
from chalicelib.infra.resources import BUILD_PROJECT
from chalicelib.observability import FailureCause, logger
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.adapters.build_output import UploadTarget
    from chalicelib.adapters.runners import BuildJob, BuildReporter, BuildResult, BuildStarted

# CodeBuild's time limits are whole minutes in this range.
MIN_TIMEOUT_MINUTES = 5
MAX_TIMEOUT_MINUTES = 2160

EVENT_SOURCE = "aws.codebuild"
EVENT_DETAIL_TYPE = "CodeBuild Build State Change"
FINAL_STATUSES = ("SUCCEEDED", "FAILED", "FAULT", "STOPPED", "TIMED_OUT")
# The phases that run the buildspec (the user's checkout, command and output); the others are CodeBuild's own.
USER_PHASES = ("INSTALL", "PRE_BUILD", "BUILD", "POST_BUILD")


def project_name() -> str:
    return get_settings().resource_name(BUILD_PROJECT.logical)


def timeout_minutes(timeout_seconds: int) -> int:
    """The project's time limit as CodeBuild takes it: rounded up to whole minutes, within CodeBuild's range."""
    return min(MAX_TIMEOUT_MINUTES, max(MIN_TIMEOUT_MINUTES, math.ceil(timeout_seconds / 60)))


def time_limit_seconds(timeout_seconds: int) -> int:
    """How long CodeBuild actually lets the build run."""
    return timeout_minutes(timeout_seconds) * 60


def log_stream_prefix(deployment_id: int) -> str:
    return f"deployments/{deployment_id}"


def log_stream(deployment_id: int, build_id: str) -> str:
    """CodeBuild names a build's stream `<the prefix StartBuild gave>/<the build's uuid>`."""
    return f"{log_stream_prefix(deployment_id)}/{build_id.rsplit(':', 1)[-1]}"


def upload_expiry_seconds(timeout_seconds: int) -> int:
    """How long the build's upload target stays valid: until the pipeline stops waiting for the build (CodeBuild's
    limit plus the pipeline's margin), so a build CodeBuild kept queued still has its whole limit to upload."""
    return time_limit_seconds(timeout_seconds) + get_settings().pipeline_timeout_margin_seconds


def build_variables(job: BuildJob, target: UploadTarget) -> dict[str, str]:
    """What the buildspec reads; the build command sees the same DEPLOYD_* values it sees locally, and the
    build's own upload target (no credential: a POST that can only put files under its staging prefix)."""
    settings = get_settings()
    values = {
        "CI": "true",
        "DEPLOYD": "1",
        "DEPLOYD_DEPLOYMENT_ID": str(job.deployment_id),
        "DEPLOYD_REPO_URL": job.repo_url,
        "DEPLOYD_COMMIT_SHA": job.commit_sha,
        "DEPLOYD_BRANCH": job.branch,
        "DEPLOYD_BUILD_COMMAND": job.build_command or "",
        "DEPLOYD_OUTPUT_DIR": job.output_dir,
        "DEPLOYD_UPLOAD_URL": target.url,
        "DEPLOYD_UPLOAD_FIELDS": json.dumps(target.fields, sort_keys=True),
        "DEPLOYD_UPLOAD_PREFIX": target.prefix,
        "DEPLOYD_MAX_OUTPUT_FILES": str(settings.max_output_files),
        "DEPLOYD_MAX_OUTPUT_BYTES": str(settings.max_output_bytes),
    }
    assert set(values) == set(BUILD_VARIABLES), "the buildspec and StartBuild must agree on the variables"
    # An empty value is left out: the buildspec treats an unset variable as empty.
    return {name: value for name, value in values.items() if value}


def start_request(job: BuildJob, target: UploadTarget) -> dict[str, Any]:
    """StartBuild's parameters for one deployment."""
    settings = get_settings()
    cloudwatch: dict[str, str] = {"status": "ENABLED", "streamName": log_stream_prefix(job.deployment_id)}
    if settings.build_log_group:
        cloudwatch["groupName"] = settings.build_log_group
    return {
        "projectName": project_name(),
        "environmentVariablesOverride": [
            {"name": name, "value": value, "type": "PLAINTEXT"} for name, value in build_variables(job, target).items()
        ],
        "timeoutInMinutesOverride": timeout_minutes(job.timeout_seconds),
        "logsConfigOverride": {"cloudWatchLogs": cloudwatch, "s3Logs": {"status": "DISABLED"}},
        # The same deployment always sends the same token: CodeBuild starts one build for it, however often
        # the request is repeated (within its idempotency window). The request is signed once per claim
        # (the upload POST), so SDK retries repeat it exactly; a second claim never happens.
        "idempotencyToken": f"{settings.resource_prefix}-deployment-{job.deployment_id}",
    }


class CodeBuildRunner:
    """Starts the deployment's build in the CodeBuild project and returns at once.

    `staging_prefix` is where the build may upload its output: the worker drew its nonce when it claimed the
    deployment, and signs the POST for it here.
    """

    def __init__(self, staging_prefix: str) -> None:
        self.staging_prefix = staging_prefix

    def run(self, job: BuildJob, reporter: BuildReporter) -> BuildResult | BuildStarted:
        # Imported here: the API stops builds and names their log streams, and never runs one.
        from chalicelib.adapters.build_output import upload_target
        from chalicelib.adapters.runners import BuildResult, BuildStarted

        reporter.output(f"==> Starting the build on AWS CodeBuild (project {project_name()})\n")
        try:
            target = upload_target(self.staging_prefix, upload_expiry_seconds(job.timeout_seconds))
            response = client("codebuild").start_build(**start_request(job, target))
        except ClientError as exc:
            return BuildResult("failed", f"could not start the build on CodeBuild: {exc}", failure_cause="platform")
        build_id = str(response["build"]["id"])
        reporter.output(f"==> CodeBuild build {build_id} started\n")
        return BuildStarted(build_id)


def stop(build_id: str) -> None:
    """Stop a build. Never raises: one that already finished is fine, and a cancel must not fail because of it
    (a build that keeps running is harmless: its completion finds the deployment ended and changes nothing)."""
    codebuild = client("codebuild")
    try:
        codebuild.stop_build(id=build_id)
    except ClientError as exc:
        logger.info("build not stopped", extra={"build_id": build_id, "reason": str(exc)})
    except Exception:
        logger.exception("could not stop the build", extra={"build_id": build_id})
    else:
        logger.info("build stop requested", extra={"build_id": build_id})


def _build_id_of(arn_or_id: str) -> str:
    """`arn:aws:codebuild:<region>:<account>:build/<project>:<uuid>` -> `<project>:<uuid>` (StopBuild's id)."""
    return arn_or_id.split(":build/", 1)[-1]


@dataclass(frozen=True)
class BuildStateChange:
    """The parts of a "CodeBuild Build State Change" event deployd acts on."""

    build_id: str
    status: str  # IN_PROGRESS, SUCCEEDED, FAILED, FAULT, STOPPED, TIMED_OUT
    variables: dict[str, str] = field(default_factory=dict)
    timeout_minutes: int | None = None
    phases: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> BuildStateChange:
        detail = event.get("detail") or {}
        info = detail.get("additional-information") or {}
        environment = info.get("environment") or {}
        variables = {
            str(v.get("name")): str(v.get("value", ""))
            for v in environment.get("environment-variables") or []
            if isinstance(v, dict)
        }
        minutes = info.get("timeout-in-minutes")
        return cls(
            build_id=_build_id_of(str(detail.get("build-id", ""))),
            status=str(detail.get("build-status", "")),
            variables=variables,
            timeout_minutes=int(minutes) if isinstance(minutes, int | float) else None,
            phases=tuple(p for p in info.get("phases") or [] if isinstance(p, dict)),
        )

    @property
    def deployment_id(self) -> int | None:
        value = self.variables.get("DEPLOYD_DEPLOYMENT_ID", "")
        return int(value) if value.isdigit() else None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def build_seconds(self) -> int:
        """How long the build command ran (CodeBuild's BUILD phase), as LocalBuildRunner counts it."""
        for phase in self.phases:
            if phase.get("phase-type") == "BUILD" and isinstance(phase.get("duration-in-seconds"), int | float):
                return int(phase["duration-in-seconds"])
        return 0

    def _failed_phase(self) -> tuple[str, str]:
        for phase in self.phases:
            if phase.get("phase-status") not in (None, "SUCCEEDED"):
                context = "; ".join(str(c) for c in phase.get("phase-context") or [] if c)
                return str(phase.get("phase-type", "")), context
        return "", ""

    def failure_cause(self) -> FailureCause:
        """The user's build (its checkout, command, output or time limit) or the platform (a CodeBuild FAULT, a
        stop outside deployd, a phase of CodeBuild's own: provisioning, downloading, finalizing)."""
        if self.status == "TIMED_OUT":
            return "build"
        if self.status in ("FAULT", "STOPPED"):
            return "platform"
        phase, _ = self._failed_phase()
        return "build" if phase in USER_PHASES else "platform"

    def failure_message(self) -> str:
        """What the user reads as the deployment's error_message, in the words LocalBuildRunner uses."""
        if self.status == "TIMED_OUT":
            if self.timeout_minutes:
                return f"build exceeded its time limit of {self.timeout_minutes * 60} seconds"
            return "build exceeded its time limit"
        if self.status == "STOPPED":
            return "the build was stopped outside deployd (CodeBuild StopBuild)"
        phase, context = self._failed_phase()
        detail = f": {context}" if context else ""
        if self.status == "FAULT":
            return f"the build service failed (CodeBuild FAULT{' in ' + phase if phase else ''}){detail}"
        if phase == "PRE_BUILD":
            return f"could not check out {self.variables.get('DEPLOYD_COMMIT_SHA', 'the commit')}{detail}"
        if phase == "BUILD":
            exit_status = re.search(r"exit status (\d+)", context)
            if exit_status:
                return f"build command exited with status {exit_status.group(1)}"
            return f"build command failed{detail}"
        if phase == "POST_BUILD":
            output_dir = self.variables.get("DEPLOYD_OUTPUT_DIR", ".")
            return f"output directory '{output_dir}' was not found after the build, or its upload failed{detail}"
        if phase:
            return f"the build failed in CodeBuild's {phase} phase{detail}"
        return "the build failed"
