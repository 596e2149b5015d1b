"""The deployment pipeline's Amazon States Language definition.

One execution per deployment. The build worker and the activation handler are reached through SQS
with task tokens; the state machine itself records `deploying` and, when a worker goes silent or the
overall time limit passes, `failed`. Every write is conditional on the state it leaves, so a late step
can never resurrect a cancelled deployment. Placeholders like ${BuildQueueUrl} are filled from the
resource catalogue (embedded stack) or by CloudFormation's DefinitionSubstitutions (AWS).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.models.conditional import STATES_CONDITION_FAILED
from chalicelib.vocabulary import NON_TERMINAL, Status

SUBSTITUTIONS = ("BuildQueueUrl", "ActivationQueueUrl", "DeploymentsTable", "EnvironmentsTable")

_DEPLOYMENT_KEY = {"id": {"N.$": "$.deployment_id"}}
_CONDITION_FAILED = [STATES_CONDITION_FAILED]


def _catch_all(next_state: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": next_state}]


# A deployment waits at most this long for one of its organization's build slots.
SLOT_WAIT_SECONDS = 24 * 3600


def pipeline_definition(heartbeat_seconds: int, activation_timeout_seconds: int = 120) -> dict[str, Any]:
    """Execution input: deployment_id (string), project_id (string), environment, timeout_seconds,
    heartbeat_seconds, in_flight_ids, and slot_held (true, or absent) when the deployment took a build slot
    as it was recorded. The workers' messages carry the ids (and the environment) they read
    together in one request.

    The Build task's heartbeat comes from the input (a local build heartbeats; a CodeBuild build cannot, see
    adapters.executions.build_task_limits); `heartbeat_seconds` here is the default for an input without one.
    """
    non_terminal_values = {f":s{i}": {"S": s} for i, s in enumerate(NON_TERMINAL)}
    return {
        "Comment": (
            "deployd deployment pipeline: build slot -> build -> deploying -> activate; failed on silence or timeout"
        ),
        "StartAt": "HeartbeatGiven",
        "States": {
            "HeartbeatGiven": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.heartbeat_seconds", "IsPresent": False, "Next": "DefaultHeartbeat"},
                    # Recorded with a free build slot (services.build_slots.take): nothing to wait for.
                    {
                        "And": [
                            {"Variable": "$.slot_held", "IsPresent": True},
                            {"Variable": "$.slot_held", "BooleanEquals": True},
                        ],
                        "Next": "Build",
                    },
                ],
                "Default": "AcquireSlot",
            },
            "DefaultHeartbeat": {
                "Type": "Pass",
                "Result": heartbeat_seconds,
                "ResultPath": "$.heartbeat_seconds",
                "Next": "AcquireSlot",
            },
            "AcquireSlot": {
                # Waits, in order, for one of the organization's build slots; the heartbeat clock of the
                # build starts only once the slot is held.
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": "${ActivationQueueUrl}",
                    "MessageBody": {
                        "event": "acquire_slot",
                        "deployment_id.$": "$.deployment_id",
                        "task_token.$": "$$.Task.Token",
                    },
                },
                "TimeoutSeconds": SLOT_WAIT_SECONDS,
                "ResultPath": "$.slot",
                "Catch": _catch_all("DescribeFailure"),
                "Next": "Build",
            },
            "Build": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": "${BuildQueueUrl}",
                    "MessageBody": {
                        "deployment_id.$": "$.deployment_id",
                        "project_id.$": "$.project_id",
                        "task_token.$": "$$.Task.Token",
                    },
                },
                "TimeoutSecondsPath": "$.timeout_seconds",
                "HeartbeatSecondsPath": "$.heartbeat_seconds",
                "ResultPath": "$.build",
                "Catch": _catch_all("DescribeFailure"),
                "Next": "MarkDeploying",
            },
            "MarkDeploying": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Parameters": {
                    "TableName": "${DeploymentsTable}",
                    "Key": _DEPLOYMENT_KEY,
                    "UpdateExpression": "SET #status = :deploying, updated_at = :now ADD event_seq :one",
                    "ConditionExpression": "#status = :uploading",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":deploying": {"S": Status.DEPLOYING},
                        ":uploading": {"S": Status.UPLOADING},
                        ":now": {"S.$": "$$.State.EnteredTime"},
                        ":one": {"N": "1"},
                    },
                },
                "ResultPath": None,
                "Catch": [
                    # Cancelled while uploading: the cancel already released the environment.
                    {"ErrorEquals": _CONDITION_FAILED, "ResultPath": "$.error", "Next": "Superseded"},
                    *_catch_all("DescribeFailure"),
                ],
                "Next": "Activate",
            },
            "Activate": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": "${ActivationQueueUrl}",
                    "MessageBody": {
                        "deployment_id.$": "$.deployment_id",
                        "project_id.$": "$.project_id",
                        "environment.$": "$.environment",
                        "task_token.$": "$$.Task.Token",
                    },
                },
                "TimeoutSeconds": activation_timeout_seconds,
                "ResultPath": "$.activation",
                "Catch": _catch_all("DescribeFailure"),
                "End": True,
            },
            "Superseded": {"Type": "Succeed"},
            "DescribeFailure": {
                "Type": "Choice",
                "Choices": [
                    {
                        "Or": [
                            {"Variable": "$.error.Error", "StringEquals": "States.Timeout"},
                            {"Variable": "$.error.Error", "StringEquals": "States.HeartbeatTimeout"},
                        ],
                        "Next": "DescribeSilence",
                    }
                ],
                "Default": "DescribeStepError",
            },
            "DescribeSilence": {
                "Type": "Pass",
                "Parameters": {
                    "message.$": (
                        "States.Format('the build worker stopped reporting progress: no heartbeat for "
                        "{}s or the pipeline time limit of {}s passed', $.heartbeat_seconds, $.timeout_seconds)"
                    )
                },
                "ResultPath": "$.failure",
                "Next": "MarkFailed",
            },
            "DescribeStepError": {
                "Type": "Pass",
                "Parameters": {"message.$": "States.Format('pipeline step failed: {}', $.error.Error)"},
                "ResultPath": "$.failure",
                "Next": "MarkFailed",
            },
            "MarkFailed": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Parameters": {
                    "TableName": "${DeploymentsTable}",
                    "Key": _DEPLOYMENT_KEY,
                    "UpdateExpression": (
                        "SET #status = :failed, error_message = :message, finished_at = :now, updated_at = :now "
                        "ADD event_seq :one"
                    ),
                    "ConditionExpression": f"#status IN ({', '.join(non_terminal_values)})",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":failed": {"S": Status.FAILED},
                        ":message": {"S.$": "$.failure.message"},
                        ":now": {"S.$": "$$.State.EnteredTime"},
                        ":one": {"N": "1"},
                        **non_terminal_values,
                    },
                },
                "ResultPath": None,
                # Already terminal (the worker recorded its own failure, or a cancel won): keep that state.
                "Catch": [{"ErrorEquals": _CONDITION_FAILED, "ResultPath": "$.error", "Next": "Release"}],
                "Next": "Release",
            },
            "Release": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:updateItem",
                "Parameters": {
                    "TableName": "${EnvironmentsTable}",
                    "Key": {"project_id": {"N.$": "$.project_id"}, "name": {"S.$": "$.environment"}},
                    # DELETE from a set is idempotent: whoever ends the deployment first releases it.
                    "UpdateExpression": "DELETE in_flight :ids",
                    "ExpressionAttributeValues": {":ids": {"NS.$": "$.in_flight_ids"}},
                },
                "ResultPath": None,
                "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3, "IntervalSeconds": 1}],
                "Next": "ReportEnded",
            },
            "ReportEnded": {
                # Tells the activation handler to publish the final state (GitHub statuses); no token.
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {
                    "QueueUrl": "${ActivationQueueUrl}",
                    "MessageBody": {"deployment_id.$": "$.deployment_id", "event": "ended"},
                },
                "ResultPath": None,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.report_error", "Next": "PipelineFailed"}],
                "Next": "PipelineFailed",
            },
            "PipelineFailed": {
                "Type": "Fail",
                "Error": "DeploymentFailed",
                "Cause": "see the deployment's error_message",
            },
        },
    }


# The promotion flow's placeholders.
PROMOTION_SUBSTITUTIONS = ("PromotionQueueUrl",)
# A step verifies with at most three GETs of at most 2 s each (adapters.health_checks) and makes a transaction or two.
PROMOTION_STEP_SECONDS = 60


def _promotion_step(step: str, result_path: str, next_state: str, **fields: str) -> dict[str, Any]:
    """A step of a promotion, run by the promotion worker (workers.promotion_worker) through its queue with a task
    token; a step that fails or is never answered ends the promotion failed (Abandon)."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {
            "QueueUrl": "${PromotionQueueUrl}",
            "MessageBody": {
                "step": step,
                "project_id.$": "$.project_id",
                "promotion_id.$": "$.promotion_id",
                "environment.$": "$.environment",
                "to_deployment_id.$": "$.to_deployment_id",
                "task_token.$": "$$.Task.Token",
                **{f"{name}.$": path for name, path in fields.items()},
            },
        },
        "TimeoutSeconds": PROMOTION_STEP_SECONDS,
        "ResultPath": result_path,
        "Catch": _catch_all("Abandon"),
        "Next": next_state,
    }


def promotion_definition() -> dict[str, Any]:
    """One promotion (docs/promotions.md). Execution input: project_id, promotion_id, environment,
    to_deployment_id and candidate_url (the health-check path on the candidate's own URL). The promotion is
    recorded, and its turn in the environment's line taken, before its execution starts (services.promotions)."""
    return {
        "Comment": (
            "deployd promotion: verify the candidate and switch -> verify the live URL -> done; or rejected "
            "(the candidate failed, nothing switched), or revert (the live URL failed: switch back)"
        ),
        "StartAt": "VerifyAndSwitch",
        "States": {
            # Verifies the candidate's own URL, then switches on that check (or, when the candidate failed and
            # production keeps what it serves, rejects): one step, so the switch never runs on a check not made.
            "VerifyAndSwitch": _promotion_step(
                "verify_and_switch",
                "$.switch",
                "Switched",
                candidate_url="$.candidate_url",
            ),
            "Switched": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.switch.switched", "BooleanEquals": True, "Next": "VerifyLive"}],
                "Default": "Done",  # rejected, or nothing to switch: the switch step ended the promotion
            },
            # Verifies the live URL and, unless it failed under auto_rollback, finishes the promotion in the same step.
            "VerifyLive": _promotion_step(
                "verify_live",
                "$.live",
                "LiveVerified",
                live_url="$.switch.live_url",
                auto_rollback="$.switch.auto_rollback",
            ),
            "LiveVerified": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.live.finished", "BooleanEquals": False, "Next": "Revert"}],
                "Default": "Done",
            },
            "Revert": _promotion_step("revert", "$.revert", "Done", live="$.live"),
            "Done": {"Type": "Succeed"},
            "Abandon": {
                # A step failed or timed out: the worker ends the promotion failed and hands the line on; no token.
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {
                    "QueueUrl": "${PromotionQueueUrl}",
                    "MessageBody": {
                        "step": "abandon",
                        "project_id.$": "$.project_id",
                        "promotion_id.$": "$.promotion_id",
                        "environment.$": "$.environment",
                        "error.$": "$.error.Error",
                    },
                },
                "ResultPath": None,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.abandon_error", "Next": "PromotionFailed"}],
                "Next": "PromotionFailed",
            },
            "PromotionFailed": {
                "Type": "Fail",
                "Error": "PromotionFailed",
                "Cause": "see the promotion's error_message",
            },
        },
    }


def render(definition: dict[str, Any], substitutions: dict[str, str]) -> str:
    """Fill ${Name} placeholders the way CloudFormation's DefinitionSubstitutions does."""
    text = json.dumps(definition)
    for name, value in substitutions.items():
        text = text.replace("${" + name + "}", value)
    return text
