"""Creating a deployment: resolve the ref, record the deployment, and start its pipeline when deployd builds it."""

from __future__ import annotations

from typing import NamedTuple

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters import executions, git
from chalicelib.errors import ConditionFailed, Conflict, InvalidInput, NotFound
from chalicelib.models.attributes import utc_now
from chalicelib.models.conditional import TransactionFailed, transact, try_update
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import PRODUCTION, Environment
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.registry import next_id, next_ids
from chalicelib.observability import deployment_context, deployment_event, logger
from chalicelib.services import build_slots, caller_plan, statuses
from chalicelib.services.deployments.external import promote_external
from chalicelib.services.deployments.queries import DeploymentView, active_id
from chalicelib.services.deployments.terminal import record_failure
from chalicelib.vocabulary import TERMINAL, Status


class DeploymentSpec(NamedTuple):
    """What any dialect asks for when it creates a deployment."""

    triggered_by: str  # through what: api, slack:<team>/<user>, schedule, github, gitlab, mintlify, deploy_hook:<name>
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


def trigger(
    org_slug: str,
    project_id: int,
    branch: str | None,
    creator: str,
    triggered_by: str = "api",
    project: Project | None = None,
) -> DeploymentView:
    """The native trigger (the native API's, Slack's `deploy`, Mintlify's update): a deployment of the branch
    head (default branch) to production."""
    spec = DeploymentSpec(triggered_by=triggered_by, ref=branch, creator=creator)
    return create(org_slug, project_id, spec, project)


def create(org_slug: str, project_id: int, spec: DeploymentSpec, project: Project | None = None) -> DeploymentView:
    """Record a deployment of the ref as it resolves now; start its pipeline when deployd builds the project.

    A project with a build command is built by deployd (`managed`): the deployment starts queued and the
    pipeline moves it. A project without one is a ledger for an external deployer: the deployment starts
    in `spec.external_status` (default queued) and moves only when its deployer reports. `project`: the
    organization's project as the caller has just read it (strongly consistent), not to be read again.
    """
    if project is None or project.id != project_id or project.org_slug != org_slug:
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
        seq=seq_holder.deployment_seq,
        org_slug=org_slug,
        org_plan=caller_plan.of(org_slug),
        environment=spec.environment,
        branch=ref,
        ref_type=ref_type,
        commit_sha=commit.sha,
        commit_message=commit.message,
        commit_author=commit.author,
        status=status,
        creator=spec.creator,
        triggered_by=spec.triggered_by,
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
        event_seq=1,  # its created event
    )
    # The environment's public id is written only the first time it is used: the record assumes the environment
    # has one (its condition says so) and, when refused for that, takes a new id and is written again. Most
    # deployments go to an environment that exists: it is not read first.
    environment_id: int | None = None
    report = None
    if managed:
        # Its execution's name is fixed by its id, so the ARN is known before the execution starts; and its
        # "queued" status is published with the record itself, before any worker can claim it.
        deployment.execution_arn = executions.execution_arn(deployment.id)
        deployment.status_ids_from = next_ids("deployment-status", len(statuses.PIPELINE_STATUS_IDS))
        report = statuses.pipeline_report(deployment, Status.QUEUED)
        deployment.reported_rank = report.rank
    # With nobody in its organization's line, a build of deployd's takes a free build slot as it is recorded, and
    # its pipeline starts building at once instead of asking for one (the line's order and the limit are kept:
    # the slot is taken by the same conditional count a grant makes).
    slots = build_slots.limit_when_nobody_waits(org_slug) if managed else None

    def record(tx: TransactWrite) -> None:
        if slots is not None:
            build_slots.take(tx, org_slug, slots)  # first: a refusal at position 0 means every slot is taken
        deployment.slot_held = True if slots is not None else None
        tx.save(deployment, condition=Deployment.id.does_not_exist())
        if report is not None:
            report.write(tx)
        env_actions: list[Action] = [
            Environment.created_at.set(Environment.created_at | now),
            Environment.updated_at.set(now),
            Environment.removed_at.remove(),
            Environment.removed_reason.remove(),
        ]
        env_condition = None
        if environment_id is None:
            env_condition = Environment.id.exists()  # refused: a new environment (or one from before ids)
        else:
            env_actions.insert(0, Environment.id.set(Environment.id | environment_id))
        if managed:  # only deployd's own builds hold the environment (they block a rollback)
            env_actions.append(Environment.in_flight.add({deployment.id}))
        tx.update(
            Environment(project_id=project.id, name=spec.environment), actions=env_actions, condition=env_condition
        )
        tx.update(Project(id=project.id), actions=[Project.deployment_count.add(1)], condition=Project.id.exists())

    def environment_position() -> int:  # the environment's update, in the order `record` adds its writes
        return (1 if slots is not None else 0) + 1 + (1 if report is not None else 0)

    try:
        for _attempt in range(3):
            try:
                transact(record)
                break
            except ConditionFailed as exc:
                slot_refused = slots is not None and 0 in exc.failed
                environment_new = environment_id is None and environment_position() in exc.failed
                expected = ({0} if slot_refused else set()) | ({environment_position()} if environment_new else set())
                if not expected or set(exc.failed) != expected:
                    raise
                if slot_refused:
                    slots = None  # every slot was taken meanwhile: recorded without one, the pipeline asks for one
                if environment_new:
                    environment_id = next_id("environment")  # its first deployment: the environment gets its id
        else:
            raise Conflict(f"project {project_id} changed while the deployment was being recorded; retry")
    except (ConditionFailed, TransactionFailed) as exc:
        # The reserved seq stays unused: listing tolerates gaps.
        if isinstance(exc, TransactionFailed) and not exc.cancelled:  # DynamoDB refused the request itself
            raise InvalidInput(f"the deployment could not be recorded: {exc.detail}") from exc
        raise Conflict(f"project {project_id} changed while the deployment was being recorded; retry") from exc
    with deployment_context(deployment.id, project.id):
        logger.info(f"deployment {status}", extra={"ref": ref, "commit_sha": commit.sha, "source": spec.source})
        if managed:
            _start_pipeline(deployment, project)
        else:
            if status == Status.DEPLOYED:
                promote_external(deployment)
            # A deployment created already running or finished (GitLab) is a report: GitHub shows it as a
            # status. One created queued has none yet, as a new GitHub deployment has none.
            if status != Status.QUEUED:
                statuses.publish_external_state(deployment)
    # The response shows the deployment as created (queued), even if a worker has already claimed it. Only a
    # deployment recorded as deployed (an external deployer's report) can already be what its environment serves.
    active = deployment.status == Status.DEPLOYED and active_id(project.id, deployment.environment) == deployment.id
    return DeploymentView(deployment, active)


def _start_pipeline(deployment: Deployment, project: Project) -> None:
    try:
        arn = executions.start(
            deployment.id,
            project.id,
            deployment.environment,
            project.build_timeout_seconds,
            slot_held=bool(deployment.slot_held),
        )
    except Exception as exc:  # the pipeline could not start: end the deployment rather than leave it queued
        logger.exception("could not start the deployment pipeline")
        record_failure(
            deployment, f"could not start the deployment pipeline: {exc.__class__.__name__}", cause="platform"
        )
        return
    deployment_event("started")
    if arn != deployment.execution_arn:  # Step Functions named it otherwise than predicted: record its own
        Deployment(id=deployment.id).update(
            actions=[Deployment.execution_arn.set(arn)], condition=Deployment.id.exists()
        )
        deployment.execution_arn = arn
