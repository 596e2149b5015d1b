"""SQS consumers as Lambda sees them: Powertools batch processing with partial batch failures.

A record that raises is reported in batchItemFailures and comes back after the visibility timeout. The handlers
are idempotent (conditional claims and transitions), so a redelivery never builds, finishes or activates twice.
Each queue's function (chalicelib.functions) passes its own handler, so it imports no other queue's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def consume(event: dict[str, Any], context: Any, handle: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Each record's JSON body handled by `handle`; the records that raised, as SQS's partial batch response."""
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
