"""The deployment rules: trigger, list, cancel, rollback, and the terminal moves of the pipeline.

Every status change here is a conditional write (often a transaction that also releases the
environment's in-flight entry), so no interleaving of API calls, workers and the state machine can
produce an illegal transition: whoever leaves a state first wins, the others see a Conflict or do nothing.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.errors import ConditionFailed, Conflict, InvalidInput, NotFound
from chalicelib.models.base import utc_now
from chalicelib.models.conditional import TransactionFailed, transact, try_delete, try_update
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.deployment_status import DeploymentStatus
from chalicelib.models.environment import PRODUCTION, Environment, EnvironmentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.registry import next_id
from chalicelib.models.route import Route
from chalicelib.observability import FailureCause, deployment_context, deployment_event, logger
from chalicelib.pipeline import codebuild, executions
from chalicelib.services import build_logs, build_slots, git, listing, sites, statuses
from chalicelib.services.listing import Page
from chalicelib.vocabulary import NON_TERMINAL, TERMINAL, Status

MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000  # 100 million deployments at the largest per_page: past any project's history
DEFAULT_PER_PAGE = 20


@dataclass(frozen=True)
class DeploymentView:
    """A deployment together with whether its environment currently serves it."""

    deployment: Deployment
    is_active: bool


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


def list_page(org_slug: str, project_id: int, page: int, per_page: int) -> Page[DeploymentView]:
    """Newest first, each deployment marked when production serves it."""
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"page must be between 1 and {MAX_PAGE}", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
    project = ProjectRepository.get(org_slug, project_id)
    found = listing.deployments(project, page, per_page)
    active = _active_id(int(project.id))
    return found.map(lambda d: DeploymentView(d, d.id == active))


def logs(org_slug: str, project_id: int, deployment_id: int) -> BuildLogView:
    project = ProjectRepository.get(org_slug, project_id)
    deployment = _deployment_of(project, deployment_id)
    return BuildLogView(deployment, build_logs.read(int(deployment.id)))


@dataclass(frozen=True)
class DeploymentSpec:
    """What any dialect asks for when it creates a deployment."""

    ref: str | None = None  # branch, tag or SHA; the project's default branch when None
    environment: str = PRODUCTION
    source: str = "native"
    creator: str = ""
    task: str = "deploy"
    payload: str = "{}"  # JSON text
    payload_is_text: bool = False
    description: str | None = None
    transient_environment: bool = False
    production_environment: bool | None = None  # default: environment == production
    sha: str | None = None  # an explicit commit (GitLab); must exist in the repository
    ref_is_tag: bool | None = None
    external_status: Status | None = None  # initial native status of an externally deployed deployment


def trigger(org_slug: str, project_id: int, branch: str | None, triggered_by: str) -> DeploymentView:
    """The native trigger: a deployment of the branch head (default branch) to production."""
    return create(org_slug, project_id, DeploymentSpec(ref=branch, creator=triggered_by))


def create(org_slug: str, project_id: int, spec: DeploymentSpec) -> DeploymentView:
    """Record a deployment of the ref as it resolves now; start its pipeline when deployd builds the project.

    A project with a build command is built by deployd (`managed`): the deployment starts queued and the
    pipeline moves it. A project without one is a ledger for an external deployer: the deployment starts
    in `spec.external_status` (default queued) and moves only when its deployer reports.
    """
    project = ProjectRepository.get(org_slug, project_id)
    managed = project.build_command is not None
    if managed and spec.external_status not in (None, Status.QUEUED):
        raise Conflict(f"project {project_id} is built by deployd: its deployments start queued and follow the build")
    ref = spec.ref or project.default_branch
    commit = git.resolve(project.repo_url, spec.sha or ref)
    ref_type = "tag" if spec.ref_is_tag else commit.ref_type if not spec.sha else "branch"
    status = Status.QUEUED if managed else (spec.external_status or Status.QUEUED)
    seq_holder = Project(id=project.id)
    if not try_update(seq_holder, [Project.deployment_seq.add(1)], Project.id.exists()):
        raise NotFound(f"project {project_id} not found")
    now = utc_now()
    deployment = Deployment(
        id=next_id("deployment"),
        project_id=project.id,
        seq=int(seq_holder.deployment_seq),
        org_slug=org_slug,
        environment=spec.environment,
        branch=ref,
        ref_type=ref_type,
        commit_sha=commit.sha,
        commit_message=commit.message,
        commit_author=commit.author,
        status=status,
        triggered_by=spec.creator,
        source=spec.source,
        managed=managed,
        task=spec.task,
        payload=spec.payload,
        payload_is_text=spec.payload_is_text,
        description=spec.description,
        original_environment=spec.environment,
        transient_environment=spec.transient_environment,
        production_environment=(
            spec.environment == PRODUCTION if spec.production_environment is None else spec.production_environment
        ),
        finished_at=now if status in TERMINAL else None,
        deployed_at=now if status == Status.DEPLOYED else None,
    )
    environment_id = _environment_id(int(project.id), spec.environment)

    def record(tx: TransactWrite) -> None:
        tx.save(deployment, condition=Deployment.id.does_not_exist())
        env_actions: list[Action] = [
            Environment.id.set(Environment.id | environment_id),
            Environment.created_at.set(Environment.created_at | now),
            Environment.updated_at.set(now),
            Environment.removed_at.remove(),
            Environment.removed_reason.remove(),
        ]
        if managed:  # only deployd's own builds hold the environment (they block a rollback)
            env_actions.append(Environment.in_flight.add({int(deployment.id)}))
        tx.update(Environment(project_id=project.id, name=spec.environment), actions=env_actions)
        tx.update(Project(id=project.id), actions=[Project.deployment_count.add(1)], condition=Project.id.exists())

    try:
        transact(record)
    except (ConditionFailed, TransactionFailed) as exc:
        # The reserved seq stays unused: listing tolerates gaps.
        if isinstance(exc, TransactionFailed) and not exc.cancelled:  # DynamoDB refused the request itself
            raise InvalidInput(f"the deployment could not be recorded: {exc.detail}") from exc
        raise Conflict(f"project {project_id} changed while the deployment was being recorded; retry") from exc
    with deployment_context(int(deployment.id), int(project.id)):
        logger.info(f"deployment {status}", extra={"ref": ref, "commit_sha": commit.sha, "source": spec.source})
        if managed:
            _start_pipeline(deployment, project)
        else:
            if status == Status.DEPLOYED:
                _promote_external(deployment)
            # A deployment created already running or finished (GitLab) is a report: GitHub shows it as a
            # status. One created queued has none yet, as a new GitHub deployment has none.
            if status != Status.QUEUED:
                statuses.publish_external_state(deployment)
    # The response shows the deployment as created (queued), even if a worker has already claimed it.
    return DeploymentView(deployment, _active_id(int(project.id), deployment.environment) == deployment.id)


def _environment_id(project_id: int, name: str) -> int:
    """The environment's public id; a new one is allocated only the first time the environment is used."""
    existing = EnvironmentRepository.find(project_id, name)
    if existing is not None and existing.id is not None:
        return int(existing.id)
    return next_id("environment")


def _start_pipeline(deployment: Deployment, project: Project) -> None:
    statuses.report_pipeline_state(deployment)  # "queued" first: a worker may claim it as soon as it starts
    try:
        arn = executions.start(
            int(deployment.id), int(project.id), deployment.environment, int(project.build_timeout_seconds)
        )
    except Exception as exc:  # the pipeline could not start: end the deployment rather than leave it queued
        logger.exception("could not start the deployment pipeline")
        record_failure(
            deployment, f"could not start the deployment pipeline: {exc.__class__.__name__}", cause="platform"
        )
        return
    deployment_event("started")
    Deployment(id=deployment.id).update(actions=[Deployment.execution_arn.set(arn)], condition=Deployment.id.exists())
    deployment.execution_arn = arn


def _release(tx: TransactWrite, deployment: Deployment) -> None:
    tx.update(
        Environment(project_id=deployment.project_id, name=deployment.environment),
        actions=[Environment.in_flight.delete({int(deployment.id)})],
    )


def _end(
    deployment: Deployment,
    status: Status,
    error_message: str | None = None,
    build_time_seconds: int | None = None,
    cause: FailureCause | None = None,
) -> bool:
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
    if build_time_seconds:
        actions.append(Deployment.build_time_seconds.set(build_time_seconds))

    def end(tx: TransactWrite) -> None:
        tx.update(deployment, actions=actions, condition=Deployment.status.is_in(*NON_TERMINAL))
        _release(tx, deployment)

    try:
        transact(end)
    except ConditionFailed:
        return False
    deployment_event(status, cause)  # once: only the writer that ended the deployment gets here
    deployment.refresh(consistent_read=True)
    statuses.report_pipeline_state(deployment)
    build_slots.release(deployment)
    return True


def record_failure(
    deployment: Deployment, message: str, build_time_seconds: int | None = None, *, cause: FailureCause
) -> bool:
    """Move a non-terminal deployment to failed with `message`, the user's build's failure or the platform's
    (`cause`, for the metric). False if it had already ended."""
    return _end(deployment, Status.FAILED, message, build_time_seconds, cause)


def cancel(org_slug: str, project_id: int, deployment_id: int) -> DeploymentView:
    project = ProjectRepository.get(org_slug, project_id)
    deployment = _deployment_of(project, deployment_id)
    if deployment.is_terminal or not _end(deployment, Status.CANCELLED):
        deployment.refresh(consistent_read=True)
        raise Conflict(
            f"deployment {deployment_id} is {deployment.status}; only queued, cloning, building, uploading "
            "or deploying deployments can be cancelled"
        )
    with deployment_context(int(deployment.id), int(project.id)):
        logger.info("deployment cancelled")
        # _end re-read the deployment after the cancel: a build the worker recorded before it is seen here,
        # and a worker recording one after it finds the deployment cancelled and stops that build itself.
        if deployment.build_id:
            codebuild.stop(deployment.build_id)
        if deployment.execution_arn:
            executions.stop(deployment.execution_arn, "cancelled by request")
    deployment.refresh(consistent_read=True)
    return DeploymentView(deployment, False)


def rollback(org_slug: str, project_id: int, deployment_id: int) -> DeploymentView:
    """Serve an earlier deployed build again at once: a pointer switch, no rebuild."""
    project = ProjectRepository.get(org_slug, project_id)
    target = _deployment_of(project, deployment_id)
    if target.status != Status.DEPLOYED:
        raise Conflict(
            f"deployment {deployment_id} is {target.status}; only deployed deployments can be rolled back to"
        )
    if not target.artifact_prefix:
        raise Conflict(f"deployment {deployment_id}'s built files were deleted after retention; deploy it again")
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
        tx.condition_check(Deployment, target.id, condition=Deployment.status == Status.DEPLOYED)
        tx.update(
            environment,
            actions=[
                Environment.active_deployment_id.set(int(target.id)),
                Environment.active_seq.set(int(target.seq)),
                Environment.updated_at.set(now),
            ],
            condition=(Environment.active_deployment_id != int(target.id)) & Environment.in_flight.does_not_exist(),
        )
        route = _environment_route(project, target)
        if route is not None:
            tx.save(route)

    try:
        transact(switch)
    except ConditionFailed as exc:
        raise Conflict("the project changed while rolling back (another rollback or a new deployment); retry") from exc
    with deployment_context(int(target.id), int(project.id)):
        logger.info("rolled back production", extra={"previous_deployment_id": environment.active_deployment_id})
    return DeploymentView(target, True)


def _environment_route(project: Project, deployment: Deployment) -> Route | None:
    """What the deployment's environment URL (production, a branch preview) should serve, if it has one."""
    label = sites.environment_label(project.slug, project.org_slug, deployment.environment)
    if label is None:
        return None
    return Route(
        host=label,
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
        except ConditionFailed:
            deployment.refresh(consistent_read=True)
            if deployment.status != Status.DEPLOYING:
                return False
            continue  # the environment moved under us (a newer build went live): decide again
        deployment.refresh(consistent_read=True)
        logger.info("deployment live", extra={"deployment_url": deployment.deployment_url, "promoted": promote})
        deployment_event("succeeded")
        statuses.report_pipeline_state(deployment)
        build_slots.release(deployment)
        return True
    raise Conflict(f"deployment {deployment.id} could not be activated: its environment kept changing")


def _write_activation(
    tx: TransactWrite, project: Project, deployment: Deployment, active_seq: int | None, promote: bool
) -> None:
    """One transaction: the deployment goes live at its own URL, leaves the in-flight set, and, when
    `promote`, becomes what the environment serves, all conditional on what was read before."""
    label = sites.deployment_label(int(deployment.id), project.slug, project.org_slug)
    own_url = sites.url_for(label)
    environment_route = _environment_route(project, deployment) if promote else None
    environment_url = sites.url_for(environment_route.host) if environment_route is not None else own_url
    now = utc_now()
    tx.update(
        deployment,
        actions=[
            Deployment.status.set(Status.DEPLOYED),
            Deployment.deployment_url.set(own_url),
            Deployment.environment_url.set(environment_url),
            Deployment.deployed_at.set(now),
            Deployment.finished_at.set(now),
            Deployment.updated_at.set(now),
        ],
        condition=Deployment.status == Status.DEPLOYING,
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
    if environment_route is not None:
        tx.save(environment_route)


def set_external_status(
    deployment: Deployment, status: Status, environment_url: str | None = None, publish: bool = False
) -> Deployment:
    """An external deployer reports progress on a deployment of a ledger project (no build command).

    Conditional on the status read, so two reports racing end in one of them, never a blend. Deployments
    deployd builds refuse this: their status follows the build. `publish` appends the matching GitHub
    deployment status, for reports that arrive through another dialect (GitHub callers post their own).
    """
    if deployment.managed:
        raise Conflict(
            f"deployment {int(deployment.id)} is built by deployd; its status follows the build "
            f"(now {deployment.status})"
        )
    now = utc_now()
    actions: list[Action] = [Deployment.status.set(status), Deployment.updated_at.set(now)]
    if status in TERMINAL:
        actions.append(Deployment.finished_at.set(now))
    if status == Status.DEPLOYED:
        actions.append(Deployment.deployed_at.set(now))
    if environment_url:
        actions += [Deployment.environment_url.set(environment_url), Deployment.deployment_url.set(environment_url)]
    if not try_update(deployment, actions, Deployment.status == deployment.status):
        raise Conflict(f"deployment {int(deployment.id)} changed concurrently; read it and retry")
    if status == Status.DEPLOYED:
        _promote_external(deployment)
    if publish:
        statuses.publish_external_state(deployment)
    return deployment


def _promote_external(deployment: Deployment) -> None:
    """An externally deployed success becomes its environment's active deployment unless a newer one is."""
    try_update(
        Environment(project_id=deployment.project_id, name=deployment.environment),
        [
            Environment.active_deployment_id.set(int(deployment.id)),
            Environment.active_seq.set(int(deployment.seq)),
            Environment.updated_at.set(utc_now()),
        ],
        Environment.active_seq.does_not_exist() | (Environment.active_seq < int(deployment.seq)),
    )


def delete_record(deployment: Deployment) -> None:
    """Remove a deployment from the ledger; each dialect's delete endpoint checks its own rules first.

    Never one that deployd is still building. Its statuses go with it and its immutable URL stops serving;
    if its environment was serving it, the environment serves nothing until the next deployment.
    """
    if deployment.managed and not deployment.is_terminal:
        raise Conflict(f"deployment {int(deployment.id)} is {deployment.status}; cancel it before deleting it")
    project = ProjectRepository.get_by_id(int(deployment.project_id))
    environment = EnvironmentRepository.find(int(project.id), deployment.environment)
    was_active = environment is not None and environment.active_deployment_id == deployment.id

    def remove(tx: TransactWrite) -> None:
        tx.delete(deployment, condition=~Deployment.status.is_in(*NON_TERMINAL) | (Deployment.managed == False))  # noqa: E712
        tx.update(Project(id=project.id), actions=[Project.deployment_count.add(-1)], condition=Project.id.exists())
        env_actions: list[Action] = [Environment.live_ids.delete({int(deployment.id)})]
        if was_active:
            env_actions += [Environment.active_deployment_id.remove(), Environment.active_seq.remove()]
        tx.update(
            Environment(project_id=project.id, name=deployment.environment),
            actions=env_actions,
            # What was read must still hold: a rollback to this deployment racing the delete loses.
            condition=(
                Environment.active_deployment_id == int(deployment.id)
                if was_active
                else Environment.active_deployment_id.does_not_exist()
                | (Environment.active_deployment_id != int(deployment.id))
            ),
        )

    try:
        transact(remove)
    except ConditionFailed as exc:
        raise Conflict(f"deployment {int(deployment.id)} changed while being deleted; retry") from exc
    Route(host=sites.deployment_label(int(deployment.id), project.slug, project.org_slug)).delete()
    environment_label = sites.environment_label(project.slug, project.org_slug, deployment.environment)
    if was_active and environment_label is not None:
        # Unless production already serves another deployment: then it is left alone.
        try_delete(Route(host=environment_label), Route.deployment_id == int(deployment.id))
    with DeploymentStatus.batch_write() as batch:
        for status in DeploymentStatus.query(int(deployment.id)):
            batch.delete(status)
