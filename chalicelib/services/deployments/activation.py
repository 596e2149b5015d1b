"""What an environment serves: a deployment going live (newest wins), and a rollback to an earlier build."""

from __future__ import annotations

import functools

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


def activate(deployment: Deployment) -> bool:
    """deploying -> deployed: publish the immutable URL, and make the build production unless a newer one is.

    False when the deployment is no longer deploying (cancelled meanwhile). An older build that finishes
    after a newer one has gone live is deployed at its own URL but never replaces the newer one.
    """
    project = ProjectRepository.get_by_id(deployment.project_id)
    for _attempt in range(5):
        environment = EnvironmentRepository.find(project.id, deployment.environment)
        active_seq = environment.active_seq if environment else None
        promote = active_seq is None or active_seq < deployment.seq
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
    label = sites.deployment_label(deployment.id, project.slug, project.org_slug)
    own_url = sites.url_for(label)
    environment_route = _environment_route(project, deployment) if promote else None
    environment_url = sites.url_for(environment_route.host) if environment_route is not None else own_url
    now = utc_now()
    # Its status_changed event, and when it becomes what the environment serves its promoted event after it.
    actions: list[Action] = [
        Deployment.status.set(Status.DEPLOYED),
        Deployment.deployment_url.set(own_url),
        Deployment.environment_url.set(environment_url),
        Deployment.deployed_at.set(now),
        Deployment.finished_at.set(now),
        Deployment.updated_at.set(now),
    ]
    if promote:
        actions += [
            Deployment.promoted_at.set(now),
            Deployment.promoted_environment.set(deployment.environment),
            Deployment.event_seq.add(2),
        ]
    else:
        actions.append(Deployment.event_seq.add(1))
    tx.update(deployment, actions=actions, condition=Deployment.status == Status.DEPLOYING)
    env_actions: list[Action] = [Environment.in_flight.delete({deployment.id}), Environment.updated_at.set(now)]
    env_condition: Condition
    if promote:
        env_actions += [
            Environment.active_deployment_id.set(deployment.id),
            Environment.active_seq.set(deployment.seq),
        ]
        env_condition = Environment.active_seq.does_not_exist() | (Environment.active_seq < deployment.seq)
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
            artifact_prefix=deployment.artifact_prefix or sites.artifact_prefix(deployment.id),
            deployment_id=deployment.id,
            project_id=project.id,
        )
    )
    if environment_route is not None:
        tx.save(environment_route)
