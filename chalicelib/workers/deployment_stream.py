"""The deployments table's stream consumer (Lambda `deployment_events`): every change of a deployment becomes its
events (services.events) and each event a message to every webhook that wants it (services.webhook_fanout), and
a notification to every Slack channel that shows or wants the deployment's live message (services.slack_live).
Powertools batch processing with partial batch failures: Lambda retries the shard from the first record that
failed, and a record fanned out again makes no second message (message ids derive from the event).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.services import slack_live, webhook_fanout
from chalicelib.services.events import events_of

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord


def consume(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    fan_out = webhook_fanout.FanOut()  # one per invocation: the batch's webhooks and projects read once
    subscribed: dict[str, Any] = {}  # the same for the organizations' Slack subscriptions

    def record_handler(record: DynamoDBRecord) -> None:
        images = record.raw_event.get("dynamodb") or {}
        events = events_of(images.get("OldImage"), images.get("NewImage"))
        fan_out(events)
        # After the webhooks: a retried record fans out again without a second message.
        slack_live.notify(events, subscribed)

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
