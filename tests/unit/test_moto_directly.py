"""The embedded stack's local AWS endpoint hands DynamoDB's, SQS's and Step Functions' JSON calls to moto's handlers
directly, without moto's domain dispatcher and Flask (chalicelib.local.moto_compat.LocalAwsServer, `directly`): every
answer (status, headers, body), errors and moto's own 500s included, is what moto's way gives for the same requests,
and the calls made after them find the same items and messages."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from chalicelib.local import moto_compat
from chalicelib.local.moto_compat import LocalAwsServer
from chalicelib.local.stack import free_port


def _signed(service: str) -> str:
    scope = f"directly/20260101/us-east-1/{service}/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host, Signature=0"


_VOLATILE_HEADERS = {"date", "x-amzn-requestid"}
# Drawn afresh by each server: message ids and receipt handles (and the lengths and checksums of answers holding them).
_VOLATILE_FIELDS = {"MessageId", "ReceiptHandle", "SentTimestamp", "ApproximateFirstReceiveTimestamp"}
_TABLE = "directly"
_STATES_ARN = "arn:aws:states:us-east-1:123456789012"

_KEY_SCHEMA = [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}]
_ATTRIBUTES = [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}]

# (target, body, extra headers): what the API and the pipeline send, and what no SDK sends.
_REQUESTS: list[tuple[str, Any, dict[str, str]]] = [
    (
        "DynamoDB_20120810.CreateTable",
        {
            "TableName": _TABLE,
            "KeySchema": _KEY_SCHEMA,
            "AttributeDefinitions": _ATTRIBUTES,
            "BillingMode": "PAY_PER_REQUEST",
        },
        {},
    ),
    ("DynamoDB_20120810.PutItem", {"TableName": _TABLE, "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}}}, {}),
    (
        "DynamoDB_20120810.UpdateItem",
        {
            "TableName": _TABLE,
            "Key": {"pk": {"S": "a"}, "sk": {"N": "1"}},
            "UpdateExpression": "ADD #0 :0 SET #1 = :1",
            "ExpressionAttributeNames": {"#0": "value", "#1": "expires_at"},
            "ExpressionAttributeValues": {":0": {"N": "1"}, ":1": {"N": "1700000000"}},
            "ReturnValues": "ALL_NEW",
        },
        {},
    ),
    (
        "DynamoDB_20120810.PutItem",
        {
            "TableName": _TABLE,
            "Item": {"pk": {"S": "a"}, "sk": {"N": "1"}},
            "ConditionExpression": "attribute_not_exists(pk)",
        },
        {},
    ),
    (
        "DynamoDB_20120810.BatchGetItem",
        {
            "RequestItems": {
                _TABLE: {"Keys": [{"pk": {"S": "a"}, "sk": {"N": "1"}}, {"pk": {"S": "b"}, "sk": {"N": "2"}}]}
            }
        },
        {},
    ),
    (
        "DynamoDB_20120810.Query",
        {
            "TableName": _TABLE,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": "a"}},
        },
        {},
    ),
    ("DynamoDB_20120810.GetItem", {"TableName": "no-such-table", "Key": {"pk": {"S": "a"}}}, {}),
    ("DynamoDB_20120810.GetItem", {"TableName": _TABLE, "Key": {"pk": {"S": "a"}}}, {}),  # half a key
    ("DynamoDB_20120810.GetItem", b"{not json", {}),
    ("DynamoDB_20120810.NoSuchOperation", {}, {}),
    ("DynamoDB_20120810.GetItem", {"Key": {"pk": {"S": "a"}}}, {}),  # no table: moto's own 500
    ("DynamoDB_20120810.Scan", {"TableName": _TABLE}, {"Origin": "http://localhost:3000"}),  # moto's way
    ("DynamoDB_20120810.DeleteTable", {"TableName": _TABLE}, {}),
    # a queue hop's calls, as the pipeline's workers and the state machine's SQS integration make them
    ("AmazonSQS.CreateQueue", {"QueueName": "directly"}, {}),
    ("AmazonSQS.SendMessage", {"QueueUrl": "QUEUE", "MessageBody": '{"step": "build"}'}, {}),
    ("AmazonSQS.ReceiveMessage", {"QueueUrl": "QUEUE", "MaxNumberOfMessages": 10, "AttributeNames": ["All"]}, {}),
    ("AmazonSQS.ReceiveMessage", {"QueueUrl": "QUEUE", "WaitTimeSeconds": 0}, {}),  # none visible: an empty answer
    ("AmazonSQS.GetQueueUrl", {"QueueName": "no-such-queue"}, {}),
    ("AmazonSQS.SendMessage", {"QueueUrl": "QUEUE"}, {}),  # no body
    ("AmazonSQS.NoSuchOperation", {}, {}),
    ("AmazonSQS.DeleteQueue", {"QueueUrl": "QUEUE"}, {}),
    ("AWSStepFunctions.ListStateMachines", {}, {}),
    ("AWSStepFunctions.SendTaskSuccess", {"taskToken": "no-such-token", "output": "{}"}, {}),
    ("AWSStepFunctions.DescribeExecution", {"executionArn": "arn:aws:states:us-east-1:123456789012:execution:x:y"}, {}),
    (
        "AWSStepFunctions.ListExecutions",
        {"stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:x"},
        {},
    ),
    ("AmazonSQS.ListQueues", {}, {"Origin": "http://localhost:3000"}),  # moto's way
]
_SERVICES = {"DynamoDB_20120810": "dynamodb", "AmazonSQS": "sqs", "AWSStepFunctions": "states"}


@pytest.fixture
def servers() -> Iterator[tuple[LocalAwsServer, LocalAwsServer]]:
    """The endpoint as moto answers (dispatcher and Flask) and as the embedded stack answers (directly)."""
    moto_compat.serialize_dynamodb()
    moto_compat.answer_dynamodb_in_plain_json()
    own = LocalAwsServer("127.0.0.1", free_port(), directly=False)
    direct = LocalAwsServer("127.0.0.1", free_port())
    own.start()
    direct.start()
    yield own, direct
    own.stop()
    direct.stop()


def _without_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in _VOLATILE_FIELDS}
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_times(v) for k, v in value.items() if k not in ("CreationDateTime", "DeletionDateTime")}
    if isinstance(value, list):
        return [_without_times(v) for v in value]
    return value


def _answers(port: int) -> list[tuple[int, list[tuple[str, str]], Any]]:
    """Each request of _REQUESTS on one connection: status, headers (but the date and the request id), body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    answers = []
    queue_url = f"http://127.0.0.1:{port}/123456789012/directly"
    for target, body, extra in _REQUESTS:
        sent = body if isinstance(body, bytes) else json.dumps(body).replace('"QUEUE"', json.dumps(queue_url)).encode()
        service = _SERVICES[target.split(".")[0]]
        headers = {
            "X-Amz-Target": target,
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": _signed(service),
        }
        connection.request("POST", "/", body=sent, headers={**headers, **extra})
        response = connection.getresponse()
        raw = response.read().replace(str(port).encode(), b"PORT")
        kept = [(name, value) for name, value in response.getheaders() if name.lower() not in _VOLATILE_HEADERS]
        if response.getheader("Content-Type", "").startswith("application/"):
            parsed = _without_volatile(json.loads(raw))
            if parsed != json.loads(raw) or "TableDescription" in parsed:
                # Its times differ between the two runs; so do the checksum and the length of a body carrying them
                # (a time is a float: 1764463790.12345 is a character shorter than 1764463790.123456).
                kept = [(name, value) for name, value in kept if name.lower() not in ("x-amz-crc32", "content-length")]
            answers.append((response.status, kept, _without_times(parsed)))
        else:
            answers.append((response.status, kept, raw))
        if response.will_close:
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.close()
    return answers


def test_every_answer_is_moto_s_own(servers: tuple[LocalAwsServer, LocalAwsServer]) -> None:
    own, direct = servers

    # Given the same requests made to the endpoint as moto answers them (the table is gone at the end of the run)
    expected = _answers(own.port)

    # When they are made again to the endpoint that hands the JSON calls to moto's handlers directly
    answered = _answers(direct.port)

    # Then every status, header and body is the same: items, conditional failures, errors and 500s alike
    assert answered == expected
    statuses = [status for status, _, _ in expected]
    assert statuses[:13] == [200, 200, 200, 400, 200, 200, 400, 400, 500, 500, 500, 200, 200]  # DynamoDB's
    assert statuses[13:] == [200, 200, 200, 200, 400, 500, 500, 200, 200, 200, 400, 400, 200]  # SQS's, Step Functions'
    assert expected[15][2]["Messages"][0]["Body"] == '{"step": "build"}'  # the message sent, received


def test_dynamodb_sqs_and_step_functions_calls_skip_the_dispatcher(
    servers: tuple[LocalAwsServer, LocalAwsServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, direct = servers
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    dispatched: list[str] = []
    own_call = DomainDispatcherApplication.__call__

    def counted(self: Any, environ: dict[str, Any], start_response: Any) -> Any:
        dispatched.append(str(environ.get("HTTP_X_AMZ_TARGET") or environ.get("PATH_INFO")))
        return own_call(self, environ, start_response)

    monkeypatch.setattr(DomainDispatcherApplication, "__call__", counted)
    session = boto3.Session(aws_access_key_id="directly", aws_secret_access_key="directly", region_name="us-east-1")
    endpoint = f"http://127.0.0.1:{direct.port}"

    # When botocore calls DynamoDB, SQS, Step Functions, then S3, on the endpoint
    assert "TableNames" in session.client("dynamodb", endpoint_url=endpoint).list_tables()
    session.client("sqs", endpoint_url=endpoint).list_queues()
    assert "stateMachines" in session.client("stepfunctions", endpoint_url=endpoint).list_state_machines()
    session.client("s3", endpoint_url=endpoint).list_buckets()

    # Then only the S3 call went through moto's dispatcher
    assert dispatched == ["/"]
