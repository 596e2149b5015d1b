"""A task token's answer reaches the execution waiting for it even while another execution is being started
(chalicelib.local.moto_compat.answer_tasks_of_started_executions_only): moto asked every execution in turn, and one
without its worker yet made the answer fail with AttributeError (a 500 on the embedded stack)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.local import moto_compat
from tests.support.polling import wait_until

_WAITING = {
    "StartAt": "Wait",
    "States": {
        "Wait": {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl": "QUEUE", "MessageBody": {"token.$": "$$.Task.Token"}},
            "HeartbeatSeconds": 60,
            "End": True,
        }
    },
}


@pytest.fixture
def waiting() -> Iterator[tuple[Any, str, str, Any]]:
    """(the Step Functions client, a waiting task's token, its execution's ARN, the state machine's executions)."""
    moto_compat.answer_tasks_of_started_executions_only()
    moto_compat.answer_tasks_of_started_executions_only()  # idempotent
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sqs = boto3.client("sqs", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="tasks")["QueueUrl"]
        machine = sfn.create_state_machine(
            name="waiting",
            definition=json.dumps(_WAITING).replace('"QUEUE"', json.dumps(queue)),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        messages = wait_until(
            lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages"),
            timeout=10,
            what="the task's message",
        )
        token = json.loads(messages[0]["Body"])["token"]
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
        (state_machine,) = [m for m in backend.state_machines if m.arn == machine]
        yield sfn, token, execution, state_machine.executions


def _being_started() -> Any:
    """An execution as moto lists it between its creation and its worker's start."""
    from moto.stepfunctions.parser.api import ExecutionStatus

    arn = "arn:aws:states:us-east-1:123456789012:execution:waiting:being-started"
    return SimpleNamespace(exec_status=ExecutionStatus.RUNNING, exec_worker=None, status="RUNNING", execution_arn=arn)


def test_a_task_is_answered_while_another_execution_is_being_started(waiting: tuple[Any, str, str, Any]) -> None:
    sfn, token, execution, executions = waiting
    # Given another execution of the state machine that has no worker yet, listed before the waiting one
    executions.insert(0, _being_started())
    # When the waiting task is heartbeaten, then answered
    sfn.send_task_heartbeat(taskToken=token)
    sfn.send_task_success(taskToken=token, output=json.dumps({"done": True}))
    # Then its execution goes on and ends
    ended = wait_until(
        lambda: sfn.describe_execution(executionArn=execution)["status"] != "RUNNING" or None,
        timeout=10,
        what="the execution's end",
    )
    assert ended and sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"


def test_a_token_nobody_waits_for_is_refused_as_moto_refuses_it(waiting: tuple[Any, str, str, Any]) -> None:
    sfn, _, _, executions = waiting
    executions.insert(0, _being_started())
    for answer in (
        lambda: sfn.send_task_success(taskToken="no-such-token", output="{}"),
        lambda: sfn.send_task_failure(taskToken="no-such-token", error="E"),
        lambda: sfn.send_task_heartbeat(taskToken="no-such-token"),
    ):
        with pytest.raises(ClientError) as refused:
            answer()
        assert refused.value.response["Error"]["Code"] == "InvalidToken"
