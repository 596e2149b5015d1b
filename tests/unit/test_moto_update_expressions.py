"""The embedded stack's moto parses each UpdateItem expression text once, checks a tree's structure once per
set of attribute names and table keys, and copies the tree it validates from the tree's pickle
(chalicelib.local.moto_compat.parse_update_expressions_once, check_update_structure_once,
copy_update_trees_from_pickles): every answer, error and stored item is what moto's own path, which parses the
expression twice, checks its structure and deep-copies the tree on every call, gives for the same requests."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.local import moto_compat


@pytest.fixture(autouse=True)
def parsed_once() -> None:
    moto_compat.serialize_dynamodb()
    moto_compat.parse_update_expressions_once()
    moto_compat.parse_update_expressions_once()  # idempotent
    moto_compat.check_update_structure_once()
    moto_compat.check_update_structure_once()  # idempotent
    moto_compat.copy_update_trees_from_pickles()
    moto_compat.copy_update_trees_from_pickles()  # idempotent


@pytest.fixture
def tokenized() -> Iterator[list[str]]:
    """Every expression text moto's update-expression parser tokenizes while the test runs."""
    from moto.dynamodb.parsing.tokens import ExpressionTokenizer

    own = ExpressionTokenizer.__dict__["make_list"]
    texts: list[str] = []

    def counted(cls: Any, expression: str) -> Any:
        texts.append(expression)
        return own.__func__(cls, expression)

    ExpressionTokenizer.make_list = classmethod(counted)  # type: ignore[assignment, method-assign]
    try:
        yield texts
    finally:
        ExpressionTokenizer.make_list = own  # type: ignore[method-assign]


def _own_parser() -> Any:
    """moto's UpdateExpressionParser and validator as moto ships them, parsing and checking every call, while the
    context lasts."""
    import copy

    from moto.dynamodb.parsing import validators
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    class OwnParser:
        def __enter__(self) -> None:
            self.cached = UpdateExpressionParser.__dict__["make"]
            self.checked = UpdateExpressionValidator.__init__, UpdateExpressionValidator.validate
            assert moto_compat._check_structure_each_time is not None
            UpdateExpressionParser.make = moto_compat._parse_update_expression  # type: ignore[method-assign, assignment]
            own_init, own_validate = moto_compat._check_structure_each_time
            UpdateExpressionValidator.__init__ = own_init  # type: ignore[method-assign]
            UpdateExpressionValidator.validate = own_validate  # type: ignore[method-assign]
            self.copied = validators.deepcopy  # type: ignore[attr-defined]
            validators.deepcopy = copy.deepcopy  # type: ignore[attr-defined]

        def __exit__(self, *exc: object) -> None:
            validators.deepcopy = self.copied  # type: ignore[attr-defined]
            UpdateExpressionParser.make = self.cached  # type: ignore[method-assign]
            UpdateExpressionValidator.__init__, UpdateExpressionValidator.validate = self.checked  # type: ignore[method-assign]

    return OwnParser()


def _with_table(requests: Callable[[Any], list[Any]]) -> tuple[list[Any], list[Any]]:
    """(each request's answer or error, the table's items afterwards) on a fresh table."""
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
        )
        answers = requests(client)
        items = sorted(client.scan(TableName="t")["Items"], key=repr)
    return answers, items


def _update(client: Any, key: str, expression: str, **fields: Any) -> Any:
    try:
        answer = client.update_item(
            TableName="t", Key={"pk": {"S": key}, "sk": {"S": "x"}}, UpdateExpression=expression, **fields
        )
    except ClientError as error:
        return (
            "error",
            error.response["Error"]["Code"],
            error.response["Error"]["Message"],
            error.response.get("Item"),
        )
    answer.pop("ResponseMetadata")
    return answer


def _requests(client: Any) -> list[Any]:
    add = "ADD #v :n SET #e = :e"
    names = {"#v": "value", "#e": "expires_at"}
    answers = []
    # ADD on a missing item creates it; the same expression again, with other values, counts on
    for n, expires in (("1", "100"), ("1", "100"), ("-1", "160"), ("5", "220")):
        answers.append(
            _update(
                client,
                "counter",
                add,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={":n": {"N": n}, ":e": {"N": expires}},
                ReturnValues="ALL_NEW",
            )
        )
    answers.append(
        _update(
            client,
            "other",
            add,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":n": {"N": "2"}, ":e": {"N": "1"}},
            ReturnValues="UPDATED_OLD",
        )
    )
    # SET and REMOVE, guarded by conditions that hold and that fail
    answers.append(
        _update(
            client,
            "doc",
            "SET #s = :s, tags = :t",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "queued"}, ":t": {"SS": ["a", "b"]}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    )
    answers.append(
        _update(
            client,
            "doc",
            "SET #s = :s REMOVE tags",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "building"}, ":was": {"S": "queued"}},
            ConditionExpression="#s = :was",
            ReturnValues="ALL_OLD",
        )
    )
    answers.append(
        _update(
            client,
            "doc",
            "SET #s = :s REMOVE tags",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": "ready"}, ":was": {"S": "queued"}},
            ConditionExpression="#s = :was",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    )
    answers.append(
        _update(
            client,
            "doc",
            "SET n = if_not_exists(n, :zero) + :one, l = list_append(if_not_exists(l, :empty), :item)",
            ExpressionAttributeValues={
                ":zero": {"N": "0"},
                ":one": {"N": "1"},
                ":empty": {"L": []},
                ":item": {"L": [{"S": "x"}]},
            },
            ReturnValues="UPDATED_NEW",
        )
    )
    answers.append(_update(client, "doc", "DELETE tags :gone", ExpressionAttributeValues={":gone": {"SS": ["a"]}}))
    # one expression whose names make it update a key attribute only the second time: refused then, as moto does
    for name in ("other", "sk", "other", "sk"):
        answers.append(
            _update(
                client,
                "doc",
                "SET #a = :s",
                ExpressionAttributeNames={"#a": name},
                ExpressionAttributeValues={":s": {"S": "y"}},
            )
        )
    # expressions moto refuses, each time it is asked
    for _ in range(2):
        answers.append(_update(client, "doc", "SET = :s", ExpressionAttributeValues={":s": {"S": "x"}}))
        answers.append(
            _update(client, "doc", "SET a = :s", ExpressionAttributeValues={":s": {"S": "x"}, ":unused": {"S": "y"}})
        )
        answers.append(_update(client, "doc", "SET a = :missing", ExpressionAttributeValues={":s": {"S": "x"}}))
        answers.append(_update(client, "doc", "SET sk = :s", ExpressionAttributeValues={":s": {"S": "y"}}))
        answers.append(_update(client, "doc", "SET a = :s, a = :s", ExpressionAttributeValues={":s": {"S": "y"}}))
        answers.append(
            _update(
                client,
                "doc",
                "ADD #s :n",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":n": {"N": "1"}},
            )
        )
        answers.append(_update(client, "missing", "SET a = b", ReturnValues="ALL_NEW"))
    return answers


def test_answers_errors_and_items_are_moto_s_own() -> None:
    # Given the same requests, made once with moto's own parser and once with each text parsed once
    with _own_parser():
        own = _with_table(_requests)
    # When they are made with the expressions parsed once (twice: the second time every text is already parsed)
    first = _with_table(_requests)
    again = _with_table(_requests)

    # Then every answer, error and stored item is moto's own
    assert first == own
    assert again == own
    answers, items = own
    assert answers[3]["Attributes"]["value"] == {"N": "6"}  # the ADDs counted on a missing item: 1 + 1 - 1 + 5
    assert sum(1 for answer in answers if isinstance(answer, tuple)) >= 16  # the refusals were compared, not skipped
    assert answers[7][1] == "ConditionalCheckFailedException" and answers[7][3]["status"] == {"S": "building"}
    assert {
        "pk": {"S": "doc"},
        "sk": {"S": "x"},
        "status": {"S": "building"},
        "n": {"N": "1"},
        "l": {"L": [{"S": "x"}]},
        "other": {"S": "y"},
    } in items


def test_an_expression_is_tokenized_once_however_often_it_is_used(tokenized: list[str]) -> None:
    expression = f"ADD #v :n SET marker_{uuid.uuid4().hex} = :n"  # a text no other test parsed

    def counted(client: Any) -> list[Any]:
        return [
            _update(
                client,
                "counter",
                expression,
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={":n": {"N": "1"}},
            )
            for _ in range(10)
        ]

    # Given moto's own parser: two parses a call
    with _own_parser():
        _with_table(counted)
    assert tokenized.count(expression) == 20
    tokenized.clear()

    # When the same ten calls are made with the expression parsed once
    _, items = _with_table(counted)

    # Then it was tokenized once, and the ten ADDs all counted
    assert tokenized.count(expression) == 1
    assert items[0]["value"] == {"N": "10"}


def test_an_expression_that_does_not_parse_is_refused_every_time(tokenized: list[str]) -> None:
    expression = f"SET marker_{uuid.uuid4().hex} = = :n"

    def refused(client: Any) -> list[Any]:
        return [_update(client, "k", expression, ExpressionAttributeValues={":n": {"N": "1"}}) for _ in range(3)]

    answers, items = _with_table(refused)

    assert [answer[1] for answer in answers] == ["ValidationException"] * 3
    assert tokenized.count(expression) == 3  # a text that does not parse is not kept
    assert items == []


def test_a_structure_that_passed_is_not_checked_again() -> None:
    from moto.dynamodb.parsing.validators import ActionCountValidator

    expression = f"ADD #v :n SET marker_{uuid.uuid4().hex} = :n"
    checked: list[str] = []
    own = ActionCountValidator.traverse

    def counted(self: Any, node: Any) -> Any:  # one pass over the tree
        checked.append("structure")
        return own(self, node)

    def ten_adds(client: Any) -> list[Any]:
        return [
            _update(
                client,
                "counter",
                expression,
                ExpressionAttributeNames={"#v": "value"},
                ExpressionAttributeValues={":n": {"N": "1"}},
            )
            for _ in range(10)
        ]

    ActionCountValidator.traverse = counted  # type: ignore[method-assign]
    try:
        # Given moto's own validator: the structure checked on every call (twice on the call that creates the item)
        with _own_parser():
            _with_table(ten_adds)
        assert len(checked) == 11
        checked.clear()

        # When the same ten calls are made with the structure checked once
        _, items = _with_table(ten_adds)
    finally:
        ActionCountValidator.traverse = own  # type: ignore[method-assign]

    # Then it was checked once, and the ten ADDs all counted
    assert len(checked) == 1  # the first validation of the first call; the same call validates again without it
    assert items[0]["value"] == {"N": "10"}


def test_a_shared_tree_is_pickled_once_and_each_update_gets_its_own_copy() -> None:
    # Given an expression applied three times (its parsed tree is shared between the calls)
    moto_compat._pickled_trees.clear()

    def requests(client: Any) -> list[Any]:
        return [
            _update(client, "k", "ADD n :one SET s = list_append(if_not_exists(s, :none), :one_list)", **_values())
            for _ in range(3)
        ]

    answers, items = _with_table(requests)

    # Then its tree was pickled once, and each update worked on a copy of its own: the original stays unresolved
    assert len(moto_compat._pickled_trees) == 1
    (tree, _pickle), *_ = moto_compat._pickled_trees.values()
    assert "ExpressionAttributeValue" in {type(node).__name__ for node in _nodes(tree)}
    assert [a["Attributes"]["n"] for a in answers] == [{"N": "1"}, {"N": "2"}, {"N": "3"}]
    assert items[0]["s"] == {"L": [{"N": "1"}, {"N": "1"}, {"N": "1"}]}


def _values() -> dict[str, Any]:
    return {
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":none": {"L": []}, ":one_list": {"L": [{"N": "1"}]}},
        "ReturnValues": "ALL_NEW",
    }


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", None) or []:
        yield from _nodes(child)
