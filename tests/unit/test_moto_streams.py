"""The embedded stack's moto: a transaction's table snapshot shares the stream's records (a transaction no
longer costs more with every record the table ever streamed), and a cancelled transaction still takes back
the records of the writes it undid, so the stream never tells a change that did not happen."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.aws import client
from chalicelib.local.moto_compat import snapshot_streams_cheaply


@pytest.fixture
def streamed_table(aws: Any) -> str:
    snapshot_streams_cheaply()
    client("dynamodb").create_table(
        TableName="streamed",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return "streamed"


def _events(table: str) -> list[str]:
    streams = client("dynamodbstreams")
    arn = client("dynamodb").describe_table(TableName=table)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    return [f"{r['eventName']} {r['dynamodb']['Keys']['id']['N']}" for r in records]


def _update(table: str, key: int, condition: str | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {
        "TableName": table,
        "Key": {"id": {"N": str(key)}},
        "UpdateExpression": "SET v = :v",
        "ExpressionAttributeValues": {":v": {"S": "x"}},
    }
    if condition:
        update["ConditionExpression"] = condition
    return {"Update": update}


def test_a_cancelled_transaction_takes_back_its_stream_records_and_a_committed_one_keeps_them(
    streamed_table: str,
) -> None:
    dynamodb = client("dynamodb")
    dynamodb.put_item(TableName=streamed_table, Item={"id": {"N": "1"}})
    # When a transaction writes item 2, then fails its condition on item 3
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[_update(streamed_table, 2), _update(streamed_table, 3, "attribute_exists(id)")]
        )
    # Then the stream holds no record of item 2; a transaction that commits is streamed
    dynamodb.transact_write_items(TransactItems=[_update(streamed_table, 1)])
    assert _events(streamed_table) == ["INSERT 1", "MODIFY 1"]


def test_a_snapshot_shares_the_records_instead_of_copying_them(streamed_table: str) -> None:
    from moto.dynamodb.models import dynamodb_backends

    client("dynamodb").put_item(TableName=streamed_table, Item={"id": {"N": "1"}})
    table = dynamodb_backends["123456789012"]["us-east-1"].tables[streamed_table]
    snapshot = copy.deepcopy(table)
    assert snapshot.stream_shard.items[0] is table.stream_shard.items[0]
    assert snapshot.stream_shard.items is not table.stream_shard.items
    assert snapshot.stream_shard.table is snapshot
