"""The embedded stack's moto undoes a failed TransactWriteItems by putting back the items it touched, not copies
of whole tables (chalicelib.local.moto_compat.snapshot_touched_items_only): what a failed transaction leaves is
exactly what was there before, items and stream records alike, whatever the table's size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID

from chalicelib.local.moto_compat import serialize_dynamodb, snapshot_touched_items_only


@pytest.fixture
def ddb() -> Iterator[Any]:
    serialize_dynamodb()
    snapshot_touched_items_only()
    snapshot_touched_items_only()  # idempotent
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        client.create_table(
            TableName="h",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _backend() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]


def _items(ddb: Any, table: str) -> list[dict[str, Any]]:
    return sorted(ddb.scan(TableName=table)["Items"], key=repr)


def _stream(ddb: Any) -> list[str]:
    streams = boto3.client("dynamodbstreams", region_name="us-east-1")
    arn = ddb.describe_table(TableName="t")["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return [r["eventName"] for r in streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]]


def test_a_failed_transaction_leaves_items_and_stream_as_they_were_without_copying_the_tables(ddb: Any) -> None:
    # Given items in both tables, one of them a thousand strong
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"N": "1"}})
    for n in range(1000):
        ddb.put_item(TableName="h", Item={"pk": {"S": f"other-{n}"}})
    ddb.put_item(TableName="h", Item={"pk": {"S": "x"}, "v": {"N": "1"}})
    before_t, before_h, stream_before = _items(ddb, "t"), _items(ddb, "h"), _stream(ddb)
    tables_before = dict(_backend().tables)

    # When a transaction changes an item, creates one, deletes one and then fails its last condition
    with pytest.raises(ClientError, match="TransactionCanceled"):
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": "t",
                        "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "SET v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "a"}, "sk": {"S": "2"}}}},
                {"Delete": {"TableName": "h", "Key": {"pk": {"S": "x"}}}},
                {
                    "ConditionCheck": {
                        "TableName": "h",
                        "Key": {"pk": {"S": "missing"}},
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )

    # Then every item and the stream are as before, and the tables are the same objects (no copies put back)
    assert _items(ddb, "t") == before_t and _items(ddb, "h") == before_h
    assert _stream(ddb) == stream_before == ["INSERT"]
    assert all(_backend().tables[name] is table for name, table in tables_before.items())


def test_a_transaction_that_holds_is_applied_and_streamed(ddb: Any) -> None:
    ddb.put_item(TableName="t", Item={"pk": {"S": "a"}, "sk": {"S": "1"}, "v": {"N": "1"}})

    ddb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": "t",
                    "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                    "UpdateExpression": "SET v = :two",
                    "ConditionExpression": "v = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":two": {"N": "2"}},
                }
            },
            {
                "Put": {
                    "TableName": "h",
                    "Item": {"pk": {"S": "new"}},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
    )

    assert ddb.get_item(TableName="t", Key={"pk": {"S": "a"}, "sk": {"S": "1"}})["Item"]["v"] == {"N": "2"}
    assert ddb.get_item(TableName="h", Key={"pk": {"S": "new"}})["Item"] == {"pk": {"S": "new"}}
    assert _stream(ddb) == ["INSERT", "MODIFY"]
