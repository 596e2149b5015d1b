"""The embedded stack's moto converts DynamoDB results to plain values in one walk
(chalicelib.local.moto_compat.convert_results_in_one_walk): every answer is what moto's own dynamo_to_dict gives,
for items holding every DynamoDB type, and moto's own function is left only the values it must answer itself."""

from __future__ import annotations

import base64
import datetime
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.local import moto_compat

_ITEM = {
    "pk": {"S": "item"},
    "sk": {"N": "1"},
    "text": {"S": "é ü \u2603"},
    "count": {"N": "-12.5"},
    "blob": {"B": b"\x00\x01binary"},
    "blobs": {"BS": [b"a", b"\xff"]},
    "names": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2.5"]},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "list": {"L": [{"S": "x"}, {"N": "3"}, {"M": {"deep": {"B": b"\x02"}}}, {"L": []}]},
    "map": {"M": {"a": {"S": "b"}, "inner": {"M": {"n": {"NS": ["7"]}}}, "empty": {"M": {}}}},
}


@pytest.fixture(autouse=True)
def one_walk() -> None:
    moto_compat.convert_results_in_one_walk()
    moto_compat.convert_results_in_one_walk()  # idempotent


def _with(convert: Callable[[Any], Any]) -> Any:
    """The conversion moto's DynamoDB uses while the context lasts."""
    from moto.dynamodb import responses
    from moto.dynamodb.models import utilities

    class Using:
        def __enter__(self) -> None:
            self.kept = utilities.dynamo_to_dict
            utilities.dynamo_to_dict = responses.dynamo_to_dict = convert  # type: ignore[attr-defined]

        def __exit__(self, *exc: object) -> None:
            utilities.dynamo_to_dict = responses.dynamo_to_dict = self.kept  # type: ignore[attr-defined]

    return Using()


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="results",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "N"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="results", Item=_ITEM)
        yield dynamodb


def _answers(dynamodb: Any) -> list[Any]:
    key = {"pk": {"S": "item"}, "sk": {"N": "1"}}
    answers = [
        dynamodb.get_item(TableName="results", Key=key, ConsistentRead=True)["Item"],
        dynamodb.batch_get_item(RequestItems={"results": {"Keys": [key]}})["Responses"],
        dynamodb.query(
            TableName="results", KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": "item"}}
        )["Items"],
        dynamodb.update_item(
            TableName="results",
            Key=key,
            UpdateExpression="ADD #c :one SET #l = list_append(#l, :more)",
            ExpressionAttributeNames={"#c": "count", "#l": "list"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":more": {"L": [{"B": b"\x03"}]}},
            ReturnValues="ALL_NEW",
        )["Attributes"],
        dynamodb.describe_table(TableName="results")["Table"]["KeySchema"],
    ]
    dynamodb.update_item(  # undone, so the other conversion finds the same item
        TableName="results",
        Key=key,
        UpdateExpression="ADD #c :minus REMOVE #l[4]",
        ExpressionAttributeNames={"#c": "count", "#l": "list"},
        ExpressionAttributeValues={":minus": {"N": "-1"}},
    )
    return answers


def test_every_answer_is_moto_s_own(table: Any) -> None:
    assert moto_compat._dynamo_to_dict is not None

    # Given the answers of moto's own conversion for an item holding every DynamoDB type
    with _with(moto_compat._dynamo_to_dict):
        expected = _answers(table)

    # When the same requests are answered with the conversion in one walk
    answered = _answers(table)

    # Then they are the same, binary values and all
    assert answered == expected
    assert answered[0]["blob"] == {"B": b"\x00\x01binary"}
    assert answered[3]["list"]["L"][-1] == {"B": b"\x03"}


def test_moto_s_own_function_answers_only_what_it_must(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models import utilities
    from moto.dynamodb.models.dynamo_type import DynamoType

    own = moto_compat._dynamo_to_dict
    assert own is not None
    moment = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    result = {
        "Responses": {"t": [{name: DynamoType(value) for name, value in _ITEM.items() if name != "blob"}]},
        "ConsumedCapacity": [{"CapacityUnits": 1, "TableName": "t"}],
        "When": moment,
        "Binary": DynamoType({"B": base64.b64encode(b"\x01").decode()}),
    }
    expected = own(result)
    asked: list[Any] = []

    def counted(obj: Any) -> Any:
        asked.append(obj)
        return own(obj)

    monkeypatch.setattr(moto_compat, "_dynamo_to_dict", counted)

    # When a result is converted in one walk
    converted = utilities.dynamo_to_dict(result)

    # Then the answer is moto's, and moto's own function was asked only the datetime and the binary values
    assert converted == expected
    assert converted["When"] is moment
    assert converted["Binary"] == {"B": b"\x01"}
    # blobs, the list's deep binary, When, Binary
    assert [a if a is moment else a.type for a in asked] == ["BS", "B", moment, "B"]
