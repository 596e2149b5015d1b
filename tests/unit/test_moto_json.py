"""The embedded stack's moto answers DynamoDB in plain JSON (chalicelib.local.moto_compat): what botocore parses
from it is exactly what it parses from moto's own shape-walking serializer, on every item operation deployd makes
and on a stream's records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import botocore.parsers
import pytest
from moto import mock_aws

from chalicelib.local import moto_compat


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every DynamoDB answer made both ways and parsed by botocore; the operations compared."""
    from moto.core.responses import ActionResult

    moto_compat.answer_dynamodb_in_plain_json()
    moto_compat.answer_dynamodb_in_plain_json()  # idempotent
    quick, shape_walk = ActionResult.execute_result, moto_compat._shape_walk
    assert shape_walk is not None and quick is not shape_walk
    operations: list[str] = []
    parser = botocore.parsers.create_parser("json")

    def parsed(body: Any, shape: Any) -> Any:
        raw = body.encode() if isinstance(body, str) else body
        return parser.parse({"body": raw, "headers": {}, "status_code": 200}, shape)

    def both_ways(self: Any, context: Any) -> Any:
        status, headers, body = quick(self, context)
        quick_ones = moto_compat._QUICK_JSON_OPERATIONS.get(context.service_model.service_name, frozenset())
        if context.operation_model.name in quick_ones and isinstance(self.result, dict):
            _, _, walked = shape_walk(self, context)
            shape = context.operation_model.output_shape
            assert parsed(body, shape) == parsed(walked, shape), context.operation_model.name
            operations.append(context.operation_model.name)
        return status, headers, body

    monkeypatch.setattr(ActionResult, "execute_result", both_ways)
    with mock_aws():
        yield operations


def test_item_operations_and_stream_records_parse_the_same_as_moto_serializes_them(compared: list[str]) -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    table = ddb.create_table(
        TableName="t",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "N"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]
    item = {
        "pk": {"N": "1"},
        "sk": {"S": "a"},
        "text": {"S": "héllo"},
        "count": {"N": "12.5"},
        "flag": {"BOOL": True},
        "nothing": {"NULL": True},
        "blob": {"B": b"\x00\x01bytes"},
        "tags": {"SS": ["x", "y"]},
        "ids": {"NS": ["1", "2"]},
        "attempts": {"L": [{"M": {"at": {"S": "2026-01-01"}, "status_code": {"N": "500"}}}]},
    }
    ddb.put_item(TableName="t", Item=item, ReturnValues="ALL_OLD")
    ddb.put_item(TableName="t", Item={**item, "sk": {"S": "b"}}, ReturnValues="ALL_OLD")
    ddb.get_item(TableName="t", Key={"pk": {"N": "1"}, "sk": {"S": "a"}}, ConsistentRead=True)
    ddb.get_item(TableName="t", Key={"pk": {"N": "9"}, "sk": {"S": "a"}})  # no item
    ddb.update_item(
        TableName="t",
        Key={"pk": {"N": "1"}, "sk": {"S": "a"}},
        UpdateExpression="SET #c = #c + :one, attempts = list_append(attempts, :more)",
        ExpressionAttributeNames={"#c": "count"},
        ExpressionAttributeValues={":one": {"N": "1"}, ":more": {"L": [{"S": "again"}]}},
        ReturnValues="ALL_NEW",
    )
    ddb.query(TableName="t", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"N": "1"}}, Limit=1)
    ddb.scan(TableName="t")
    ddb.batch_get_item(
        RequestItems={"t": {"Keys": [{"pk": {"N": "1"}, "sk": {"S": "a"}}, {"pk": {"N": "1"}, "sk": {"S": "b"}}]}}
    )
    ddb.batch_write_item(RequestItems={"t": [{"PutRequest": {"Item": {**item, "sk": {"S": "c"}}}}]})
    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"pk": {"N": "1"}, "sk": {"S": "c"}},
                    "UpdateExpression": "SET flag = :f",
                    "ExpressionAttributeValues": {":f": {"BOOL": False}},
                }
            }
        ]
    )
    ddb.delete_item(TableName="t", Key={"pk": {"N": "1"}, "sk": {"S": "b"}}, ReturnValues="ALL_OLD")
    shard = streams.describe_stream(StreamArn=table["LatestStreamArn"])["StreamDescription"]["Shards"][0]
    iterator = streams.get_shard_iterator(
        StreamArn=table["LatestStreamArn"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = streams.get_records(ShardIterator=iterator)["Records"]

    assert len(records) == 6 and records[0]["dynamodb"]["NewImage"]["blob"]["B"] == b"\x00\x01bytes"
    assert {"PutItem", "GetItem", "UpdateItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem"} <= set(compared)
    assert {"TransactWriteItems", "DeleteItem", "GetShardIterator", "GetRecords"} <= set(compared)
