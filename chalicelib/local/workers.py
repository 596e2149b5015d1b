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


def sqs_worker(app_module: Any, sqs: Any, url: str, name: str, concurrency: int, region: str) -> QueueWorker:
    """A poller for the queue at `url` calling app.py's handler `name` (its entry module's, registered on the app),
    with the batch size that handler registers for Lambda."""
    from chalice.app import SQSEventConfig

    (source,) = [s for s in app_module.app.event_sources if isinstance(s, SQSEventConfig) and s.name == name]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return QueueWorker(
        sqs,
        url,
        arn,
        app_module.app.handler_map[name],
        f"{source.queue}-consumer",
        source.batch_size,
        region,
        concurrency=concurrency,
    )


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
            done = [message for message in messages if message["MessageId"] not in failed]
            if done:  # one request for the batch, as Lambda deletes a batch's successful messages
                entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)]
                self._sqs.delete_message_batch(QueueUrl=self._queue_url, Entries=entries)
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


# The stream worker asks for the stream's shards every this many polls (a table's stream gains shards rarely).
SHARD_LIST_EVERY = 25


class StreamWorker(threading.Thread):
    """What Lambda's DynamoDB stream event source mapping does, in a thread: read each shard of a table's stream
    from where it stood when the worker started, invoke the handler with Lambda-shaped records, and read a batch
    again from its first failed record (batchItemFailures carry sequence numbers), at most `retries` times.

    The position in each shard is kept as the last sequence number handled and a fresh iterator is asked for
    every poll: moto restores a table (its stream shard included) from a copy when a transaction is cancelled,
    which strands any iterator taken before.
    """

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        handler: Callable[[dict[str, Any], Any], Any],
        name: str,
        region: str,
        batch_size: int = 100,
        interval_seconds: float = 0.2,
        retries: int = 3,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._streams = streams
        self._stream_arn = stream_arn
        self._handler = handler
        self._region = region
        self._batch_size = batch_size
        self._interval = interval_seconds
        self._retries = retries
        self._stopping = threading.Event()
        self._failures: dict[str, int] = {}  # sequence number -> failed invocations starting at it
        # shard id -> the last sequence number handled (None: read the shard from its beginning). Shards present
        # at start are read from their end (LATEST), as a new event source mapping does.
        self._after: dict[str, str | None] = {shard_id: self._end_of(shard_id) for shard_id in self._shard_ids()}
        self._polls = 0

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self._poll()
            except Exception:  # keep polling: Lambda's poller survives a failed read too
                if not self._stopping.is_set():
                    logger.exception("stream poll failed", extra={"worker": self.name})

    def _shard_ids(self) -> list[str]:
        description = self._streams.describe_stream(StreamArn=self._stream_arn)["StreamDescription"]
        return [shard["ShardId"] for shard in description.get("Shards", [])]

    def _read(self, shard_id: str, after: str | None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"StreamArn": self._stream_arn, "ShardId": shard_id}
        if after is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        iterator = self._streams.get_shard_iterator(**kwargs)["ShardIterator"]
        return list(self._streams.get_records(ShardIterator=iterator, Limit=self._batch_size).get("Records", []))

    def _end_of(self, shard_id: str) -> str | None:
        after: str | None = None
        while records := self._read(shard_id, after):
            after = records[-1]["dynamodb"]["SequenceNumber"]
        return after

    def _poll(self) -> None:
        self._polls += 1
        if self._polls % SHARD_LIST_EVERY == 0:  # new shards are rare: the list is asked for now and then
            for shard_id in self._shard_ids():
                self._after.setdefault(shard_id, None)
        for shard_id, after in list(self._after.items()):
            records = self._read(shard_id, after)
            if records:
                self._after[shard_id] = self._invoke(records) or after

    def _invoke(self, records: list[dict[str, Any]]) -> str | None:
        """Run the handler on one batch; the last sequence number handled (None: none of them)."""
        sequence_numbers = [str(r["dynamodb"]["SequenceNumber"]) for r in records]
        event = {"Records": [self._record(r) for r in records]}
        context = LocalLambdaContext(function_name=self.name, aws_request_id=str(uuid.uuid4()))
        try:
            result = self._handler(event, context) or {}
            failed = {str(f["itemIdentifier"]) for f in result.get("batchItemFailures", [])}
        except Exception:
            logger.exception("stream worker invocation failed", extra={"worker": self.name})
            failed = set(sequence_numbers)
        first_failed = next((n for n in sequence_numbers if n in failed), None)
        if first_failed is None:
            return sequence_numbers[-1]
        self._failures[first_failed] = self._failures.get(first_failed, 0) + 1
        if self._failures[first_failed] > self._retries:  # give it up, as MaximumRetryAttempts does
            logger.error("stream record dropped after retries", extra={"worker": self.name})
            del self._failures[first_failed]
            return first_failed
        position = sequence_numbers.index(first_failed)
        return sequence_numbers[position - 1] if position else None

    def _record(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "eventID": record.get("eventID", str(uuid.uuid4())),
            "eventName": record["eventName"],
            "eventVersion": record.get("eventVersion", "1.1"),
            "eventSource": "aws:dynamodb",
            "awsRegion": self._region,
            "dynamodb": _json_safe(record["dynamodb"]),
            "eventSourceARN": self._stream_arn,
        }


def _json_safe(value: Any) -> Any:
    """boto3 hands ApproximateCreationDateTime as a datetime; Lambda's event carries epoch seconds."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return value
