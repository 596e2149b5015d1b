"""The embedded stack's quicker moto (chalicelib.local.moto_quick) answers what moto as it ships answers: the same
requests, made both ways, give the same answers, errors and items."""

from __future__ import annotations

import string
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.local import moto_compat, moto_quick
from tests.unit.test_moto_update_expressions import _requests, _with_table


@pytest.fixture(autouse=True)
def quick() -> None:
    moto_compat.serialize_dynamodb()
    moto_compat.parse_update_expressions_once()
    moto_compat.check_update_structure_once()
    moto_compat.copy_update_trees_from_pickles()
    moto_quick.apply_all()
    moto_quick.apply_all()  # idempotent


def _answer(call: Any, **request: Any) -> Any:
    try:
        answer = call(**request)
    except ClientError as error:
        return ("error", error.response["Error"]["Code"], error.response["Error"]["Message"])
    except ValueError as error:  # moto raises some refusals of a ConditionExpression as they are
        return ("raised", type(error).__name__, str(error))
    answer.pop("ResponseMetadata")
    return answer


def _conditional_writes(client: Any) -> list[Any]:
    """Conditions that hold and fail, in puts, deletes and transactions; conditions that do not parse."""
    key = {"pk": {"S": "c"}, "sk": {"S": "x"}}
    answers = [_answer(client.put_item, TableName="t", Item={**key, "n": {"N": "1"}, "s": {"S": "a"}})]
    for condition, values in (
        ("n = :one AND attribute_exists(s)", {":one": {"N": "1"}}),
        ("n > :one OR (s IN (:a, :b) AND NOT begins_with(s, :b))",
         {":one": {"N": "1"}, ":a": {"S": "a"}, ":b": {"S": "b"}}),
        ("n BETWEEN :lo AND :hi", {":lo": {"N": "5"}, ":hi": {"N": "9"}}),
        ("size(s) <= :one", {":one": {"N": "1"}}),
        ("n = = :one", {":one": {"N": "1"}}),
        ("n = :one)", {":one": {"N": "1"}}),
        ("n ~ :one", {":one": {"N": "1"}}),
    ):  # fmt: skip
        for _ in range(2):  # the second time, the text was seen
            answers.append(
                _answer(
                    client.put_item,
                    TableName="t",
                    Item={**key, "n": {"N": "1"}, "s": {"S": "a"}},
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
            )
    transaction = [
        {"Put": {"TableName": "t", "Item": {"pk": {"S": "d"}, "sk": {"S": "x"}},
                 "ConditionExpression": "attribute_not_exists(pk)"}},
        {"Update": {"TableName": "t", "Key": key, "UpdateExpression": "ADD n :one", "ConditionExpression": "#s = :a",
                    "ExpressionAttributeNames": {"#s": "s"},
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":a": {"S": "a"}}}},
    ]  # fmt: skip
    answers.append(_answer(client.transact_write_items, TransactItems=transaction))
    answers.append(_answer(client.transact_write_items, TransactItems=transaction))  # the first write's condition fails
    answers.append(_answer(client.delete_item, TableName="t", Key=key, ConditionExpression="attribute_not_exists(n)"))
    answers.append(_answer(client.delete_item, TableName="t", Key=key, ConditionExpression="attribute_exists(n)"))
    return answers


def test_update_expressions_and_conditions_answer_as_moto_does() -> None:
    # Given the same requests made with moto as it ships
    with moto_quick.as_shipped():
        own_updates, own_conditions = _with_table(_requests), _with_table(_conditional_writes)
    # When they are made with the quicker moto, twice
    for _ in range(2):
        updates, conditions = _with_table(_requests), _with_table(_conditional_writes)
        # Then every answer, error and item is moto's own
        assert updates == own_updates
        assert conditions == own_conditions
    answers, items = own_conditions
    refusals = [a[1] for a in answers if isinstance(a, tuple)]
    assert refusals.count("ValidationException") + refusals.count("ValueError") == 6  # three that do not parse, twice
    assert refusals.count("ConditionalCheckFailedException") == 3
    assert "TransactionCanceledException" in refusals
    assert {"pk": {"S": "d"}, "sk": {"S": "x"}} in items


def _big_items(client: Any) -> list[Any]:
    """42 items of 400,000 bytes: 16.8 MB, more than one BatchGetItem answers (16 MiB)."""
    filler = "x" * 399_980
    for n in range(42):
        client.put_item(TableName="t", Item={"pk": {"S": f"k{n:02d}"}, "sk": {"S": "x"}, "f": {"S": filler}})
    keys = [{"pk": {"S": f"k{n:02d}"}, "sk": {"S": "x"}} for n in range(42)]
    answers = []
    for wanted in (keys, keys[:41], keys[:3]):
        answer = _answer(client.batch_get_item, RequestItems={"t": {"Keys": wanted}})
        got = sorted(item["pk"]["S"] for item in answer["Responses"]["t"])
        assert all(item["f"]["S"] == filler for item in answer["Responses"]["t"])
        answers.append((got, sorted(k["pk"]["S"] for k in answer["UnprocessedKeys"].get("t", {}).get("Keys", []))))
    return answers


def test_a_batch_get_is_cut_at_16_mib_as_moto_does() -> None:
    with moto_quick.as_shipped():
        own, _ = _with_table(_big_items)
    ours, _ = _with_table(_big_items)
    assert ours == own
    (every, left), (forty_one, none_left), (three, _) = own
    assert left and len(every) + len(left) == 42  # measured: over the limit, the rest left for another request
    assert len(forty_one) == 41 and none_left == []
    assert len(three) == 3


def test_request_ids_and_receipt_handles_keep_their_shape_and_moto_s_seed() -> None:
    from moto.moto_api._internal import mock_random

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="hi")
        received = sqs.receive_message(QueueUrl=url)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        request_id = dynamodb.list_tables()["ResponseMetadata"]["RequestId"]
    handle = received["Messages"][0]["ReceiptHandle"]
    assert len(handle) == 185 and set(handle) <= set(string.ascii_lowercase)
    assert len(request_id) == 52 and set(request_id) <= set(string.ascii_letters + string.digits)
    assert len({moto_quick._drawing("ab", 64)() for _ in range(20)}) == 20  # drawn, not fixed

    # And seeding moto's random source fixes them, as it does moto's own
    from moto.utilities.aws_headers import gen_amzn_requestid_long

    mock_random.seed(7)
    first = gen_amzn_requestid_long()
    mock_random.seed(7)
    assert gen_amzn_requestid_long() == first
