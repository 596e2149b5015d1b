"""Deleting a deployment from the ledger, with its routes and statuses."""

from __future__ import annotations

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters import sites
from chalicelib.errors import ConditionFailed, Conflict
from chalicelib.models.conditional import transact, try_delete
from chalicelib.models.deployment import Deployment
from chalicelib.models.deployment_status import DeploymentStatus
from chalicelib.models.environment import Environment, EnvironmentRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.route import Route
from chalicelib.vocabulary import NON_TERMINAL


def delete_record(deployment: Deployment) -> None:
    """Remove a deployment from the ledger; each dialect's delete endpoint checks its own rules first.

    Never one that deployd is still building. Its statuses go with it and its immutable URL stops serving;
    if its environment was serving it, the environment serves nothing until the next deployment.
    """
    if deployment.managed and not deployment.is_terminal:
        raise Conflict(f"deployment {deployment.id} is {deployment.status}; cancel it before deleting it")
    project = ProjectRepository.get_by_id(deployment.project_id)
    environment = EnvironmentRepository.find(project.id, deployment.environment)
    was_active = environment is not None and environment.active_deployment_id == deployment.id

    def remove(tx: TransactWrite) -> None:
        tx.delete(deployment, condition=~Deployment.status.is_in(*NON_TERMINAL) | (Deployment.managed == False))  # noqa: E712
        tx.update(Project(id=project.id), actions=[Project.deployment_count.add(-1)], condition=Project.id.exists())
        env_actions: list[Action] = [Environment.live_ids.delete({deployment.id})]
        if was_active:
            env_actions += [Environment.active_deployment_id.remove(), Environment.active_seq.remove()]
        tx.update(
            Environment(project_id=project.id, name=deployment.environment),
            actions=env_actions,
            # What was read must still hold: a rollback to this deployment racing the delete loses.
            condition=(
                Environment.active_deployment_id == deployment.id
                if was_active
                else Environment.active_deployment_id.does_not_exist()
                | (Environment.active_deployment_id != deployment.id)
            ),
        )

    try:
        transact(remove)
    except ConditionFailed as exc:
        raise Conflict(f"deployment {deployment.id} changed while being deleted; retry") from exc
    Route(host=sites.deployment_label(deployment.id, project.slug, project.org_slug)).delete()
    environment_label = sites.environment_label(project.slug, project.org_slug, deployment.environment)
    if was_active and environment_label is not None:
        # Unless production already serves another deployment: then it is left alone.
        try_delete(Route(host=environment_label), Route.deployment_id == deployment.id)
    with DeploymentStatus.batch_write() as batch:
        for status in DeploymentStatus.query(deployment.id):
            batch.delete(status)
