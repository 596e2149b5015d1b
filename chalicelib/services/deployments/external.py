"""The external ledger: deployments of a project without a build command move only when their deployer reports."""

from __future__ import annotations

from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.errors import ConditionFailed, Conflict
from chalicelib.models.attributes import utc_now
from chalicelib.models.conditional import transact, try_update
from chalicelib.models.deployment import Deployment, promotion
from chalicelib.models.environment import Environment, serving
from chalicelib.services import statuses
from chalicelib.vocabulary import TERMINAL, Status


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
            f"deployment {deployment.id} is built by deployd; its status follows the build (now {deployment.status})"
        )
    now = utc_now()
    actions: list[Action] = [Deployment.status.set(status), Deployment.updated_at.set(now)]
    if status != deployment.status:  # a move is the deployment's next event; a repeated report is none
        actions.append(Deployment.event_seq.add(1))
    if status in TERMINAL:
        actions.append(Deployment.finished_at.set(now))
    if status == Status.DEPLOYED:
        actions.append(Deployment.deployed_at.set(now))
    if environment_url:
        actions += [Deployment.environment_url.set(environment_url), Deployment.deployment_url.set(environment_url)]
    if not try_update(deployment, actions, Deployment.status == deployment.status):
        raise Conflict(f"deployment {deployment.id} changed concurrently; read it and retry")
    if status == Status.DEPLOYED:
        promote_external(deployment)
    if publish:
        statuses.publish_external_state(deployment)
    return deployment


def promote_external(deployment: Deployment) -> None:
    """An externally deployed success becomes its environment's active deployment unless a newer one is.

    The deployment records the promotion (its promoted event) in the same transaction."""
    now = utc_now()

    def promote(tx: TransactWrite) -> None:
        tx.update(
            Environment(project_id=deployment.project_id, name=deployment.environment),
            actions=[*serving(deployment.id, deployment.seq), Environment.updated_at.set(now)],
            condition=Environment.active_seq.does_not_exist() | (Environment.active_seq < deployment.seq),
        )
        tx.update(
            Deployment(id=deployment.id),
            actions=promotion(deployment.environment, now),
            condition=Deployment.status == Status.DEPLOYED,
        )

    try:
        transact(promote)
    except ConditionFailed:
        return  # a newer deployment serves the environment already (or this one moved on)
    deployment.refresh(consistent_read=True)
