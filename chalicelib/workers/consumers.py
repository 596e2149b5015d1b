"""Event consumers as Lambda sees them: SQS queues (Powertools batch processing with partial batch failures)
and CodeBuild's state-change events (EventBridge, one event per invocation).

A record that raises is reported in batchItemFailures and comes back after the visibility timeout; an
event that raises is retried by Lambda's asynchronous invocation. The handlers are idempotent (conditional
claims and transitions), so a redelivery never builds, finishes or activates twice.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.codebuild import BuildStateChange
from chalicelib.workers import webhook_delivery
from chalicelib.workers.activation_worker import handle_activation
from chalicelib.workers.build_state import handle_build_state
from chalicelib.workers.build_worker import handle_build
from chalicelib.workers.slack_commands import handle_slack_command
from chalicelib.workers.slack_notifications import handle_slack_notification


def _consume(event: dict[str, Any], context: Any, handle: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    def record_handler(record: SQSRecord) -> None:
        handle(json.loads(record.body))

    # One processor per invocation: the embedded stack calls consumers from several threads at once.
    processor = BatchProcessor(event_type=EventType.SQS)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def consume_builds(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _consume(event, context, handle_build)


def consume_activations(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _consume(event, context, handle_activation)


def consume_webhook_deliveries(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return webhook_delivery.consume(event, context)


def consume_slack_commands(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _consume(event, context, handle_slack_command)


def consume_slack_notifications(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    return _consume(event, context, handle_slack_notification)


def consume_build_event(event: dict[str, Any], context: Any = None) -> None:
    handle_build_state(BuildStateChange.from_event(event))
