"""The pipeline's Amazon States Language definition: structure, conditional writes and placeholder filling."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.infra.state_machine import SUBSTITUTIONS, pipeline_definition, render

_TERMINAL_TYPES = ("Succeed", "Fail")


@pytest.fixture
def definition() -> dict[str, Any]:
    return pipeline_definition(heartbeat_seconds=60, activation_timeout_seconds=120)


def _targets(state: dict[str, Any]) -> Iterator[str]:
    if "Next" in state:
        yield state["Next"]
    if "Default" in state:
        yield state["Default"]
    for choice in state.get("Choices", ()):
        yield choice["Next"]
    for catcher in state.get("Catch", ()):
        yield catcher["Next"]


def _writes(definition: dict[str, Any], table_placeholder: str) -> dict[str, dict[str, Any]]:
    return {
        name: state
        for name, state in definition["States"].items()
        if state["Type"] == "Task"
        and ":::dynamodb:" in state["Resource"]
        and state["Parameters"].get("TableName") == table_placeholder
    }


def test_every_transition_targets_a_state_that_exists(definition: dict[str, Any]) -> None:
    # Given the pipeline definition
    states = definition["States"]

    # When every Next, Default, Choice and Catch target is collected
    targets = {(name, target) for name, state in states.items() for target in _targets(state)}

    # Then each names a state of the machine, and so does StartAt
    assert definition["StartAt"] in states
    assert {(name, target) for name, target in targets if target not in states} == set()


def test_every_state_is_reachable_from_the_start(definition: dict[str, Any]) -> None:
    # Given the pipeline definition
    states = definition["States"]

    # When the machine is walked from StartAt along every transition
    seen, frontier = set(), [definition["StartAt"]]
    while frontier:
        name = frontier.pop()
        if name not in seen:
            seen.add(name)
            frontier.extend(_targets(states[name]))

    # Then no state is left unreachable
    assert set(states) - seen == set()


def test_every_state_either_ends_or_moves_on(definition: dict[str, Any]) -> None:
    # Given the pipeline definition
    states = definition["States"]

    # Then there is at least one way to finish
    terminal = [n for n, s in states.items() if s["Type"] in _TERMINAL_TYPES or s.get("End") is True]
    assert terminal
    # And every other state says where to go next, exactly once
    for name, state in states.items():
        if state["Type"] in _TERMINAL_TYPES:
            assert "Next" not in state and "End" not in state, name
        elif state["Type"] == "Choice":
            assert state["Choices"], name
        else:
            assert ("Next" in state) != (state.get("End") is True), name


def test_every_write_to_the_deployments_table_is_conditional(definition: dict[str, Any]) -> None:
    # Given the state machine's writes to the deployments ledger
    writes = _writes(definition, "${DeploymentsTable}")
    assert writes, "the pipeline is expected to record at least one status change"

    # Then each names the state it expects to leave, so a late step cannot resurrect a finished deployment
    for name, state in writes.items():
        condition = state["Parameters"].get("ConditionExpression", "")
        assert "#status" in condition, f"{name} writes the deployments table unconditionally"
        # And losing that race is an expected outcome, caught rather than failing the execution
        caught = {e for c in state.get("Catch", ()) for e in c["ErrorEquals"]}
        assert "DynamoDB.ConditionalCheckFailedException" in caught, name


def test_the_pipeline_never_marks_a_terminal_deployment_failed(definition: dict[str, Any]) -> None:
    # Given the state that records a pipeline failure
    params = definition["States"]["MarkFailed"]["Parameters"]

    # When the statuses its condition allows it to leave are read
    allowed = {
        params["ExpressionAttributeValues"][placeholder]["S"]
        for placeholder in re.findall(r":\w+", params["ConditionExpression"])
    }

    # Then a deployed or cancelled deployment is never overwritten
    assert allowed.isdisjoint({"deployed", "cancelled", "failed"})
    assert "building" in allowed and "queued" in allowed


def test_dynamodb_expressions_define_exactly_the_placeholders_they_use(definition: dict[str, Any]) -> None:
    # Given every DynamoDB task (DynamoDB rejects undefined and unused expression placeholders alike)
    tasks = {n: s["Parameters"] for n, s in definition["States"].items() if ":::dynamodb:" in s.get("Resource", "")}
    assert tasks

    for name, params in tasks.items():
        # When the placeholders in its expressions are collected
        expressions = " ".join(params.get(k, "") for k in ("UpdateExpression", "ConditionExpression"))
        values_used = set(re.findall(r":\w+", expressions))
        names_used = set(re.findall(r"#\w+", expressions))

        # Then each is defined, and nothing defined goes unused
        assert values_used == set(params.get("ExpressionAttributeValues", {})), name
        assert names_used == set(params.get("ExpressionAttributeNames", {})), name


def test_render_fills_every_placeholder(definition: dict[str, Any]) -> None:
    # Given a value for each substitution the template declares
    values = {name: f"value-of-{name}" for name in SUBSTITUTIONS}

    # When the definition is rendered
    text = render(definition, values)

    # Then no ${...} placeholder remains, the result is JSON, and each value landed where its placeholder was
    assert "${" not in text
    rendered = json.loads(text)
    assert rendered["States"]["Build"]["Parameters"]["QueueUrl"] == "value-of-BuildQueueUrl"
    assert rendered["States"]["Activate"]["Parameters"]["QueueUrl"] == "value-of-ActivationQueueUrl"
    assert rendered["States"]["MarkFailed"]["Parameters"]["TableName"] == "value-of-DeploymentsTable"
    assert rendered["States"]["Release"]["Parameters"]["TableName"] == "value-of-EnvironmentsTable"


def test_the_heartbeat_setting_reaches_the_build_step() -> None:
    # When the definition is built for a 17 second heartbeat
    definition = pipeline_definition(heartbeat_seconds=17)

    # Then a silent build worker is noticed after 17 seconds, and the failure message says so
    assert definition["States"]["Build"]["HeartbeatSeconds"] == 17
    assert "17s" in definition["States"]["DescribeSilence"]["Parameters"]["message.$"]
