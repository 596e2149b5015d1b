"""Build runners: turn a commit into uploaded artifacts, behind one interface.

`LocalBuildRunner` checks out, builds in a subprocess and uploads from the worker itself, and returns the
build's result. `CodeBuildRunner` (chalicelib.adapters.codebuild) only starts the build and returns
`BuildStarted`: its outcome arrives later, as an EventBridge event. Runners report through a
`BuildReporter`, which records the status moves and tells them when to stop (cancel).
"""

from __future__ import annotations

import codecs
import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from chalicelib.adapters import git, sandbox, sites
from chalicelib.observability import FailureCause, logger
from chalicelib.settings import get_settings
from chalicelib.vocabulary import Status

Outcome = Literal["succeeded", "failed", "timed_out", "cancelled"]


class BuildJob(NamedTuple):
    deployment_id: int
    repo_url: str
    commit_sha: str
    branch: str
    build_command: str | None
    output_dir: str
    timeout_seconds: int
    artifact_prefix: str


class BuildResult(NamedTuple):
    outcome: Outcome
    message: str | None = None
    build_time_seconds: int = 0
    files_uploaded: int = 0
    # A failed build is the user's (exit status, time limit, output limits, checkout) unless said otherwise.
    failure_cause: FailureCause = "build"


class BuildStarted(NamedTuple):
    """The build runs elsewhere (CodeBuild); its outcome is handled when its completion event arrives."""

    build_id: str


class BuildReporter(Protocol):
    def stage(self, status: Status) -> bool:
        """Record the move to `status`; False means the deployment was cancelled meanwhile."""

    def output(self, text: str) -> None: ...

    def should_stop(self) -> bool: ...


class BuildRunner(Protocol):
    def run(self, job: BuildJob, reporter: BuildReporter) -> BuildResult | BuildStarted: ...


# The build sees a minimal environment: none of the platform's credentials or settings.
_SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


BUILD_USER = "deployd-build"


def build_environment(job: BuildJob, home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("DEPLOYD_BUILD_PATH", _SAFE_PATH),
        "HOME": str(home),
        "TMPDIR": str(home),
        # The build's uid has no account on the machine: tools that ask who they are (getpass, npm, ssh) read these.
        "USER": BUILD_USER,
        "LOGNAME": BUILD_USER,
        "LANG": "C.UTF-8",
        "CI": "true",
        "DEPLOYD": "1",
        "DEPLOYD_DEPLOYMENT_ID": str(job.deployment_id),
        "DEPLOYD_COMMIT_SHA": job.commit_sha,
        "DEPLOYD_BRANCH": job.branch,
    }


def _resolve_output(checkout: Path, output_dir: str) -> Path | None:
    target = (checkout / output_dir).resolve()
    if target != checkout.resolve() and checkout.resolve() not in target.parents:
        return None  # output_dir escapes the checkout
    return target if target.is_dir() else None


class LocalBuildRunner:
    """Runs the build command with /bin/sh in a fresh workspace, sandboxed (chalicelib.adapters.sandbox): its own
    PID and mount namespaces and, when deployd runs as root, an unprivileged uid of its own."""

    poll_seconds = 0.1
    kill_grace_seconds = 3.0

    def run(self, job: BuildJob, reporter: BuildReporter) -> BuildResult:
        root = sandbox.create_workspace(job.deployment_id)
        try:
            return self._run_in(root, job, reporter)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _run_in(self, root: Path, job: BuildJob, reporter: BuildReporter) -> BuildResult:
        checkout = root / "src"
        home = root / "home"
        home.mkdir()
        settings = get_settings()
        # The build's time limit starts before the clone: a slow or silent repository spends it too.
        deadline = time.monotonic() + job.timeout_seconds
        reporter.output(f"==> Cloning {git.display_url(job.repo_url)} at {job.commit_sha} ({job.branch})\n")
        failed_clone = self._clone(job, checkout, deadline, reporter)
        if failed_clone is not None:
            return failed_clone
        if not reporter.stage(Status.BUILDING):
            reporter.output("==> Build cancelled before its command ran\n")
            return BuildResult("cancelled")
        started = time.monotonic()
        if job.build_command:
            reporter.output(f"==> Running build command: {job.build_command}\n")
            outcome, message = self._execute(job, checkout, home, reporter, deadline)
            if outcome != "succeeded":
                return BuildResult(outcome, message, int(time.monotonic() - started))
        else:
            reporter.output("==> No build command: publishing the repository's files as they are\n")
        build_seconds = int(round(time.monotonic() - started))
        output = _resolve_output(checkout, job.output_dir)
        if output is None:
            return BuildResult(
                "failed", f"output directory '{job.output_dir}' was not found after the build", build_seconds
            )
        try:  # every limit is checked before the first file is uploaded
            files = sites.collect_output(output, root, settings.max_output_bytes, settings.max_output_files)
        except sites.OutputRefused as refused:
            return BuildResult("failed", refused.message, build_seconds)
        if not reporter.stage(Status.UPLOADING):
            reporter.output("==> Build cancelled before its output was published\n")
            return BuildResult("cancelled", build_time_seconds=build_seconds)
        reporter.output(f"==> Uploading {job.output_dir}\n")
        try:
            count = sites.upload_output(output, files, job.artifact_prefix)
        except sites.OutputRefused as refused:
            return BuildResult("failed", refused.message, build_seconds)
        reporter.output(f"==> Uploaded {count} files\n")
        return BuildResult("succeeded", None, build_seconds, count)

    def _clone(self, job: BuildJob, checkout: Path, deadline: float, reporter: BuildReporter) -> BuildResult | None:
        """Check the commit out within the clone's own time limit and what is left of the build's; None when done."""
        clone_limit = get_settings().clone_timeout_seconds
        build_left = max(0.0, deadline - time.monotonic())
        try:
            git.checkout(job.repo_url, job.commit_sha, checkout, min(clone_limit, build_left), reporter.should_stop)
        except git.StepStopped:
            reporter.output("==> Build cancelled while cloning; the clone was stopped\n")
            return BuildResult("cancelled")
        except git.RepositoryUnavailable as exc:
            if exc.reason != "timed_out":
                return BuildResult("failed", f"could not check out {job.commit_sha}: {exc.message}")
            if build_left < clone_limit:
                reporter.output(f"==> Build exceeded its time limit of {job.timeout_seconds}s while cloning\n")
                return BuildResult(
                    "timed_out", f"build exceeded its time limit of {job.timeout_seconds} seconds while cloning"
                )
            return BuildResult(
                "failed",
                f"cloning the repository exceeded its time limit of {clone_limit:g} seconds "
                "(DEPLOYD_CLONE_TIMEOUT_SECONDS)",
            )
        except Exception:  # anything else is ours, not the repository's: logged, and worded without internals
            logger.exception("clone failed")
            return BuildResult(
                "failed",
                f"could not check out {job.commit_sha}: the clone failed unexpectedly",
                failure_cause="platform",
            )
        return None

    def _execute(
        self, job: BuildJob, cwd: Path, home: Path, reporter: BuildReporter, deadline: float
    ) -> tuple[Outcome, str | None]:
        with sandbox.build_uid() as uid:
            if uid is not None:
                uid.take_over(home.parent)  # the whole workspace: checkout and home
            isolation = sandbox.isolation()
            process = subprocess.Popen(
                isolation.command(["/bin/sh", "-c", job.build_command or "true"], uid.uid if uid else None),
                cwd=cwd,
                env=build_environment(job, home),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so cancel and time limit reach the whole tree
            )
            sandbox.running_builds.add(process)
            try:
                return self._supervise(job, process, reporter, deadline)
            finally:
                # Whatever happened (even an error while supervising), nothing the build started outlives it,
                # and its uid is released only once none of its processes runs.
                if process.poll() is None:
                    self._kill(process)
                sandbox.running_builds.discard(process)

    def _supervise(
        self, job: BuildJob, process: subprocess.Popen[bytes], reporter: BuildReporter, deadline: float
    ) -> tuple[Outcome, str | None]:
        assert process.stdout is not None
        stream: Any = process.stdout  # a BufferedReader: read1 returns what is there, up to the size

        def pump() -> None:
            # Chunks, not lines: a progress bar redrawn with \r never ends a line.
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            for chunk in iter(lambda: stream.read1(65536), b""):
                reporter.output(decoder.decode(chunk))
            reporter.output(decoder.decode(b"", final=True))

        reader = threading.Thread(target=pump, name=f"build-output-{job.deployment_id}", daemon=True)
        reader.start()
        outcome: Outcome | None = None
        while process.poll() is None:
            if time.monotonic() >= deadline:
                outcome = "timed_out"
            elif reporter.should_stop():
                outcome = "cancelled"
            if outcome:
                self._kill(process)
                break
            # Woken as soon as the build's output ends, which it does when the build exits: a build that is over
            # is noticed at once, not at the next tick (the tick is for the time limit and a cancel).
            if reader.is_alive():
                reader.join(timeout=self.poll_seconds)
            else:  # the output ended first (the build closed it, or is exiting): its exit is awaited
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=self.poll_seconds)
        # The shell may be gone while processes it started in the background live on, holding the
        # output pipe open: the build is over, so they are stopped too (in a PID namespace the kernel
        # has already killed them with the shell, its init).
        self._signal_group(process.pid, signal.SIGKILL)
        reader.join(timeout=10)
        stream.close()
        if outcome == "timed_out":
            reporter.output(f"==> Build exceeded its time limit of {job.timeout_seconds}s and was stopped\n")
            return outcome, f"build exceeded its time limit of {job.timeout_seconds} seconds"
        if outcome == "cancelled":
            reporter.output("==> Build cancelled; its processes were stopped\n")
            return outcome, "cancelled"
        if process.returncode != 0:
            return "failed", f"build command exited with status {process.returncode}"
        return "succeeded", None

    def _kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGTERM every process of the build, give them a moment to clean up, then SIGKILL them all."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            sandbox.signal_build(process, sig)
            try:
                process.wait(timeout=self.kill_grace_seconds)
            except subprocess.TimeoutExpired:
                pass

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass
