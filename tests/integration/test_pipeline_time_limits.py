"""The state machine's backstop: a build nobody answers ends failed, with a reason a user can act on.

The stack's own pipeline waits a minute for heartbeats, so these tests start their own execution of
the production definition, with short limits, on a build queue no worker reads.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.aws import client
from chalicelib.aws import queue_url as queue_url_of
from chalicelib.infra.resources import ACTIVATION_QUEUE, DEPLOYMENTS, ENVIRONMENTS
from chalicelib.infra.state_machine import pipeline_definition, render
from chalicelib.local.provision import PIPELINE_ROLE_ARN
from chalicelib.models.environment import PRODUCTION, EnvironmentRepository
from chalicelib.settings import get_settings
from tests.support.polling import wait_until


@pytest.fixture
def unanswered_pipeline(stack) -> Callable[[int], str]:
    """A state machine from the production definition whose build messages go to a queue nobody reads
    (its slot requests and end reports still go to the stack's real activation queue)."""

    def make(heartbeat_seconds: int) -> str:
        settings = get_settings()
        name = f"deployd-test-unanswered-{uuid.uuid4().hex[:8]}"
        queue_url = client("sqs").create_queue(QueueName=name)["QueueUrl"]
        definition = render(
            pipeline_definition(heartbeat_seconds=heartbeat_seconds),
            {
                "BuildQueueUrl": queue_url,
                "ActivationQueueUrl": queue_url_of(ACTIVATION_QUEUE.logical),
                "DeploymentsTable": settings.resource_name(DEPLOYMENTS.logical),
                "EnvironmentsTable": settings.resource_name(ENVIRONMENTS.logical),
            },
        )
        machine = client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=PIPELINE_ROLE_ARN
        )
        return str(machine["stateMachineArn"])

    return make


def _start(machine_arn: str, deployment: Any, timeout_seconds: int) -> str:
    payload = {
        "deployment_id": str(int(deployment.id)),
        "project_id": str(int(deployment.project_id)),
        "environment": PRODUCTION,
        "timeout_seconds": timeout_seconds,
        "in_flight_ids": [str(int(deployment.id))],
    }
    response = client("stepfunctions").start_execution(
        stateMachineArn=machine_arn, name=f"deployment-{int(deployment.id)}", input=json.dumps(payload)
    )
    return str(response["executionArn"])


@pytest.mark.parametrize(
    ("heartbeat_seconds", "timeout_seconds", "reason"),
    [
        (2, 600, "no heartbeat for 2s"),
        (600, 2, "time limit of 2s"),
    ],
    ids=["silent-worker", "time-limit"],
)
def test_a_build_nobody_answers_ends_failed_and_releases_its_environment(
    heartbeat_seconds,
    timeout_seconds,
    reason,
    org_factory,
    repo_factory,
    project_factory,
    ledger,
    unanswered_pipeline,
    pipeline,
):
    # Given a queued deployment whose build message no worker will ever answer
    org = org_factory()
    project = project_factory(org.slug, repo_factory()).project
    deployment = ledger(project, "queued")
    assert int(deployment.id) in EnvironmentRepository.find(int(project.id), PRODUCTION).in_flight
    execution_arn = _start(unanswered_pipeline(heartbeat_seconds), deployment, timeout_seconds)

    # When the heartbeat or the pipeline's time limit runs out
    failed = pipeline.wait_for_status(int(deployment.id), "failed", timeout=15)

    # Then the deployment failed, saying why, and no longer holds its environment
    assert "the build worker stopped reporting progress" in failed.error_message
    assert reason in failed.error_message
    assert failed.finished_at
    wait_until(
        lambda: not EnvironmentRepository.find(int(project.id), PRODUCTION).in_flight,
        timeout=20,
        what="the environment to release the deployment",
    )
    ended = wait_until(
        lambda: (
            (d := client("stepfunctions").describe_execution(executionArn=execution_arn))["status"] != "RUNNING" and d
        ),
        timeout=20,
        what="the execution to end",
    )
    assert ended["status"] == "FAILED"
