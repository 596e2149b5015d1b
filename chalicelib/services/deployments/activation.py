"""What an environment serves: a deployment going live (newest wins), and a rollback to an earlier build."""

from __future__ import annotations

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters import sites
from chalicelib.errors import ConditionFailed, Conflict
from chalicelib.models.attributes import utc_now
from chalicelib.models.conditional import transact
from chalicelib.models.deployment import Deployment, promotion
from chalicelib.models.environment import Environment, EnvironmentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.route import Route
from chalicelib.observability import deployment_context, deployment_event, logger
from chalicelib.services import build_slots, statuses
from chalicelib.services.deployments.queries import DeploymentView, deployment_of
from chalicelib.vocabulary import Status


def rollback(org_slug: str, project_id: int, deployment_id: int) -> DeploymentView:
    """Serve an earlier deployed build again at once: a pointer switch, no rebuild."""
    project = ProjectRepository.get(org_slug, project_id)
    target = deployment_of(project, deployment_id)
    if target.status != Status.DEPLOYED:
        raise Conflict(
            f"deployment {deployment_id} is {target.status}; only deployed deployments can be rolled back to"
        )
    if not target.artifact_prefix:
        raise Conflict(f"deployment {deployment_id}'s built files were deleted after retention; deploy it again")
    environment = EnvironmentRepository.find(project.id, target.environment)
    if environment is None:
        raise Conflict(f"environment {target.environment} of project {project.id} has no active deployment")
    if environment.active_deployment_id == target.id:
        raise Conflict(f"deployment {deployment_id} is already the active deployment")
    if environment.in_flight:
        busy = ", ".join(str(i) for i in sorted(environment.in_flight))
        raise Conflict(f"cannot roll back while deployment(s) {busy} of this project are in progress")
    now = utc_now()

    def switch(tx: TransactWrite) -> None:
        # The target records its promotion (its promoted event) in the same transaction.
        tx.update(
            Deployment(id=target.id),
            actions=promotion(target.environment, now),
            condition=Deployment.status == Status.DEPLOYED,
        )
        tx.update(
            environment,
            actions=[
                Environment.active_deployment_id.set(target.id),
                Environment.active_seq.set(target.seq),
                Environment.updated_at.set(now),
            ],
            condition=(Environment.active_deployment_id != target.id) & Environment.in_flight.does_not_exist(),
        )
        route = _environment_route(project, target)
        if route is not None:
            tx.save(route)

    try:
        transact(switch)
    except ConditionFailed as exc:
        raise Conflict("the project changed while rolling back (another rollback or a new deployment); retry") from exc
    target.refresh(consistent_read=True)
    with deployment_context(target.id, project.id):
        logger.info("rolled back production", extra={"previous_deployment_id": environment.active_deployment_id})
    return DeploymentView(target, True)


def _environment_route(project: Project, deployment: Deployment) -> Route | None:
    """What the deployment's environment URL (production, a branch preview) should serve, if it has one."""
    label = sites.environment_label(project.slug, project.org_slug, deployment.environment)
    if label is None:
        return None
    return Route(
        host=label,
        artifact_prefix=deployment.artifact_prefix or sites.artifact_prefix(deployment.id),
        deployment_id=deployment.id,
        project_id=project.id,
        updated_at=utc_now(),
    )


def activate(deployment: Deployment, project: Project | None = None, environment: Environment | None = None) -> bool:
    """deploying -> deployed: publish the immutable URL, and make the build production unless a newer one is.

    False when the deployment is no longer deploying (cancelled meanwhile). An older build that finishes
    after a newer one has gone live is deployed at its own URL but never replaces the newer one.

    `project` and `environment`, when given, were read together with the deployment (the activation handler
    reads all three at once); an environment that moved since is read again. The same transaction publishes
    the "success" status, joins the environment's live deployments and gives the build slot back.
    """
    if project is None:
        project = ProjectRepository.get_by_id(deployment.project_id)
        environment = EnvironmentRepository.find(project.id, deployment.environment)
    holds_slot = bool(deployment.slot_held)
    for _attempt in range(5):
        active_seq = environment.active_seq if environment else None
        promote = active_seq is None or active_seq < deployment.seq
        live_before = set(environment.live_ids or set()) if environment else set()
        written = _Activation(project, deployment, active_seq, promote, holds_slot)
        try:
            transact(written.write)
        except ConditionFailed:
            deployment.refresh(consistent_read=True)
            if deployment.status != Status.DEPLOYING:
                return False
            holds_slot = bool(deployment.slot_held)
            environment = EnvironmentRepository.find(project.id, deployment.environment)
            continue  # the environment moved under us (a newer build went live): decide again
        written.apply()
        logger.info("deployment live", extra={"deployment_url": deployment.deployment_url, "promoted": promote})
        deployment_event("succeeded")
        statuses.deactivate_superseded(deployment, live_before)
        if holds_slot:
            build_slots.dispatch(deployment.org_slug)
        return True
    raise Conflict(f"deployment {deployment.id} could not be activated: its environment kept changing")


class _Activation:
    """One transaction: the deployment goes live at its own URL with its "success" status, leaves the in-flight
    set, joins the live deployments, gives its build slot back (when it holds one) and, when `promote`, becomes
    what the environment serves; all conditional on what was read before. `apply` then updates the deployment
    in hand with what was written, so nobody reads it again."""

    def __init__(
        self, project: Project, deployment: Deployment, active_seq: int | None, promote: bool, holds_slot: bool
    ) -> None:
        self.project, self.deployment, self.active_seq = project, deployment, active_seq
        self.promote, self.holds_slot = promote, holds_slot
        self.label = sites.deployment_label(deployment.id, project.slug, project.org_slug)
        self.own_url = sites.url_for(self.label)
        self.environment_route = _environment_route(project, deployment) if promote else None
        route = self.environment_route
        self.environment_url = sites.url_for(route.host) if route is not None else self.own_url
        self.now = utc_now()
        self.events = 2 if promote else 1  # its status_changed event, and its promoted event when promoted
        live = Deployment(
            id=deployment.id,
            project_id=deployment.project_id,
            environment=deployment.environment,
            status=Status.DEPLOYED,
            deployment_url=self.own_url,
            environment_url=self.environment_url,
            managed=deployment.managed,
        )
        self.report = statuses.pipeline_report(live, Status.DEPLOYED)

    def write(self, tx: TransactWrite) -> None:
        deployment, now = self.deployment, self.now
        actions: list[Action] = [
            Deployment.status.set(Status.DEPLOYED),
            Deployment.deployment_url.set(self.own_url),
            Deployment.environment_url.set(self.environment_url),
            Deployment.deployed_at.set(now),
            Deployment.finished_at.set(now),
            Deployment.updated_at.set(now),
            Deployment.event_seq.add(self.events),
            *self.report.actions,
        ]
        condition = Deployment.status == Status.DEPLOYING
        if self.promote:
            actions += [Deployment.promoted_at.set(now), Deployment.promoted_environment.set(deployment.environment)]
        if self.holds_slot:
            actions.append(Deployment.slot_held.remove())
            condition &= Deployment.slot_held == True  # noqa: E712
        tx.update(Deployment(id=deployment.id), actions=actions, condition=condition)
        env_actions: list[Action] = [
            Environment.in_flight.delete({deployment.id}),
            Environment.live_ids.add({deployment.id}),
            Environment.updated_at.set(now),
        ]
        env_condition: Condition
        if self.promote:
            env_actions += [
                Environment.active_deployment_id.set(deployment.id),
                Environment.active_seq.set(deployment.seq),
            ]
            env_condition = Environment.active_seq.does_not_exist() | (Environment.active_seq < deployment.seq)
        else:
            env_condition = Environment.active_seq == self.active_seq  # type: ignore[assignment]
        tx.update(
            Environment(project_id=deployment.project_id, name=deployment.environment),
            actions=env_actions,
            condition=env_condition,
        )
        tx.save(
            Route(
                host=self.label,
                artifact_prefix=deployment.artifact_prefix or sites.artifact_prefix(deployment.id),
                deployment_id=deployment.id,
                project_id=self.project.id,
            )
        )
        if self.environment_route is not None:
            tx.save(self.environment_route)
        self.report.write(tx)
        if self.holds_slot:
            build_slots.give_back(tx, deployment.org_slug)

    def apply(self) -> None:
        deployment, now = self.deployment, self.now
        deployment.status = Status.DEPLOYED
        deployment.deployment_url, deployment.environment_url = self.own_url, self.environment_url
        deployment.deployed_at = deployment.finished_at = deployment.updated_at = now
        deployment.event_seq = (deployment.event_seq or 0) + self.events
        deployment.reported_rank = self.report.rank
        if self.promote:
            deployment.promoted_at, deployment.promoted_environment = now, deployment.environment
        if self.holds_slot:
            deployment.slot_held = None
