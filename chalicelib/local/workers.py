"""Worker threads that do what Lambda's SQS event source mapping does: poll, invoke the handler, delete.

They call the very handler objects Chalice registers for Lambda, with Lambda-shaped events, and honour
partial batch failures: records listed in batchItemFailures stay on the queue for redelivery.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.observability import logger


@dataclass
class LocalLambdaContext:
    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = ""

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


class QueueWorker(threading.Thread):
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Callable[[dict[str, Any], Any], Any],
        name: str,
        batch_size: int,
        region: str,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._handler = handler
        self._batch_size = batch_size
        self._region = region
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._poll_once()
            except Exception:  # keep polling: Lambda's poller survives a failed invocation too
                if not self._stopping.is_set():
                    logger.exception("queue worker invocation failed", extra={"worker": self.name})
                    self._stopping.wait(1)

    def _poll_once(self) -> None:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return
        event = {"Records": [self._record(m) for m in messages]}
        context = LocalLambdaContext(function_name=self.name, aws_request_id=str(uuid.uuid4()))
        result = self._handler(event, context) or {}
        failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
        for message in messages:
            if message["MessageId"] not in failed:
                self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self._queue_arn,
            "awsRegion": self._region,
        }
