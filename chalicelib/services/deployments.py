"""The deployment rules: trigger, list, cancel, rollback, and the terminal moves of the pipeline.

Every status change here is a conditional write (often a transaction that also releases the
environment's in-flight entry), so no interleaving of API calls, workers and the state machine can
produce an illegal transition: whoever leaves a state first wins, the others see a Conflict or do nothing.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.infra.state_machine import NON_TERMINAL
from chalicelib.models.base import condition_failed, transact, utc_now
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import PRODUCTION, Environment, EnvironmentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.registry import next_id
from chalicelib.models.route import Route
from chalicelib.observability import deployment_context, logger
from chalicelib.pipeline import executions
from chalicelib.services import build_logs, git, sites

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


@dataclass(frozen=True)
class DeploymentView:
    """A deployment together with whether its environment currently serves it."""

    deployment: Deployment
    is_active: bool


@dataclass(frozen=True)
class DeploymentPage:
    items: list[DeploymentView]
    page: int
    per_page: int
    total: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0


@dataclass(frozen=True)
class BuildLogView:
    deployment: Deployment
    text: str


def _active_id(project_id: int, environment: str = PRODUCTION) -> int | None:
    env = EnvironmentRepository.find(project_id, environment)
    return int(env.active_deployment_id) if env and env.active_deployment_id is not None else None


def _deployment_of(project: Project, deployment_id: int) -> Deployment:
    deployment = DeploymentRepository.find(deployment_id)
    if deployment is None or deployment.project_id != project.id:
        raise NotFound(f"deployment {deployment_id} not found in project {project.id}")
    return deployment


def view(org_slug: str, project_id: int, deployment_id: int) -> DeploymentView:
    project = ProjectRepository.get(org_slug, project_id)
    deployment = _deployment_of(project, deployment_id)
    return DeploymentView(deployment, _active_id(int(project.id), deployment.environment) == deployment.id)


def list_page(org_slug: str, project_id: int, page: int, per_page: int) -> DeploymentPage:
    if page < 1:
        raise InvalidInput("page must be 1 or greater", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
    project = ProjectRepository.get(org_slug, project_id)
    newest_seq = int(project.deployment_seq) - (page - 1) * per_page
    items = DeploymentRepository.page(int(project.id), newest_seq, per_page)
    active = _active_id(int(project.id))
    return DeploymentPage(
        [DeploymentView(d, d.id == active) for d in items], page, per_page, int(project.deployment_count)
    )


def logs(org_slug: str, project_id: int, deployment_id: int) -> BuildLogView:
    project = ProjectRepository.get(org_slug, project_id)
    deployment = _deployment_of(project, deployment_id)
    return BuildLogView(deployment, build_logs.read(int(deployment.id)))


def trigger(org_slug: str, project_id: int, branch: str | None, triggered_by: str) -> DeploymentView:
    """Record a queued deployment of the branch head as it is now, and start its pipeline."""
    project = ProjectRepository.get(org_slug, project_id)
    ref = branch or project.default_branch
    commit = git.resolve(project.repo_url, ref)
    seq_holder = Project(id=project.id)
    seq_holder.update(actions=[Project.deployment_seq.add(1)], condition=Project.id.exists())
    deployment = Deployment(
        id=next_id("deployment"),
        project_id=project.id,
        seq=int(seq_holder.deployment_seq),
        org_slug=org_slug,
        environment=PRODUCTION,
        branch=ref,
        commit_sha=commit.sha,
        commit_message=commit.message,
        commit_author=commit.author,
        status="queued",
        triggered_by=triggered_by,
    )
    now = utc_now()

    def record(tx: TransactWrite) -> None:
        tx.save(deployment, condition=Deployment.id.does_not_exist())
        tx.update(
            Environment(project_id=project.id, name=PRODUCTION),
            actions=[
                Environment.created_at.set(Environment.created_at | now),
                Environment.updated_at.set(now),
                Environment.in_flight.add({int(deployment.id)}),
            ],
        )
        tx.update(Project(id=project.id), actions=[Project.deployment_count.add(1)], condition=Project.id.exists())

    try:
        transact(record)
    except TransactWriteError as exc:
        # The reserved seq stays unused: listing tolerates gaps (a short page, never a repeat).
        raise Conflict(f"project {project_id} changed while the deployment was being recorded; retry") from exc
    with deployment_context(int(deployment.id), int(project.id)):
        logger.info("deployment queued", extra={"branch": ref, "commit_sha": commit.sha})
        try:
            arn = executions.start(int(deployment.id), int(project.id), PRODUCTION, int(project.build_timeout_seconds))
        except Exception as exc:  # the pipeline could not start: end the deployment rather than leave it queued
            logger.exception("could not start the deployment pipeline")
            record_failure(deployment, f"could not start the deployment pipeline: {exc.__class__.__name__}")
        else:
            deployment.update(actions=[Deployment.execution_arn.set(arn)])
    deployment.refresh(consistent_read=True)
    return DeploymentView(deployment, False)


def _release(tx: TransactWrite, deployment: Deployment) -> None:
    tx.update(
        Environment(project_id=deployment.project_id, name=deployment.environment),
        actions=[Environment.in_flight.delete({int(deployment.id)})],
    )


def _end(deployment: Deployment, status: str, error_message: str | None = None) -> bool:
    """Move a non-terminal deployment to a terminal `status` and release its environment, in one
    transaction. False if it had already ended (whoever ended it first wins)."""
    now = utc_now()
    actions: list[Action] = [
        Deployment.status.set(status),
        Deployment.finished_at.set(now),
        Deployment.updated_at.set(now),
    ]
    if error_message is not None:
        actions.append(Deployment.error_message.set(error_message[:2000]))

    def end(tx: TransactWrite) -> None:
        tx.update(deployment, actions=actions, condition=Deployment.status.is_in(*NON_TERMINAL))
        _release(tx, deployment)

    try:
        transact(end)
    except TransactWriteError as exc:
        if condition_failed(exc):
            return False
        raise
    return True


def record_failure(deployment: Deployment, message: str) -> bool:
    """Move a non-terminal deployment to failed with `message`. False if it had already ended."""
    return _end(deployment, "failed", message)


def cancel(org_slug: str, project_id: int, deployment_id: int) -> DeploymentView:
    project = ProjectRepository.get(org_slug, project_id)
    deployment = _deployment_of(project, deployment_id)
    if deployment.is_terminal or not _end(deployment, "cancelled"):
        deployment.refresh(consistent_read=True)
        raise Conflict(
            f"deployment {deployment_id} is {deployment.status}; only queued, cloning, building, uploading "
            "or deploying deployments can be cancelled"
        )
    with deployment_context(int(deployment.id), int(project.id)):
        logger.info("deployment cancelled")
        if deployment.execution_arn:
            executions.stop(deployment.execution_arn, "cancelled by request")
    deployment.refresh(consistent_read=True)
    return DeploymentView(deployment, False)


def rollback(org_slug: str, project_id: int, deployment_id: int) -> DeploymentView:
    """Serve an earlier deployed build again at once: a pointer switch, no rebuild."""
    project = ProjectRepository.get(org_slug, project_id)
    target = _deployment_of(project, deployment_id)
    if target.status != "deployed":
        raise Conflict(
            f"deployment {deployment_id} is {target.status}; only deployed deployments can be rolled back to"
        )
    environment = EnvironmentRepository.find(int(project.id), target.environment)
    if environment is None:
        raise Conflict(f"environment {target.environment} of project {project.id} has no active deployment")
    if environment.active_deployment_id == target.id:
        raise Conflict(f"deployment {deployment_id} is already the active deployment")
    if environment.in_flight:
        busy = ", ".join(str(i) for i in sorted(environment.in_flight))
        raise Conflict(f"cannot roll back while deployment(s) {busy} of this project are in progress")
    now = utc_now()

    def switch(tx: TransactWrite) -> None:
        tx.condition_check(Deployment, target.id, condition=Deployment.status == "deployed")
        tx.update(
            environment,
            actions=[
                Environment.active_deployment_id.set(int(target.id)),
                Environment.active_seq.set(int(target.seq)),
                Environment.updated_at.set(now),
            ],
            condition=(Environment.active_deployment_id != int(target.id)) & Environment.in_flight.does_not_exist(),
        )
        tx.save(_production_route(project, target))

    try:
        transact(switch)
    except TransactWriteError as exc:
        if not condition_failed(exc):
            raise
        raise Conflict("the project changed while rolling back (another rollback or a new deployment); retry") from exc
    with deployment_context(int(target.id), int(project.id)):
        logger.info("rolled back production", extra={"previous_deployment_id": environment.active_deployment_id})
    return DeploymentView(target, True)


def _production_route(project: Project, deployment: Deployment) -> Route:
    return Route(
        host=sites.production_label(project.slug, project.org_slug),
        artifact_prefix=deployment.artifact_prefix or sites.artifact_prefix(int(deployment.id)),
        deployment_id=int(deployment.id),
        project_id=int(project.id),
        updated_at=utc_now(),
    )


def activate(deployment: Deployment) -> bool:
    """deploying -> deployed: publish the immutable URL, and make the build production unless a newer one is.

    False when the deployment is no longer deploying (cancelled meanwhile). An older build that finishes
    after a newer one has gone live is deployed at its own URL but never replaces the newer one.
    """
    project = ProjectRepository.get_by_id(int(deployment.project_id))
    for _attempt in range(5):
        environment = EnvironmentRepository.find(int(project.id), deployment.environment)
        active_seq = int(environment.active_seq) if environment and environment.active_seq is not None else None
        promote = active_seq is None or active_seq < int(deployment.seq)
        try:
            transact(
                functools.partial(
                    _write_activation, project=project, deployment=deployment, active_seq=active_seq, promote=promote
                )
            )
        except TransactWriteError as exc:
            if not condition_failed(exc):
                raise
            deployment.refresh(consistent_read=True)
            if deployment.status != "deploying":
                return False
            continue  # the environment moved under us (a newer build went live): decide again
        deployment.refresh(consistent_read=True)
        logger.info("deployment live", extra={"deployment_url": deployment.deployment_url, "promoted": promote})
        return True
    raise Conflict(f"deployment {deployment.id} could not be activated: its environment kept changing")


def _write_activation(
    tx: TransactWrite, project: Project, deployment: Deployment, active_seq: int | None, promote: bool
) -> None:
    """One transaction: the deployment goes live at its own URL, leaves the in-flight set, and, when
    `promote`, becomes what the environment serves, all conditional on what was read before."""
    label = sites.deployment_label(int(deployment.id), project.slug, project.org_slug)
    now = utc_now()
    tx.update(
        deployment,
        actions=[
            Deployment.status.set("deployed"),
            Deployment.deployment_url.set(sites.url_for(label)),
            Deployment.deployed_at.set(now),
            Deployment.finished_at.set(now),
            Deployment.updated_at.set(now),
        ],
        condition=Deployment.status == "deploying",
    )
    env_actions: list[Action] = [Environment.in_flight.delete({int(deployment.id)}), Environment.updated_at.set(now)]
    env_condition: Condition
    if promote:
        env_actions += [
            Environment.active_deployment_id.set(int(deployment.id)),
            Environment.active_seq.set(int(deployment.seq)),
        ]
        env_condition = Environment.active_seq.does_not_exist() | (Environment.active_seq < int(deployment.seq))
    else:
        env_condition = Environment.active_seq == active_seq  # type: ignore[assignment]
    tx.update(
        Environment(project_id=deployment.project_id, name=deployment.environment),
        actions=env_actions,
        condition=env_condition,
    )
    tx.save(
        Route(
            host=label,
            artifact_prefix=deployment.artifact_prefix or sites.artifact_prefix(int(deployment.id)),
            deployment_id=int(deployment.id),
            project_id=int(project.id),
        )
    )
    if promote:
        tx.save(_production_route(project, deployment))
