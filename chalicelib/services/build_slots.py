"""Per-organization build slots: how many of an organization's builds may run at once, by plan.

A deployment recorded while nobody waits in its organization's line takes a free slot as it is recorded
(`take`, in the creation's transaction) and its pipeline goes straight to the build. Otherwise its pipeline
first asks for a slot (AcquireSlot in the state machine). If one is free it proceeds at once; otherwise it
waits in its organization's line, oldest first, and starts when a build of the same organization ends.
Organizations never share slots, so one cannot starve another. All counting is conditional: the slot counter
never exceeds the plan's limit and never goes below zero, a slot is given to a deployment only while it is
still queued, and only a deployment that holds a slot gives one back, so a cancelled queued deployment frees
nothing it did not hold.
"""

from __future__ import annotations

import time

from pynamodb.transactions import TransactWrite

from chalicelib.adapters import executions
from chalicelib.errors import ConditionFailed
from chalicelib.models.conditional import transact, try_delete
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.organization import OrganizationRepository
from chalicelib.models.registry import RegistryEntry
from chalicelib.models.slot_wait import SlotWait, SlotWaitRepository
from chalicelib.observability import deployment_context, logger
from chalicelib.services import caller_plan
from chalicelib.vocabulary import TERMINAL, Status

SLOTS_BY_PLAN = {"free": 1, "pro": 3, "enterprise": 10}
MOST_SLOTS = max(SLOTS_BY_PLAN.values())


def slot_limit(org_slug: str, plan: str | None = None) -> int:
    """The organization's number of build slots, by its `plan` when the caller knows it."""
    plan = plan or caller_plan.of(org_slug) or OrganizationRepository.get(org_slug).plan
    return SLOTS_BY_PLAN.get(plan, 1)


def _counter(org_slug: str) -> RegistryEntry:
    return RegistryEntry(name=f"build-slots#{org_slug}")


def running(org_slug: str) -> int:
    try:
        return RegistryEntry.get(f"build-slots#{org_slug}", consistent_read=True).value or 0
    except RegistryEntry.DoesNotExist:
        return 0


def limit_when_nobody_waits(org_slug: str) -> int | None:
    """The organization's slot limit when nobody waits in its line (a new deployment may then `take` a free
    slot as it is recorded); None when someone does: the newcomer joins the line behind them."""
    if SlotWaitRepository.oldest(org_slug, 1):
        return None
    return slot_limit(org_slug)


def take(tx: TransactWrite, org_slug: str, limit: int) -> None:
    """A transaction's share of taking a free slot for a deployment it records queued with `slot_held`: the
    same conditional count a grant makes, refused (ConditionFailed at its position) when every slot is taken."""
    tx.update(
        _counter(org_slug),
        actions=[RegistryEntry.value.add(1)],
        condition=RegistryEntry.value.does_not_exist() | (RegistryEntry.value < limit),
    )


def request(deployment_id: int, task_token: str) -> None:
    """The pipeline asks for a slot: join the organization's line, then hand out whatever is free."""
    deployment = DeploymentRepository.find(deployment_id)
    if deployment is None:
        executions.fail(task_token, "DeploymentNotFound")
        return
    if deployment.status != Status.QUEUED:  # cancelled before it asked (or a redelivered request)
        executions.fail(task_token, "DeploymentNotQueued", f"deployment is {deployment.status}")
        return
    position = f"{int(time.time() * 1000):015d}#{deployment_id:015d}"
    SlotWait(
        org_slug=deployment.org_slug,
        position=position,
        deployment_id=deployment_id,
        project_id=deployment.project_id,
        task_token=task_token,
    ).save()
    # Whoever gives a slot back after this reads the line and finds this request; one given back before is seen
    # in the counter, read (consistently) after joining the line. So when the counter says every slot is taken,
    # there is nothing to hand out now, and no grant is tried only to be refused.
    plan = deployment.org_plan or OrganizationRepository.get(deployment.org_slug).plan  # read once, if at all
    free = slot_limit(deployment.org_slug, plan) - running(deployment.org_slug)
    if free > 0:
        dispatch(deployment.org_slug, plan, freed=free)


def dispatch(org_slug: str, plan: str | None = None, freed: int | None = None) -> None:
    """Give free slots to the oldest waiting deployments of the organization, one conditional grant at a time
    (`plan`: the organization's, when the caller knows it).

    `freed`: how many slots the caller knows to be free (one, after giving one back): once that many are granted
    it stops, rather than learn from a refused grant that the slots are taken. Each slot given back is handed out
    by the dispatch of whoever gave it back, so none is left free while someone waits."""
    limit: int | None = None
    granted_here = 0
    while True:
        # The first `limit` in line are all that can be granted at once; the counter's condition in each grant
        # says when the slots are taken, so the counter is not read first, and the plan only once someone waits.
        wanted = limit or MOST_SLOTS
        if freed is not None:
            wanted = min(wanted, freed - granted_here)
        waits = SlotWaitRepository.oldest(org_slug, wanted)
        if not waits:
            return
        if limit is None:
            limit = slot_limit(org_slug, plan)
            waits = waits[:limit]
        for wait in waits:
            granted = _grant(org_slug, wait, limit)
            if granted is None:
                continue  # the waiter was no longer queued, or another dispatcher took it: the next one
            if not granted:
                return  # every slot is taken
            executions.succeed(wait.task_token, {"slot": True})
            with deployment_context(wait.deployment_id, wait.project_id):
                logger.info("build slot granted", extra={"org": org_slug, "slots": limit})
            granted_here += 1
            if freed is not None and granted_here >= freed:
                return  # every slot the caller freed is handed out
        if len(waits) < min(limit, wanted):
            return  # the whole line was served


def _grant(org_slug: str, wait: SlotWait, limit: int) -> bool | None:
    """True: granted. False: no slot free. None: this waiter is gone or no longer queued (dropped)."""

    def grant(tx: TransactWrite) -> None:
        take(tx, org_slug, limit)
        tx.delete(wait, condition=SlotWait.position.exists())
        tx.update(
            Deployment(id=wait.deployment_id),
            actions=[Deployment.slot_held.set(True)],
            condition=(Deployment.status == Status.QUEUED) & Deployment.slot_held.does_not_exist(),
        )

    try:
        transact(grant)
    except ConditionFailed as exc:
        if 0 in exc.failed:  # the counter's: every slot is taken
            return False
        _drop(wait)
        return None
    return True


def _drop(wait: SlotWait) -> None:
    """A waiter that is no longer queued (cancelled while waiting) leaves the line; it held nothing.

    A queued deployment that already holds a slot waits in line twice: SQS delivered its request twice.
    The copy leaves the line quietly; its task token is the one the grant already answered.
    """
    deployment = DeploymentRepository.find(wait.deployment_id)
    if deployment is not None and deployment.status == Status.QUEUED:
        if deployment.slot_held:
            try_delete(wait, SlotWait.position.exists())
        return  # otherwise granted concurrently by another dispatcher, which already removed it
    try:
        wait.delete(condition=SlotWait.position.exists())
    except Exception:  # already removed by another dispatcher
        return
    executions.fail(wait.task_token, "DeploymentNotQueued", "the deployment left the queue before a slot was free")


def release(deployment: Deployment) -> None:
    """A deployment that ended gives its slot back (only if it held one), and the next in line gets it."""
    holder = Deployment(id=deployment.id)

    def release_held(tx: TransactWrite) -> None:
        tx.update(
            holder,
            actions=[Deployment.slot_held.remove()],
            condition=(Deployment.slot_held == True) & Deployment.status.is_in(*TERMINAL),  # noqa: E712
        )
        give_back(tx, deployment.org_slug)

    try:
        transact(release_held)
    except ConditionFailed:
        return  # it held no slot (or already gave it back)
    dispatch(deployment.org_slug, deployment.org_plan, freed=1)


def give_back(tx: TransactWrite, org_slug: str) -> None:
    """The counter's share of giving a slot back, for a transaction that also ends a deployment holding one
    (conditional on its `slot_held`); `dispatch` the organization's line after it."""
    tx.update(_counter(org_slug), actions=[RegistryEntry.value.add(-1)], condition=RegistryEntry.value > 0)
