"""The embedded stack's stand-in for Lambda's DynamoDB stream event source mapping (local.workers.StreamWorker):
it starts at the end of the stream, hands the handler Lambda-shaped records, and reads a batch again from the
first record the handler reported failed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.aws import client
from chalicelib.local.workers import StreamWorker
from tests.support.polling import wait_until


@pytest.fixture
def stream_arn(aws: Any) -> str:
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName="watched",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return str(dynamodb.describe_table(TableName="watched")["Table"]["LatestStreamArn"])


class FlakyHandler:
    """Records every invocation; reports item `fail_once` failed the first time it sees it."""

    def __init__(self, fail_once: str) -> None:
        self.fail_once = fail_once
        self.failed = False
        self.seen: list[tuple[str, str, str | None]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            key = record["dynamodb"]["Keys"]["id"]["N"]
            old = record["dynamodb"].get("OldImage", {}).get("v", {}).get("S")
            self.seen.append((record["eventName"], key, old))
            assert record["eventSource"] == "aws:dynamodb" and record["eventSourceARN"]
            if key == self.fail_once and not self.failed:
                self.failed = True
                failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
        return {"batchItemFailures": failures}


@pytest.fixture
def worker(stream_arn: str) -> Iterator[Any]:
    started: list[StreamWorker] = []

    def start(handler: FlakyHandler) -> StreamWorker:
        w = StreamWorker(client("dynamodbstreams"), stream_arn, handler, "watched-stream", "us-east-1")
        w.start()
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()
        w.join(timeout=5)


def _put(key: int, value: str) -> None:
    client("dynamodb").put_item(TableName="watched", Item={"id": {"N": str(key)}, "v": {"S": value}})


def test_records_after_the_start_reach_the_handler_and_a_failed_one_is_read_again(worker: Any) -> None:
    # Given a record written before the worker starts
    _put(1, "before")
    handler = FlakyHandler(fail_once="3")
    worker(handler)
    # When three changes follow, and the handler reports the second of them failed the first time
    _put(2, "a")
    _put(3, "b")
    _put(1, "c")
    # Then the handler sees every later change, the failed one and those after it again, and nothing older
    wait_until(lambda: handler.seen.count(("INSERT", "3", None)) == 2, timeout=10, what="the failed record again")
    retried = len(handler.seen) - 1 - handler.seen[::-1].index(("INSERT", "3", None))
    wait_until(lambda: ("MODIFY", "1", "before") in handler.seen[retried:], timeout=10, what="the change after it")
    assert handler.seen[0] == ("INSERT", "2", None)
    assert handler.seen.count(("INSERT", "2", None)) == 1  # the record before the failed one is not read again
    assert all(seen[1] != "1" or seen[2] == "before" for seen in handler.seen)  # no record of the first put
