"""The pipeline's Amazon States Language definition: structure, conditional writes, placeholder filling, and the
Build task's heartbeat (from the execution's input, run on moto's Step Functions)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.adapters import executions
from chalicelib.aws import client
from chalicelib.infra.resources import DEPLOYMENTS, ENVIRONMENTS
from chalicelib.infra.state_machine import SUBSTITUTIONS, pipeline_definition, render
from chalicelib.local.provision import PIPELINE_ROLE_ARN
from chalicelib.settings import get_settings
from tests.support.polling import wait_until

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


def test_the_build_step_takes_its_heartbeat_from_the_execution_with_the_setting_as_default() -> None:
    # When the definition is built for a 17 second heartbeat
    definition = pipeline_definition(heartbeat_seconds=17)
    states = definition["States"]

    # Then the Build step reads its heartbeat from the execution's input (a CodeBuild build cannot heartbeat)
    assert states["Build"]["HeartbeatSecondsPath"] == "$.heartbeat_seconds"
    assert "HeartbeatSeconds" not in states["Build"]
    # And an execution started without one gets 17 seconds before anything else runs
    assert definition["StartAt"] == "HeartbeatGiven"
    assert states["HeartbeatGiven"]["Choices"][0]["Next"] == "DefaultHeartbeat"
    assert states["DefaultHeartbeat"] == {
        "Type": "Pass",
        "Result": 17,
        "ResultPath": "$.heartbeat_seconds",
        "Next": "AcquireSlot",
    }
    # And the failure message names the heartbeat the execution had
    assert "$.heartbeat_seconds" in states["DescribeSilence"]["Parameters"]["message.$"]


def test_a_local_build_heartbeats_at_the_setting_within_the_pipeline_limit(settings_env: Any) -> None:
    # Given the local runner, a 60 second heartbeat and a 300 second margin
    settings_env(
        DEPLOYD_BUILD_RUNNER="local", DEPLOYD_HEARTBEAT_SECONDS="60", DEPLOYD_PIPELINE_TIMEOUT_MARGIN_SECONDS="300"
    )

    # When the Build task's limits are worked out for a 120 second build
    timeout_seconds, heartbeat_seconds = executions.build_task_limits(120)

    # Then a silent worker is noticed after a minute, and the whole task may take the build plus the margin
    assert (timeout_seconds, heartbeat_seconds) == (420, 60)


@pytest.fixture
def executing_aws(settings_env: Any) -> Iterator[None]:
    """moto in-process with Step Functions executing state machines, and the catalogue's tables."""
    from moto import mock_aws

    from chalicelib.aws import reset_clients
    from chalicelib.infra.resources import CATALOGUE
    from chalicelib.local.provision import table_request
    from chalicelib.models import reset_connections

    settings_env(AWS_ENDPOINT_URL=None, DEPLOYD_RESOURCE_PREFIX="deployd-test")
    reset_clients()
    reset_connections()
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            for table in CATALOGUE.tables:
                client("dynamodb").create_table(**table_request(table, get_settings()))
            yield
    finally:
        reset_clients()
        reset_connections()


@pytest.fixture
def unanswered_build(executing_aws: None) -> Callable[[int, dict[str, Any]], Any]:
    """Runs the production definition with the given default heartbeat: grants the build slot, then never
    answers the build; returns the deployment record once the execution has ended."""

    def run(default_heartbeat: int, extra_input: dict[str, Any]) -> Any:
        settings = get_settings()
        sqs, sfn = client("sqs"), client("stepfunctions")
        builds = sqs.create_queue(QueueName="unanswered-builds")["QueueUrl"]
        activations = sqs.create_queue(QueueName="unanswered-activations")["QueueUrl"]
        definition = render(
            pipeline_definition(heartbeat_seconds=default_heartbeat),
            {
                "BuildQueueUrl": builds,
                "ActivationQueueUrl": activations,
                "DeploymentsTable": settings.resource_name(DEPLOYMENTS.logical),
                "EnvironmentsTable": settings.resource_name(ENVIRONMENTS.logical),
            },
        )
        machine = sfn.create_state_machine(name="unanswered", definition=definition, roleArn=PIPELINE_ROLE_ARN)
        client("dynamodb").put_item(
            TableName=settings.resource_name(DEPLOYMENTS.logical), Item={"id": {"N": "7"}, "status": {"S": "queued"}}
        )
        execution = sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            input=json.dumps(
                {
                    "deployment_id": "7",
                    "project_id": "1",
                    "environment": "production",
                    "timeout_seconds": 600,
                    "in_flight_ids": ["7"],
                    **extra_input,
                }
            ),
        )

        def ended_granting_slots() -> bool:
            if sfn.describe_execution(executionArn=execution["executionArn"])["status"] != "RUNNING":
                return True
            for message in sqs.receive_message(QueueUrl=activations).get("Messages", []):
                body = json.loads(message["Body"])
                if body.get("event") == "acquire_slot":
                    sfn.send_task_success(taskToken=body["task_token"], output="{}")
                sqs.delete_message(QueueUrl=activations, ReceiptHandle=message["ReceiptHandle"])
            return False

        wait_until(ended_granting_slots, timeout=20, what="the execution to end")
        return client("dynamodb").get_item(
            TableName=settings.resource_name(DEPLOYMENTS.logical), Key={"id": {"N": "7"}}, ConsistentRead=True
        )["Item"]

    return run


@pytest.mark.parametrize(
    ("default_heartbeat", "extra_input"),
    [(600, {"heartbeat_seconds": 1}), (1, {})],
    ids=["from-the-execution", "definition-default"],
)
def test_a_build_silent_past_its_heartbeat_fails_saying_how_long_it_was_waited_for(
    default_heartbeat: int, extra_input: dict[str, Any], unanswered_build: Any
) -> None:
    # Given a build nobody answers, with a one second heartbeat from the execution or from the definition
    # When the state machine runs it
    record = unanswered_build(default_heartbeat, extra_input)

    # Then the deployment failed after one second of silence, and says so
    assert record["status"]["S"] == "failed"
    assert "no heartbeat for 1s" in record["error_message"]["S"]


def _holds_slot(choice: dict[str, Any]) -> bool:
    """A Choice rule taken only by an execution whose deployment took a build slot as it was recorded."""
    return {"Variable": "$.slot_held", "BooleanEquals": True} in choice.get("And", [])


def test_no_path_reaches_the_build_and_its_clone_without_holding_a_build_slot(definition: dict[str, Any]) -> None:
    # Given the pipeline without its AcquireSlot state, and without the choice taken by a deployment recorded
    # with a slot (services.build_slots.take)
    states = definition["States"]
    reachable: set[str] = set()
    pending = [definition["StartAt"]]

    # When every state reachable from the start without passing either is collected
    while pending:
        name = pending.pop()
        if name in reachable or name == "AcquireSlot":
            continue
        reachable.add(name)
        state = states[name]
        without_slot = {**state, "Choices": [c for c in state.get("Choices", ()) if not _holds_slot(c)]}
        pending.extend(_targets(without_slot))

    # Then the Build state (where the clone runs) is not among them: one organization's hanging clones only
    # ever occupy that organization's own slots
    assert "Build" not in reachable
    assert states["AcquireSlot"]["Next"] == "Build"
    assert [c["Next"] for c in states["HeartbeatGiven"]["Choices"] if _holds_slot(c)] == ["Build"]
