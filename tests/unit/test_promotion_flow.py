"""The promotion flow's Amazon States Language definition: its structure, that nothing switches before the candidate
was verified, and which step follows which answer, run on moto's Step Functions with the test answering each step."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.aws import client
from chalicelib.infra.state_machine import PROMOTION_SUBSTITUTIONS, promotion_definition, render
from chalicelib.local.provision import PIPELINE_ROLE_ARN
from tests.support.polling import wait_until

STEPS = ("VerifyAndSwitch", "VerifyLive", "Revert")


@pytest.fixture
def definition() -> dict[str, Any]:
    return promotion_definition()


def _targets(state: dict[str, Any]) -> Iterator[str]:
    if "Next" in state:
        yield state["Next"]
    if "Default" in state:
        yield state["Default"]
    for choice in state.get("Choices", ()):
        yield choice["Next"]
    for catcher in state.get("Catch", ()):
        yield catcher["Next"]


def _reachable(definition: dict[str, Any], without: str | None = None) -> set[str]:
    """The states reachable from the start, not passing through `without`."""
    states, seen, pending = definition["States"], set(), [definition["StartAt"]]
    while pending:
        name = pending.pop()
        if name in seen or name == without:
            continue
        seen.add(name)
        pending.extend(_targets(states[name]))
    return seen


def test_every_state_exists_is_reachable_and_ends_or_moves_on(definition: dict[str, Any]) -> None:
    # Given the promotion flow's states
    states = definition["States"]

    # Then every transition names a state, every state is reachable, and every state ends or moves on
    assert {t for state in states.values() for t in _targets(state)} <= set(states)
    assert _reachable(definition) == set(states)
    for name, state in states.items():
        assert state["Type"] in ("Succeed", "Fail") or "Next" in state or "Default" in state or state.get("End"), name


def test_the_flow_starts_with_the_candidates_check_and_switch_and_reverts_only_after_the_live_check(
    definition: dict[str, Any],
) -> None:
    # Given the paths from the start
    # Then the first step checks the candidate's own URL (the step switches on that check), and the live check and
    # the revert are out of reach without it; the revert also without the live check
    first = definition["States"][definition["StartAt"]]
    assert first["Parameters"]["MessageBody"]["step"] == "verify_and_switch"
    assert first["Parameters"]["MessageBody"]["candidate_url.$"] == "$.candidate_url"
    assert "VerifyLive" not in _reachable(definition, without="VerifyAndSwitch")
    assert "Revert" not in _reachable(definition, without="VerifyAndSwitch")
    assert "Revert" not in _reachable(definition, without="VerifyLive")


def test_every_step_is_a_worker_task_with_a_time_limit_that_fails_the_promotion_when_it_breaks(
    definition: dict[str, Any],
) -> None:
    # Given each step of a promotion
    for name in STEPS:
        state = definition["States"][name]
        # Then the worker answers it through its token, within a time limit, and any error ends in Abandon
        assert state["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken", name
        assert state["Parameters"]["MessageBody"]["task_token.$"] == "$$.Task.Token", name
        assert 0 < state["TimeoutSeconds"] <= 300, name
        assert state["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Abandon"}], name
    assert definition["States"]["Abandon"]["Next"] == "PromotionFailed"
    assert definition["States"]["PromotionFailed"]["Type"] == "Fail"


def test_render_fills_the_promotion_queue() -> None:
    text = render(promotion_definition(), {"PromotionQueueUrl": "https://sqs.example/promotions"})
    assert "${" not in text
    assert set(PROMOTION_SUBSTITUTIONS) == {"PromotionQueueUrl"}


@pytest.fixture
def run_flow(settings_env: Any) -> Iterator[Callable[[dict[str, dict[str, Any]]], list[str]]]:
    """Runs the flow on moto's executing Step Functions, answering each step from `answers` (step -> output);
    returns the steps in the order they were asked for, once the execution has ended."""
    from moto import mock_aws

    from chalicelib.aws import reset_clients

    settings_env(AWS_ENDPOINT_URL=None)
    reset_clients()
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):

            def run(answers: dict[str, dict[str, Any]]) -> list[str]:
                sqs, sfn = client("sqs"), client("stepfunctions")
                queue = sqs.create_queue(QueueName="promotion-steps")["QueueUrl"]
                definition = render(promotion_definition(), {"PromotionQueueUrl": queue})
                machine = sfn.create_state_machine(name="promotions", definition=definition, roleArn=PIPELINE_ROLE_ARN)
                execution = sfn.start_execution(
                    stateMachineArn=machine["stateMachineArn"],
                    name=f"promotion-{uuid.uuid4().hex[:8]}",
                    input=json.dumps(
                        {
                            "project_id": 1,
                            "promotion_id": 9,
                            "environment": "production",
                            "to_deployment_id": 4,
                            "candidate_url": "http://sites.example/d4/",
                        }
                    ),
                )
                asked: list[str] = []

                def ended() -> bool:
                    for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
                        body = json.loads(message["Body"])
                        asked.append(body["step"])
                        if "task_token" in body:
                            sfn.send_task_success(
                                taskToken=body["task_token"], output=json.dumps(answers[body["step"]])
                            )
                        sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                    return sfn.describe_execution(executionArn=execution["executionArn"])["status"] != "RUNNING"

                wait_until(ended, timeout=20, what="the promotion's execution to end")
                return asked

            yield run
    finally:
        reset_clients()


def test_a_live_check_that_did_not_finish_the_promotion_reverts_and_one_that_did_ends_it(run_flow: Any) -> None:
    # Given a switch that happened under auto_rollback
    switched = {"switched": True, "live_url": "http://sites.example/site/", "auto_rollback": True}

    # When the live check fails (the step leaves the promotion to be reverted), and in another promotion passes
    failed = {"ok": False, "finished": False}
    failing = run_flow({"verify_and_switch": switched, "verify_live": failed, "revert": {}})
    passing = run_flow({"verify_and_switch": switched, "verify_live": {"ok": True, "finished": True}})

    # Then the first is reverted, the second ends with its live check (which finished it)
    assert failing == ["verify_and_switch", "verify_live", "revert"]
    assert passing == ["verify_and_switch", "verify_live"]


def test_a_failure_only_reported_ends_with_the_live_check_and_a_refused_candidate_stops_at_the_switch(
    run_flow: Any,
) -> None:
    # Given a switch made without auto_rollback, and a candidate the switch step refused
    kept = {"switched": True, "live_url": "http://sites.example/site/", "auto_rollback": False}
    refused = {"switched": False}

    # When each runs
    reported = run_flow({"verify_and_switch": kept, "verify_live": {"ok": False, "finished": True}})
    rejected = run_flow({"verify_and_switch": refused})

    # Then a failure only reported ends with the live check, and the refused candidate is never verified live
    assert reported == ["verify_and_switch", "verify_live"]
    assert rejected == ["verify_and_switch"]
