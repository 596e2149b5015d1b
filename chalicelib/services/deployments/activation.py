"""What an environment serves: a deployment going live (newest wins), and a rollback to an earlier build."""

from __future__ import annotations

import functools
from typing import NamedTuple

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters import sites
from chalicelib.errors import ConditionFailed, Conflict
from chalicelib.models.attributes import utc_now
from chalicelib.models.conditional import transact
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import Environment, EnvironmentRepository, serving
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.promotion import DEPLOY, ROLLBACK, SUCCEEDED, SWITCHING, Promotion, PromotionRepository
from chalicelib.models.route import Route
from chalicelib.observability import deployment_context, deployment_event, logger
from chalicelib.services import build_slots, promotions, statuses
from chalicelib.services.deployments.queries import DeploymentView, deployment_of
from chalicelib.vocabulary import Status


class RolledBack(NamedTuple):
    """A rollback's answer: its target, whether the environment serves it now, and the promotion that ran it."""

    deployment: Deployment
    is_active: bool
    promotion: Promotion | None = None

    @property
    def view(self) -> DeploymentView:
        return DeploymentView(self.deployment, self.is_active)


def rollback(org_slug: str, project_id: int, deployment_id: int, triggered_by: str | None = "api") -> RolledBack:
    """Serve an earlier deployed build again: a promotion (verified, then a pointer switch; no rebuild), in its
    turn after the environment's promotions asked for before it. Answers once it switched or ended (at most
    promotions.ROLLBACK_WAIT_SECONDS; then as it stands)."""
    project = ProjectRepository.get(org_slug, project_id)
    target = deployment_of(project, deployment_id)
    if target.status != Status.DEPLOYED:
        raise Conflict(
            f"deployment {deployment_id} is {target.status}; only deployed deployments can be rolled back to"
        )
    if not target.artifact_prefix:
        raise Conflict(f"deployment {deployment_id}'s built files were deleted after retention; deploy it again")
    environment = EnvironmentRepository.find(project.id, target.environment)

    def still_allowed(environment: Environment | None) -> None:
        if environment is None:
            raise Conflict(f"environment {target.environment} of project {project.id} has no active deployment")
        if environment.in_flight:
            busy = ", ".join(str(i) for i in sorted(environment.in_flight))
            raise Conflict(f"cannot roll back while deployment(s) {busy} of this project are in progress")

    still_allowed(environment)
    assert environment is not None
    if _serves_and_will_serve(environment, target):
        raise Conflict(f"deployment {deployment_id} is already the active deployment")
    recorded = promotions.record(
        project,
        environment,
        target,
        ROLLBACK,
        triggered_by,
        environment_condition=Environment.in_flight.does_not_exist(),
        recheck=still_allowed,
    )
    # The switch changes nothing the target's answer shows (its promoted_at, its event count): no need to re-read it.
    promotion = promotions.wait_until_switched(project.id, recorded.id)
    # Switched and standing (or the environment served it already when its turn came); refused, failed, still in
    # line after the wait, or switched back since: not served.
    is_active = promotion.status in (SWITCHING, SUCCEEDED)
    with deployment_context(target.id, project.id):
        logger.info("rollback", extra={"promotion_id": promotion.id, "promotion_status": promotion.status})
    return RolledBack(target, is_active, promotion)


def _serves_and_will_serve(environment: Environment, target: Deployment) -> bool:
    """The environment serves the target, and nothing in its line may change that (the promotion holding it, if any,
    is the one that made it serve the target; none waits). Otherwise the rollback takes its turn."""
    if environment.active_deployment_id != target.id or environment.promotion_waiting:
        return False
    if environment.promoting is None:
        return True
    holder = PromotionRepository.find(environment.project_id, environment.promoting)
    return holder is None or holder.to_deployment_id == target.id


def environment_route(project: Project, deployment: Deployment) -> Route | None:
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
    """deploying -> deployed: publish the immutable URL, and make the build what its environment serves unless a
    newer one is. Going live is a promotion (services.promotions): recorded here with the build slot given back,
    it verifies the build and switches to it in its turn; this returns once it is recorded.

    False when the deployment is no longer deploying (cancelled meanwhile). An older build that finishes
    after a newer one has gone live is deployed at its own URL but never replaces the newer one.

    `project` and `environment`, when given, were read together with the deployment (the activation handler
    reads all three at once); an environment that moved since is read again.
    """
    if project is None:
        project = ProjectRepository.get_by_id(deployment.project_id)
        environment = EnvironmentRepository.find(project.id, deployment.environment)
    holds_slot = bool(deployment.slot_held)
    for _attempt in range(5):
        active_seq = environment.active_seq if environment else None
        if active_seq is None or active_seq < deployment.seq:
            return _record_promotion(project, deployment, environment)
        live_before = set(environment.live_ids or set()) if environment else set()
        written = Activation(project, deployment, active_seq, False, holds_slot)
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
        logger.info("deployment live", extra={"deployment_url": deployment.deployment_url, "promoted": False})
        deployment_event("succeeded")
        statuses.deactivate_superseded(deployment, live_before)
        if holds_slot:
            build_slots.dispatch(deployment.org_slug, deployment.org_plan, freed=1)
        return True
    raise Conflict(f"deployment {deployment.id} could not be activated: its environment kept changing")


def _record_promotion(project: Project, deployment: Deployment, environment: Environment | None) -> bool:
    """Record the promotion that will make the deployment live, in one transaction that publishes its own URL (the
    candidate the promotion verifies) and gives its build slot back: the build is over."""
    label = sites.deployment_label(deployment.id, project.slug, project.org_slug)
    own_url = sites.url_for(label)
    for _attempt in range(3):
        holds_slot = bool(deployment.slot_held)

        publish = functools.partial(_publish_candidate, project, deployment, label, own_url, holds_slot)
        try:
            promotions.record(project, environment, deployment, DEPLOY, deployment.triggered_by, publish)
        except ConditionFailed:
            deployment.refresh(consistent_read=True)
            if deployment.status != Status.DEPLOYING:
                return False
            continue  # its build slot was given back meanwhile (a restart's settling): write again without it
        deployment.deployment_url = own_url
        if holds_slot:
            deployment.slot_held = None
            build_slots.dispatch(deployment.org_slug, deployment.org_plan, freed=1)
        return True
    raise Conflict(f"deployment {deployment.id} could not be recorded for promotion; retry")


def _publish_candidate(
    project: Project, deployment: Deployment, label: str, own_url: str, holds_slot: bool, tx: TransactWrite
) -> None:
    """The deployment's own URL (what its promotion verifies first), and its build slot given back."""
    actions: list[Action] = [Deployment.deployment_url.set(own_url), Deployment.updated_at.set(utc_now())]
    condition = Deployment.status == Status.DEPLOYING
    if holds_slot:
        actions.append(Deployment.slot_held.remove())
        condition &= Deployment.slot_held == True  # noqa: E712
    tx.update(Deployment(id=deployment.id), actions=actions, condition=condition)
    tx.save(
        Route(
            host=label,
            artifact_prefix=deployment.artifact_prefix or sites.artifact_prefix(deployment.id),
            deployment_id=deployment.id,
            project_id=project.id,
        )
    )
    if holds_slot:
        build_slots.give_back(tx, deployment.org_slug)


class Activation:
    """One transaction: the deployment goes live at its own URL with its "success" status, leaves the in-flight
    set, joins the live deployments, gives its build slot back (when it holds one) and, when `promote`, becomes
    what the environment serves; all conditional on what was read before. `apply` then updates the deployment
    in hand with what was written, so nobody reads it again.

    `holder`: a condition on the environment a promotion's switch adds (it holds the environment's line).
    `refused`: its promotion refused it (docs/promotions.md): deployed at its own URL only, with this reason as its
    error_message and a `failure` status, and it does not join the live deployments."""

    def __init__(
        self,
        project: Project,
        deployment: Deployment,
        active_seq: int | None,
        promote: bool,
        holds_slot: bool,
        holder: Condition | None = None,
        refused: str | None = None,
    ) -> None:
        self.project, self.deployment, self.active_seq = project, deployment, active_seq
        self.promote, self.holds_slot, self.holder, self.refused = promote, holds_slot, holder, refused
        self.label = sites.deployment_label(deployment.id, project.slug, project.org_slug)
        self.own_url = sites.url_for(self.label)
        self.environment_route = environment_route(project, deployment) if promote else None
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
            status_ids_from=deployment.status_ids_from,
        )
        if refused is not None:
            self.report = statuses.refusal_report(live, refused)
        else:
            self.report = statuses.pipeline_report(live, Status.DEPLOYED)

    def write(self, tx: TransactWrite) -> None:
        self.write_deployment(tx)
        tx.update(
            Environment(project_id=self.deployment.project_id, name=self.deployment.environment),
            actions=self.environment_actions(),
            condition=self.environment_condition(),
        )

    def write_deployment(self, tx: TransactWrite) -> None:
        """Everything but the environment's item (which a promotion's end writes with the line's own actions)."""
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
        if self.refused is not None:
            actions.append(Deployment.error_message.set(self.refused))
        if self.holds_slot:
            actions.append(Deployment.slot_held.remove())
            condition &= Deployment.slot_held == True  # noqa: E712
        tx.update(Deployment(id=deployment.id), actions=actions, condition=condition)
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

    def environment_actions(self) -> list[Action]:
        deployment = self.deployment
        actions: list[Action] = [Environment.in_flight.delete({deployment.id}), Environment.updated_at.set(self.now)]
        if self.refused is None and deployment.listed_live:
            actions.append(Environment.live_ids.add({deployment.id}))
        if self.promote:
            actions += serving(deployment.id, deployment.seq)
        return actions

    def environment_condition(self) -> Condition:
        condition: Condition
        if self.promote:
            condition = Environment.active_seq.does_not_exist() | (Environment.active_seq < self.deployment.seq)
        else:
            condition = Environment.active_seq == self.active_seq  # type: ignore[assignment]
        if self.holder is not None:
            condition &= self.holder
        return condition

    def apply(self) -> None:
        deployment, now = self.deployment, self.now
        deployment.status = Status.DEPLOYED
        deployment.deployment_url, deployment.environment_url = self.own_url, self.environment_url
        deployment.deployed_at = deployment.finished_at = deployment.updated_at = now
        deployment.event_seq = (deployment.event_seq or 0) + self.events
        deployment.reported_rank = self.report.rank
        if self.promote:
            deployment.promoted_at, deployment.promoted_environment = now, deployment.environment
        if self.refused is not None:
            deployment.error_message = self.refused
        if self.holds_slot:
            deployment.slot_held = None
