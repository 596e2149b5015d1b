"""What Lambda's SQS event source mapping does, in threads: poll, invoke the handler, delete.

A poller receives a batch only when one of its `concurrency` invocation slots is free, and runs each
batch in its own thread, as Lambda scales out concurrent invocations; so a message waits in the queue
only while every slot is busy. Invocations call the very handler objects Chalice registers for Lambda,
with Lambda-shaped events, and honour partial batch failures: records listed in batchItemFailures stay
on the queue for redelivery.
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
        concurrency: int = 1,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._handler = handler
        self._batch_size = batch_size
        self._region = region
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(concurrency)

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            if not self._slots.acquire(timeout=1):
                continue
            try:
                messages = self._receive()
            except Exception:  # keep polling: Lambda's poller survives a failed receive too
                self._slots.release()
                if not self._stopping.is_set():
                    logger.exception("queue poll failed", extra={"worker": self.name})
                    self._stopping.wait(1)
                continue
            if not messages:
                self._slots.release()
                continue
            threading.Thread(target=self._invoke, args=(messages,), name=f"{self.name}-invocation", daemon=True).start()

    def _receive(self) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        try:
            event = {"Records": [self._record(m) for m in messages]}
            context = LocalLambdaContext(function_name=self.name, aws_request_id=str(uuid.uuid4()))
            result = self._handler(event, context) or {}
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            for message in messages:
                if message["MessageId"] not in failed:
                    self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
        except Exception:  # the messages stay on the queue and come back after their visibility timeout
            logger.exception("queue worker invocation failed", extra={"worker": self.name})
        finally:
            self._slots.release()

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
