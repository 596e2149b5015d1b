"""What the embedded stack settles when it stops and when it starts again from its data directory: the work that was
in flight ended with the process running it (its executions, task tokens and builds are gone).

Every change is the pipeline's own conditional write: a deployment ends through `record_failure` (which releases
its environment and its build slot), a slot wait leaves the line only if it is still there, a counter is corrected
only if it still holds what was read.
"""

from __future__ import annotations

import time

from pynamodb.models import Model

from chalicelib.adapters import webhook_queue
from chalicelib.models.attributes import utc_now
from chalicelib.models.conditional import try_delete, try_update, unchanged
from chalicelib.models.deploy_hook import DeployHook
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.deployment_status import DeploymentStatus
from chalicelib.models.environment import Environment
from chalicelib.models.idempotency_claim import IdempotencyClaim
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.promotion import Promotion
from chalicelib.models.registry import RegistryEntry
from chalicelib.models.slot_wait import SlotWait
from chalicelib.models.webhook import Webhook
from chalicelib.models.webhook_delivery import WebhookDelivery
from chalicelib.services.deployments import record_failure
from chalicelib.vocabulary import NON_TERMINAL, TERMINAL

INTERRUPTED = "interrupted: deployd restarted"
_SLOT_COUNTER_PREFIX = "build-slots#"


# Each id sequence of the registry (models.registry.next_id) and the model whose `id` it numbers.
_SEQUENCES: dict[str, type[Model]] = {
    "project": Project,
    "deployment": Deployment,
    "deployment-status": DeploymentStatus,
    "environment": Environment,
    "webhook": Webhook,
    "deploy_hook": DeployHook,
    "promotion": Promotion,
}


def end_interrupted_work() -> int:
    """Fail every deployment deployd was building with INTERRUPTED, free every build slot, bring the id sequences level
    with the ids in use, and forget the idempotency claims of requests that were running. Returns how many
    deployments were ended."""
    # A waiter's task token belonged to an execution that is gone; its deployment is failed below.
    for wait in SlotWait.scan(consistent_read=True):
        try_delete(wait, SlotWait.position.exists())
    ended = 0
    # Only deployd's own builds ran here: an external deployer (a project without a build command) still reports.
    built_here = (Deployment.managed == True) | Deployment.managed.does_not_exist()  # noqa: E712
    for deployment in Deployment.scan(Deployment.status.is_in(*NON_TERMINAL) & built_here, consistent_read=True):
        # A deploying build may have published its own URL for its promotion: taken back with its end.
        published = ProjectRepository.get_by_id(deployment.project_id) if deployment.deployment_url else None
        if record_failure(deployment, INTERRUPTED, cause="platform", project=published):
            ended += 1
    _free_build_slots()
    _end_interrupted_promotions()
    _release_environments()
    _level_sequences()
    _forget_unfinished_requests()  # so a retry of a request the stop cut short runs it again
    return ended


def _forget_unfinished_requests() -> None:
    """Release every Idempotency-Key still claimed: the process running its request is gone. Without this, a retry
    of the key would hear "still executing" until the record expires a day later."""
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import STATUS_CONSTANTS

    claimed = STATUS_CONSTANTS["INPROGRESS"]
    for claim in IdempotencyClaim.scan(IdempotencyClaim.status == claimed, consistent_read=True):
        try_delete(claim, IdempotencyClaim.status == claimed)  # refused when it finished meanwhile: its record stays


def resume_webhook_deliveries() -> int:
    """A pending webhook message's next attempt was a queue message, gone with the process that held it: ask for
    that attempt again, when it is due. Returns how many were asked for."""
    now = time.time()
    resumed = 0
    for delivery in WebhookDelivery.scan(WebhookDelivery.status == "pending", consistent_read=True):
        due = delivery.next_attempt_at.timestamp() if delivery.next_attempt_at is not None else now
        webhook_queue.enqueue(delivery.webhook_id, delivery.id, max(0.0, due - now))
        resumed += 1
    return resumed


def _end_interrupted_promotions() -> None:
    """A promotion's execution ended with the process: it ends failed (what its environment serves stays as it is,
    switched or not), and its environment's line is cleared, the promotions waiting in it failed with it (their
    deployments were ended above; a rollback is asked for again)."""
    from chalicelib.models.promotion import ENDED, FAILED

    now = utc_now()
    for promotion in Promotion.scan(~Promotion.status.is_in(*ENDED), consistent_read=True):
        try_update(
            promotion,
            [
                Promotion.status.set(FAILED),
                Promotion.error_message.set(INTERRUPTED),
                Promotion.finished_at.set(now),
                Promotion.updated_at.set(now),
            ],
            Promotion.status == promotion.status,
        )
    lined = Environment.promoting.exists() | Environment.promotion_waiting.exists()
    for environment in Environment.scan(lined, consistent_read=True):
        try_update(
            Environment(project_id=environment.project_id, name=environment.name),
            [Environment.promoting.remove(), Environment.promotion_waiting.remove()],
            unchanged(Environment.promoting, environment.promoting),
        )


def _free_build_slots() -> None:
    """No build runs now, so every slot is free: what a snapshot taken mid-write left held is given back."""
    for deployment in Deployment.scan(Deployment.slot_held.exists(), consistent_read=True):
        try_update(
            Deployment(id=deployment.id),
            [Deployment.slot_held.remove()],
            (Deployment.slot_held == True) & Deployment.status.is_in(*TERMINAL),  # noqa: E712
        )
    for counter in RegistryEntry.scan(RegistryEntry.name.startswith(_SLOT_COUNTER_PREFIX), consistent_read=True):
        if counter.value:
            try_update(counter, [RegistryEntry.value.set(0)], RegistryEntry.value == counter.value)


def _release_environments() -> None:
    """An environment names as in flight, or as its preview's builder, only deployments that are (what a snapshot
    taken mid-write kept, and builds the process ran)."""
    for environment in Environment.scan(Environment.in_flight.exists(), consistent_read=True):
        ended = set()
        for deployment_id in environment.in_flight or set():
            deployment = DeploymentRepository.find(deployment_id)
            if deployment is None or deployment.status in TERMINAL:
                ended.add(deployment_id)
        if ended:
            Environment(project_id=environment.project_id, name=environment.name).update(
                actions=[Environment.in_flight.delete(ended)]
            )
    # A preview's build lock held by a build that ended with the process: the next build takes it at once, rather
    # than after the heartbeat limit a lock whose holder went silent waits.
    for environment in Environment.scan(Environment.builder.exists(), consistent_read=True):
        holder = DeploymentRepository.find(environment.builder) if environment.builder is not None else None
        if holder is None or holder.status in TERMINAL:
            try_update(
                Environment(project_id=environment.project_id, name=environment.name),
                [Environment.builder.remove()],
                Environment.builder == environment.builder,
            )


def _level_sequences() -> None:
    """A sequence never hands out an id already in use (a snapshot taken mid-write may hold an item whose id the
    sequence's counter had not yet counted)."""
    for sequence, model in _SEQUENCES.items():
        highest = max((getattr(item, "id", None) or 0 for item in model.scan(consistent_read=True)), default=0)
        counter = RegistryEntry(name=f"sequence#{sequence}")
        try_update(
            counter,
            [RegistryEntry.value.set(highest)],
            RegistryEntry.value.does_not_exist() | (RegistryEntry.value < highest),
        )
