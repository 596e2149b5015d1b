"""The preview build lock: a branch preview's builds run one at a time, the newest after the superseded one stops.

The lock is the environment's `builder` attribute, taken and given back with conditional writes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from chalicelib.adapters import sites
from chalicelib.adapters.build_logs import BuildLog
from chalicelib.adapters.runners import BuildReporter
from chalicelib.models.conditional import try_update
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import Environment, EnvironmentRepository
from chalicelib.settings import get_settings


class PreviewBuildLock:
    """A branch preview's build lock (`Environment.builder`): a preview never has two builds running.

    Taken with a conditional write before the build starts, waiting (heartbeating) while a superseded build is
    still stopping. A build that runs in the worker gives it back when it ends; one that runs on CodeBuild
    hands it over, and the build's completion gives it back (`release`).

    A holder that cannot give the lock back (its worker died, its completion event was lost) is a deployment
    that has ended; its lock is taken over once it is terminal and the heartbeat limit has passed.
    """

    def __init__(self, deployment: Deployment) -> None:
        self._deployment = deployment
        self.handed_over = False

    def take(self, reporter: BuildReporter, log: BuildLog) -> None:
        deployment = self._deployment
        if not deployment.environment.startswith(sites.PREVIEW_PREFIX):
            return
        holder = Environment(project_id=deployment.project_id, name=deployment.environment)
        me = deployment.id
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
                _evict_stale_holder(holder)
            time.sleep(0.2)

    def hand_over(self) -> None:
        self.handed_over = True


@contextlib.contextmanager
def held(deployment: Deployment, reporter: BuildReporter, log: BuildLog) -> Iterator[PreviewBuildLock]:
    """Hold the preview's build lock around the build (see PreviewBuildLock); a no-op outside previews."""
    lock = PreviewBuildLock(deployment)
    lock.take(reporter, log)
    try:
        yield lock
    finally:
        if not lock.handed_over:
            release(deployment)


def release(deployment: Deployment) -> None:
    """Give the preview's build lock back if this deployment holds it; anything else is left alone."""
    if not deployment.environment.startswith(sites.PREVIEW_PREFIX):
        return
    holder = Environment(project_id=deployment.project_id, name=deployment.environment)
    try_update(holder, [Environment.builder.remove()], Environment.builder == deployment.id)


def _evict_stale_holder(holder: Environment) -> None:
    current = EnvironmentRepository.find(holder.project_id, holder.name)
    if current is None or current.builder is None:
        return
    stale = DeploymentRepository.find(current.builder)
    if stale is None or stale.is_terminal:
        try_update(holder, [Environment.builder.remove()], Environment.builder == current.builder)
