"""Promotions: every change of what an environment serves (a deployment going live, a rollback, an automatic revert)
is recorded, verified and run as an execution of the promotion flow (infra/state_machine.promotion_definition).

The environment's line: a promotion is recorded with its turn, in one transaction with the environment item. It
takes the environment (`promoting`) when nobody holds it or waits, else it joins `promotion_waiting`; whoever holds
it hands it on, when it ends, to the lowest id waiting (ids are drawn at the request: request order), in the
transaction that ends it, and starts that promotion's execution. Every move of the line is a conditional write on
the environment item, so no turn is lost or given twice (docs/promotions.md).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters import executions, health_checks, sites
from chalicelib.errors import ConditionFailed, Conflict
from chalicelib.models.attributes import parse_timestamp, utc_now
from chalicelib.models.base import read_together
from chalicelib.models.conditional import transact
from chalicelib.models.deployment import Deployment
from chalicelib.models.deployment import promotion as promoted_actions
from chalicelib.models.environment import PRODUCTION, Environment, EnvironmentRepository, serving
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.promotion import (
    AUTO_REVERT,
    CANDIDATE,
    DEPLOY,
    FAILED,
    LIVE,
    PENDING,
    REJECTED,
    REVERTED,
    SUCCEEDED,
    SWITCHING,
    VERIFYING,
    Check,
    Promotion,
    PromotionRepository,
    environment_key,
)
from chalicelib.models.registry import next_id
from chalicelib.observability import deployment_context, deployment_event, logger
from chalicelib.services import statuses
from chalicelib.vocabulary import Status

# How often a transaction that met a moved line (another promotion joined or left it meanwhile) is tried again.
_LINE_ATTEMPTS = 8
# A rollback answers once its promotion switched or ended, or after this long with the promotion as it stands.
ROLLBACK_WAIT_SECONDS = 10.0
# A switch takes a few tens of milliseconds after the candidate's check: the first look comes after that, the next
# ones further apart, so that a rollback reads its promotion a handful of times.
_ROLLBACK_POLL_SECONDS = 0.04
_ROLLBACK_POLL_MAX_SECONDS = 0.25


# ---- recording a promotion and taking its turn ----


def record(
    project: Project,
    environment: Environment | None,
    target: Deployment,
    reason: str,
    triggered_by: str | None,
    also: Callable[[TransactWrite], None] | None = None,
    environment_condition: Condition | None = None,
    recheck: Callable[[Environment | None], None] | None = None,
) -> Promotion:
    """Record a promotion of `target` in its environment and take its turn in the environment's line, in one
    transaction with `also`'s writes; start its execution when the turn is its own at once.

    `environment` is the environment as the caller read it (None: not there yet). `environment_condition` must
    hold of the environment item as written; when the transaction is refused there, the environment is read
    again, `recheck` raises if the request no longer stands, and the write is tried again. A refusal by one of
    `also`'s writes is the caller's: ConditionFailed, with positions counted from 0 for `also`'s first write.
    """
    promotion_id = next_id("promotion")
    for _attempt in range(_LINE_ATTEMPTS):
        now = utc_now()
        free = environment is None or (environment.promoting is None and not environment.promotion_waiting)
        promotion = Promotion(
            project_id=project.id,
            id=promotion_id,
            environment=target.environment,
            environment_key=environment_key(project.id, target.environment),
            from_deployment_id=environment.active_deployment_id if environment is not None else None,
            to_deployment_id=target.id,
            reason=reason,
            triggered_by=triggered_by,
            status=VERIFYING if free else PENDING,
            execution_arn=executions.promotion_execution_arn(promotion_id) if free else None,
            checks=[],
            created_at=now,
            updated_at=now,
        )
        line_condition: Condition
        if free:
            line_actions: list[Action] = [Environment.promoting.set(promotion_id)]
            line_condition = Environment.promoting.does_not_exist() & Environment.promotion_waiting.does_not_exist()
        else:
            line_actions = [Environment.promotion_waiting.add({promotion_id})]
            line_condition = Environment.promoting.exists()
        if environment_condition is not None:
            line_condition &= environment_condition

        line = Environment(project_id=project.id, name=target.environment)
        write = functools.partial(_record_write, promotion, line, line_actions, line_condition, also)
        try:
            transact(write)
        except ConditionFailed as exc:
            if 1 not in exc.failed:
                raise ConditionFailed(failed=[position - 2 for position in exc.failed if position >= 2]) from exc
            environment = EnvironmentRepository.find(project.id, target.environment)
            if recheck is not None:
                recheck(environment)
            continue
        if free:
            _start_recorded(project, promotion)
        logger.info(
            "promotion recorded",
            extra={"promotion_id": promotion_id, "reason": reason, "to_deployment_id": target.id, "waits": not free},
        )
        return promotion
    raise Conflict(f"the {target.environment} environment kept changing; retry")


def _start_recorded(project: Project, promotion: Promotion) -> None:
    """Start the execution of a promotion that holds its environment's line. If it cannot start, the promotion ends
    failed and the line goes on, so that nothing waits behind a promotion that never runs; the error propagates."""
    try:
        executions.start_promotion(promotion.id, _execution_input(project, promotion))
    except Exception as exc:
        now = utc_now()
        actions: list[Action] = [
            Promotion.status.set(FAILED),
            Promotion.error_message.set(f"its execution could not start: {type(exc).__name__}"),
            Promotion.finished_at.set(now),
            Promotion.updated_at.set(now),
        ]
        _end(promotion, actions, VERIFYING)
        raise


def _record_write(
    promotion: Promotion,
    line: Environment,
    actions: list[Action],
    condition: Condition,
    also: Callable[[TransactWrite], None] | None,
    tx: TransactWrite,
) -> None:
    tx.save(promotion, condition=Promotion.id.does_not_exist())
    tx.update(line, actions=actions, condition=condition)
    if also is not None:
        also(tx)


def _execution_input(project: Project, promotion: Promotion) -> dict[str, Any]:
    own = sites.url_for(sites.deployment_label(promotion.to_deployment_id, project.slug, project.org_slug))
    return {
        "project_id": project.id,
        "promotion_id": promotion.id,
        "environment": promotion.environment,
        "to_deployment_id": promotion.to_deployment_id,
        "candidate_url": health_checks.site_url(own, project.health_check_path),
    }


def wait_until_switched(project_id: int, promotion_id: int, timeout: float = ROLLBACK_WAIT_SECONDS) -> Promotion:
    """The promotion once it switched or ended, or as it stands after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = _ROLLBACK_POLL_SECONDS
    while True:
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        promotion = PromotionRepository.get(project_id, promotion_id)
        if promotion.switched_at is not None or promotion.has_ended or time.monotonic() >= deadline:
            return promotion
        pause = min(pause * 1.5, _ROLLBACK_POLL_MAX_SECONDS)


# ---- the steps of the promotion flow (workers.promotion_worker) ----


def verify_and_switch(
    project_id: int, promotion_id: int, environment: str, to_deployment_id: int, candidate_url: str
) -> dict[str, Any]:
    """The flow's first step: GET the health-check path on the candidate's own URL, then switch on that check (or
    refuse the candidate). A redelivered step checks again and finds the switch decided already."""
    candidate = verify_candidate(candidate_url, to_deployment_id)
    return switch(project_id, promotion_id, environment, to_deployment_id, candidate)


def verify_candidate(candidate_url: str, to_deployment_id: int) -> dict[str, Any]:
    """GET the health-check path on the candidate's own URL: what the switch decides on."""
    return {"check": _check_json(CANDIDATE, health_checks.check(candidate_url, to_deployment_id))}


def verify_live(
    project_id: int,
    promotion_id: int,
    environment: str,
    live_url: str | None,
    to_deployment_id: int,
    auto_rollback: bool,
) -> dict[str, Any]:
    """GET the health-check path on the environment's URL, now that it serves the candidate (an environment without
    a URL of its own has nothing to verify). The promotion is done here unless it is to be reverted: when the check
    passed, or its failure is only reported (`auto_rollback` is off for this switch), it is finished in this step,
    and the state machine goes on to Revert only when `finished` is false."""
    check = _check_json(LIVE, health_checks.check(live_url, to_deployment_id)) if live_url is not None else None
    live = {"ok": check["ok"] if check is not None else True, "check": check}
    if live["ok"] or not auto_rollback:
        finish(project_id, promotion_id, environment, live)
        return {**live, "finished": True}
    return {**live, "finished": False}


@dataclass(frozen=True)
class _Read:
    promotion: Promotion | None
    project: Project | None
    environment: Environment | None
    target: Deployment | None


def _read(project_id: int, promotion_id: int, environment: str, deployment_id: int | None) -> _Read:
    keys: list[tuple[Any, Any, Any]] = [
        (Promotion, project_id, promotion_id),
        (Project, project_id, None),
        (Environment, project_id, environment),
    ]
    if deployment_id is not None:
        keys.append((Deployment, deployment_id, None))
    found = read_together(*keys)
    return _Read(found[0], found[1], found[2], found[3] if deployment_id is not None else None)


def switch(
    project_id: int, promotion_id: int, environment: str, to_deployment_id: int, candidate: dict[str, Any]
) -> dict[str, Any]:
    """Switch the environment to the candidate, or refuse it: a candidate that failed its check is never switched
    to while auto_rollback guards the environment and it serves something to keep serving. A switch refused by its
    conditions (the candidate was cancelled meanwhile) is decided again on what is stored then."""
    for _attempt in range(_LINE_ATTEMPTS):
        try:
            return _decide(project_id, promotion_id, environment, to_deployment_id, candidate)
        except ConditionFailed:
            continue
    raise Conflict(f"promotion {promotion_id} could not switch: what it switches kept changing; the step is retried")


def _decide(
    project_id: int, promotion_id: int, environment: str, to_deployment_id: int, candidate: dict[str, Any]
) -> dict[str, Any]:
    found = _read(project_id, promotion_id, environment, to_deployment_id)
    promotion, project, env, target = found.promotion, found.project, found.environment, found.target
    if promotion is None or project is None:
        return {"switched": False}
    if promotion.status != VERIFYING:  # a redelivered step: it was decided already
        return _switch_answer(project, promotion, env)
    check = _check_item(candidate["check"])
    active = env.active_deployment_id if env is not None else None
    with deployment_context(promotion.to_deployment_id, project_id):
        refusal = _not_switchable(promotion, target, env)
        if refusal is not None:
            outcome, message = refusal
            _end_unswitched(project, promotion, env, outcome, message, [check], target)
            return {"switched": False}
        assert target is not None
        if active == target.id:  # a rollback to what the environment serves by the time its turn came
            _end_unswitched(project, promotion, env, SUCCEEDED, None, [check], target)
            return {"switched": False}
        if not check.ok and guarded(project, promotion.environment) and active is not None:
            _reject(project, promotion, env, target, check)
            return {"switched": False}
        promotion.switched_at = _switch(project, promotion, env, target, check)
        promotion.status = SWITCHING
        promotion.from_deployment_id = active
        return _switch_answer(project, promotion, env)


def guarded(project: Project, environment: str) -> bool:
    """Whether a failed check keeps the environment on what it serves: production with auto_rollback on. A preview's
    checks are recorded and reported only."""
    return bool(project.auto_rollback) and environment == PRODUCTION


def _live_url(project: Project, environment: str) -> str | None:
    label = sites.environment_label(project.slug, project.org_slug, environment)
    return health_checks.site_url(sites.url_for(label), project.health_check_path) if label is not None else None


def _switch_answer(project: Project, promotion: Promotion, env: Environment | None) -> dict[str, Any]:
    switched = promotion.switched_at is not None and promotion.status == SWITCHING
    return {
        "switched": switched,
        "live_url": _live_url(project, promotion.environment) if switched else None,
        # Revert only what replaced something: the environment's first deployment has nothing to go back to.
        "auto_rollback": switched
        and guarded(project, promotion.environment)
        and promotion.from_deployment_id is not None,
    }


def _not_switchable(promotion: Promotion, target: Deployment | None, env: Environment | None) -> tuple[str, str] | None:
    """Why the promotion ends without switching, before any check is weighed: (its end, why), or None."""
    deployment_id = promotion.to_deployment_id
    if target is None:
        return FAILED, f"deployment {deployment_id} no longer exists"
    if promotion.reason == DEPLOY:
        if target.status != Status.DEPLOYING:
            return FAILED, f"deployment {deployment_id} is {target.status}; there is nothing to promote"
        active_seq = env.active_seq if env is not None else None
        if active_seq is not None and active_seq >= target.seq:
            serving = env.active_deployment_id if env is not None else None
            return FAILED, f"superseded: deployment {serving}, a newer build, is already live"
        return None
    if target.status != Status.DEPLOYED or not target.artifact_prefix:
        return FAILED, f"deployment {deployment_id} is {target.status} and has no files to serve"
    return None


def _switch(
    project: Project, promotion: Promotion, env: Environment | None, target: Deployment, check: Check
) -> datetime:
    """Switch, in one transaction that moves the promotion to `switching`; when it switched."""
    from chalicelib.services.deployments import activation

    now = utc_now()
    active = env.active_deployment_id if env is not None else None
    promotion_actions: list[Action] = [
        Promotion.status.set(SWITCHING),
        Promotion.from_deployment_id.set(active) if active is not None else Promotion.from_deployment_id.remove(),
        Promotion.checks.set([check]),
        Promotion.switched_at.set(now),
        Promotion.updated_at.set(now),
    ]
    if not check.ok:
        promotion_actions.append(
            Promotion.error_message.set(_kept_anyway(project, promotion.environment, check, "deployment"))
        )
    holder = (Environment.promoting == promotion.id) if env is not None else None
    if promotion.reason == DEPLOY:
        live_before = set(env.live_ids or set()) if env is not None else set()
        active_seq = env.active_seq if env is not None else None
        written = activation.Activation(project, target, active_seq, True, False, holder)

        def write(tx: TransactWrite) -> None:
            written.write(tx)
            tx.update(promotion, actions=promotion_actions, condition=Promotion.status == VERIFYING)

        transact(write)
        written.apply()
        logger.info("deployment live", extra={"deployment_url": target.deployment_url, "promoted": True})
        deployment_event("succeeded")
        statuses.deactivate_superseded(target, live_before)
        return now

    route = activation.environment_route(project, target)

    def switch_to_target(tx: TransactWrite) -> None:
        tx.update(
            Deployment(id=target.id),
            actions=promoted_actions(target.environment, now),
            condition=Deployment.status == Status.DEPLOYED,
        )
        condition = Environment.active_deployment_id != target.id
        if holder is not None:
            condition &= holder
        tx.update(
            Environment(project_id=project.id, name=target.environment),
            actions=[*serving(target.id, target.seq), Environment.updated_at.set(now)],
            condition=condition,
        )
        if route is not None:
            tx.save(route)
        tx.update(promotion, actions=promotion_actions, condition=Promotion.status == VERIFYING)

    transact(switch_to_target)
    logger.info(f"rolled back {promotion.environment}", extra={"previous_deployment_id": active})
    return now


def _reject(project: Project, promotion: Promotion, env: Environment | None, target: Deployment, check: Check) -> None:
    """The candidate failed: the environment keeps what it serves; a new deployment ends deployed at its own URL,
    inactive, saying why, with a `failure` status."""
    active = env.active_deployment_id if env is not None else None
    what = "its deployment URL" if promotion.reason == DEPLOY else f"deployment {target.id}'s URL"
    message = f"not promoted: GET {project.health_check_path} on {what} {_describe(check)}; "
    message += f"{promotion.environment} still serves deployment {active}"
    _end_unswitched(project, promotion, env, REJECTED, message, [check], target)
    with deployment_context(target.id, project.id):
        logger.warning("promotion rejected", extra={"promotion_id": promotion.id, "reason": message})


def _end_unswitched(
    project: Project,
    promotion: Promotion,
    env: Environment | None,
    outcome: str,
    message: str | None,
    checks: list[Check],
    target: Deployment | None,
) -> None:
    """End a promotion that switched nothing, handing the line on. A new deployment that was waiting for it (still
    deploying) ends deployed but not served, with the reason and a `failure` status when it was refused."""
    now = utc_now()
    active = env.active_deployment_id if env is not None else None
    actions: list[Action] = [
        Promotion.status.set(outcome),
        Promotion.checks.set(checks),
        Promotion.finished_at.set(now),
        Promotion.updated_at.set(now),
        Promotion.from_deployment_id.set(active) if active is not None else Promotion.from_deployment_id.remove(),
    ]
    if message:
        actions.append(Promotion.error_message.set(message))
    unserved = target is not None and promotion.reason == DEPLOY and target.status == Status.DEPLOYING
    if not unserved or target is None:
        _end(promotion, actions, VERIFYING)
        return
    from chalicelib.services.deployments import activation

    # deploying -> deployed at its own URL only: it leaves the in-flight set in the line's own environment write.
    refused = message if outcome == REJECTED else None
    written = activation.Activation(project, target, env.active_seq if env else None, False, False, refused=refused)
    _end(promotion, actions, VERIFYING, written.write_deployment, environment_actions=written.environment_actions())
    target.refresh(consistent_read=True)


def finish(project_id: int, promotion_id: int, environment: str, live: dict[str, Any]) -> dict[str, Any]:
    """The live URL passed, or its failure is only reported (no auto_rollback, a preview, the first deployment):
    the promotion ends `succeeded` and hands the line on (the live check's step, `verify_live`, calls it)."""
    promotion = Promotion(project_id=project_id, id=promotion_id, environment=environment)
    now = utc_now()
    actions: list[Action] = [
        Promotion.status.set(SUCCEEDED),
        Promotion.finished_at.set(now),
        Promotion.updated_at.set(now),
    ]
    check = live.get("check")
    if check:
        item = _check_item(check)
        actions.append(Promotion.checks.set(Promotion.checks.append([item])))
        if not item.ok:
            project = Project.get(project_id, consistent_read=True)
            actions.append(Promotion.error_message.set(_kept_anyway(project, environment, item, environment)))
    if not _end(promotion, actions, SWITCHING):
        _hand_on_again(project_id, environment)  # a redelivered step: it ended before
    return {"status": SUCCEEDED}


def revert(project_id: int, promotion_id: int, environment: str, live: dict[str, Any]) -> dict[str, Any]:
    """The live URL failed after the switch: switch back to what the environment served before, in one transaction
    that ends this promotion `reverted` and records the switch back as a promotion of its own (auto_revert)."""
    promotion = PromotionRepository.find(project_id, promotion_id)
    if promotion is None:
        return {}
    if promotion.status != SWITCHING or promotion.from_deployment_id is None:
        _hand_on_again(project_id, environment)
        return {"status": promotion.status}
    found = _read(project_id, promotion_id, environment, promotion.to_deployment_id)
    project, env, refused = found.project, found.environment, found.target
    previous = Deployment.get(promotion.from_deployment_id, consistent_read=True)
    assert project is not None and env is not None and refused is not None and found.promotion is not None
    promotion = found.promotion
    from chalicelib.services.deployments import activation

    check = _check_item(live["check"])
    now = utc_now()
    message = (
        f"reverted: GET {project.health_check_path} on {promotion.environment}'s URL {_describe(check)} after the "
        f"switch; {promotion.environment} serves deployment {previous.id} again"
    )
    revert_id = next_id("promotion")
    back = Promotion(
        project_id=project_id,
        id=revert_id,
        environment=promotion.environment,
        environment_key=promotion.environment_key,
        from_deployment_id=refused.id,
        to_deployment_id=previous.id,
        reason=AUTO_REVERT,
        triggered_by="deployd",
        status=SUCCEEDED,
        checks=[],
        execution_arn=promotion.execution_arn,
        created_at=now,
        updated_at=now,
        switched_at=now,
        finished_at=now,
    )
    route = activation.environment_route(project, previous)
    report = statuses.refusal_report(refused, message) if promotion.reason == DEPLOY and refused.managed else None
    actions: list[Action] = [
        Promotion.status.set(REVERTED),
        Promotion.checks.set(Promotion.checks.append([check])),
        Promotion.error_message.set(message),
        Promotion.finished_at.set(now),
        Promotion.updated_at.set(now),
    ]
    switch_back: list[Action] = [*serving(previous.id, previous.seq), Environment.updated_at.set(now)]

    def also(tx: TransactWrite) -> None:
        tx.save(back, condition=Promotion.id.does_not_exist())
        tx.update(
            Deployment(id=previous.id),
            actions=promoted_actions(previous.environment, now),
            condition=Deployment.status == Status.DEPLOYED,
        )
        refused_actions: list[Action] = [Deployment.error_message.set(message), Deployment.updated_at.set(now)]
        tx.update(Deployment(id=refused.id), actions=refused_actions, condition=Deployment.id.exists())
        if route is not None:
            tx.save(route)
        if report is not None:
            report.write(tx)

    _end(
        promotion,
        actions,
        SWITCHING,
        also,
        environment_actions=switch_back,
        environment_condition=Environment.active_deployment_id == refused.id,
        leaves_live={refused.id},
    )
    with deployment_context(refused.id, project_id):
        logger.warning("promotion reverted", extra={"promotion_id": promotion_id, "reason": message})
    return {"status": REVERTED, "revert_promotion_id": revert_id}


def abandon(project_id: int, promotion_id: int, environment: str, error: str) -> None:
    """A step failed or was never answered: the promotion ends failed, a new deployment it was to serve ends failed
    (it never went live), and the line goes on."""
    from chalicelib.services.deployments import record_failure

    promotion = PromotionRepository.find(project_id, promotion_id)
    if promotion is None:
        return
    if promotion.has_ended or promotion.status == PENDING:
        _hand_on_again(project_id, environment)
        return
    message = f"promotion step failed: {error}"
    if promotion.reason == DEPLOY and promotion.switched_at is None:
        target = Deployment.get(promotion.to_deployment_id, consistent_read=True)
        if target.status == Status.DEPLOYING:
            project = ProjectRepository.get_by_id(project_id)
            record_failure(target, f"not promoted: {message}", cause="platform", project=project)
    now = utc_now()
    actions: list[Action] = [
        Promotion.status.set(FAILED),
        Promotion.error_message.set(message),
        Promotion.finished_at.set(now),
        Promotion.updated_at.set(now),
    ]
    _end(promotion, actions, promotion.status)


# ---- ending a promotion: the line goes on ----


def _end(
    promotion: Promotion,
    actions: list[Action],
    leaving: str,
    also: Callable[[TransactWrite], None] | None = None,
    environment_actions: list[Action] | None = None,
    environment_condition: Condition | None = None,
    leaves_live: set[int] | None = None,
) -> bool:
    """One transaction: the promotion leaves `leaving` with `actions`, the environment gets `environment_actions`
    and hands the line on (released, or given to the lowest id waiting, whose promotion starts verifying), with
    `also`'s writes. Then the next promotion's execution starts. False when the promotion had left `leaving`
    already (a redelivered step)."""
    waiting: set[int] | None = None  # as last read: None until a refusal says someone may wait
    for _attempt in range(_LINE_ATTEMPTS):
        following = min(waiting) if waiting else None
        env_actions: list[Action] = list(environment_actions or [])
        if leaves_live:
            env_actions.append(Environment.live_ids.delete(leaves_live))
        condition: Condition = Environment.promoting == promotion.id
        if following is None:
            env_actions.append(Environment.promoting.remove())
            condition &= Environment.promotion_waiting.does_not_exist()
        else:
            env_actions += [Environment.promoting.set(following), Environment.promotion_waiting.delete({following})]
            condition &= Environment.promotion_waiting.contains(following)
        if environment_condition is not None:
            condition &= environment_condition

        write = functools.partial(_end_write, promotion, actions, leaving, also, env_actions, condition, following)
        try:
            transact(write)
        except ConditionFailed as exc:
            if 0 in exc.failed:
                return False  # ended already (a redelivered step): the line went on then
            line_positions = {1, 2} if following is not None else {1}
            if not set(exc.failed) & line_positions:
                raise  # one of `also`'s writes: the caller decides again on what is stored now
            env = EnvironmentRepository.find(promotion.project_id, promotion.environment)
            if env is None or env.promoting != promotion.id:
                return False
            waiting = set(env.promotion_waiting or set())
            continue
        if following is not None:
            _start(promotion.project_id, following)
        return True
    raise Conflict(f"the line of {promotion.environment} kept changing; the step is retried")


def _end_write(
    promotion: Promotion,
    actions: list[Action],
    leaving: str,
    also: Callable[[TransactWrite], None] | None,
    environment_actions: list[Action],
    environment_condition: Condition,
    following: int | None,
    tx: TransactWrite,
) -> None:
    """The promotion (position 0), the environment (1), the promotion the line goes to (2, when one waits), then
    `also`'s writes."""
    tx.update(promotion, actions=actions, condition=Promotion.status == leaving)
    tx.update(
        Environment(project_id=promotion.project_id, name=promotion.environment),
        actions=environment_actions,
        condition=environment_condition,
    )
    if following is not None:
        tx.update(
            Promotion(project_id=promotion.project_id, id=following),
            actions=[
                Promotion.status.set(VERIFYING),
                Promotion.execution_arn.set(executions.promotion_execution_arn(following)),
                Promotion.updated_at.set(utc_now()),
            ],
            condition=Promotion.status == PENDING,
        )
    if also is not None:
        also(tx)


def _start(project_id: int, promotion_id: int) -> None:
    promotion, project = read_together((Promotion, project_id, promotion_id), (Project, project_id, None))
    if promotion is None or project is None or promotion.status != VERIFYING:
        return
    executions.start_promotion(promotion_id, _execution_input(project, promotion))


def _hand_on_again(project_id: int, environment: str) -> None:
    """A redelivered last step: the promotion ended, and the one it handed the line on to may never have started
    (the worker stopped between the two). Starting it again changes nothing when it did start."""
    env = EnvironmentRepository.find(project_id, environment)
    if env is not None and env.promoting is not None:
        _start(project_id, env.promoting)


# ---- checks ----


def _check_json(target: str, result: health_checks.CheckResult) -> dict[str, Any]:
    return {
        "target": target,
        "url": result.url,
        "attempts": result.attempts,
        "status_code": result.status_code,
        "served_by": result.served_by,
        "ok": result.ok,
        "error": result.error,
        "checked_at": result.checked_at.isoformat(),
    }


def _check_item(data: dict[str, Any]) -> Check:
    checked_at = data["checked_at"]
    return Check(
        target=data["target"],
        url=data["url"],
        attempts=int(data["attempts"]),
        status_code=data.get("status_code"),
        served_by=data.get("served_by"),
        ok=bool(data["ok"]),
        error=data.get("error"),
        checked_at=checked_at if isinstance(checked_at, datetime) else parse_timestamp(checked_at),
    )


def _describe(check: Check) -> str:
    attempts = f"({check.attempts} attempt{'s' if check.attempts != 1 else ''})"
    if check.status_code is None:
        return f"did not answer: {check.error} {attempts}"
    if 200 <= check.status_code < 300:
        server = f"deployment {check.served_by}" if check.served_by else "no deployment"
        return f"answered {check.status_code} from {server} {attempts}"
    return f"answered {check.status_code} {attempts}"


def _kept_anyway(project: Project, environment: str, check: Check, where: str) -> str:
    if environment != PRODUCTION:
        why = "a preview's checks are reported only"
    elif not project.auto_rollback:
        why = "auto_rollback is off"
    else:
        why = f"{environment} served nothing before"
    return (
        f"check failed: GET {project.health_check_path} on the {where} URL {_describe(check)}; switched anyway ({why})"
    )
