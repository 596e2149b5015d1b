"""The conditional-write primitive (chalicelib.models.conditional) against moto's in-process DynamoDB:
a write whose condition does not hold changes nothing and says so, a transaction is all or nothing, and
only contention is retried."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pynamodb.connection import Connection
from pynamodb.exceptions import CancellationReason, DoesNotExist, TransactWriteError, UpdateError, VerboseClientError
from pynamodb.transactions import TransactWrite

import chalicelib
from chalicelib.errors import ConditionFailed, Conflict
from chalicelib.models.conditional import (
    TransactionFailed,
    transact,
    try_delete,
    try_save,
    try_update,
    unchanged,
)
from chalicelib.models.registry import RegistryEntry


def _stored(name: str) -> RegistryEntry | None:
    try:
        return RegistryEntry.get(name, consistent_read=True)
    except DoesNotExist:
        return None


def test_an_update_is_applied_only_while_its_condition_holds(tables: None) -> None:
    # Given an entry holding 1
    RegistryEntry(name="counter", value=1).save()

    # When it is updated on the condition that it still holds 1, then again on the same (now stale) condition
    first = try_update(RegistryEntry(name="counter"), [RegistryEntry.value.set(2)], RegistryEntry.value == 1)
    second = try_update(RegistryEntry(name="counter"), [RegistryEntry.value.set(3)], RegistryEntry.value == 1)

    # Then the first is written and the second refused without a trace
    assert (first, second) == (True, False)
    stored = _stored("counter")
    assert stored is not None and stored.value == 2


def test_a_compare_and_set_from_what_was_read_lets_one_of_two_readers_win(tables: None) -> None:
    # Given an entry whose owner is not set yet, read by two claimants
    RegistryEntry(name="slot", value=0).save()
    first_read, second_read = _stored("slot"), _stored("slot")
    assert first_read is not None and second_read is not None and first_read.owner is None

    # When each sets the owner on the condition that it is still what that claimant read
    first = try_update(
        RegistryEntry(name="slot"), [RegistryEntry.owner.set("a")], unchanged(RegistryEntry.owner, first_read.owner)
    )
    second = try_update(
        RegistryEntry(name="slot"), [RegistryEntry.owner.set("b")], unchanged(RegistryEntry.owner, second_read.owner)
    )
    # And a third, having read the new owner, moves it on
    third_read = _stored("slot")
    assert third_read is not None
    third = try_update(
        RegistryEntry(name="slot"), [RegistryEntry.owner.set("c")], unchanged(RegistryEntry.owner, third_read.owner)
    )

    # Then the first and third win, and the stale second changes nothing
    assert (first, second, third) == (True, False, True)
    stored = _stored("slot")
    assert stored is not None and stored.owner == "c"


def test_an_update_gives_the_item_its_written_values(tables: None) -> None:
    # Given an entry holding 5
    RegistryEntry(name="seq", value=5).save()

    # When an ADD is applied through the primitive
    holder = RegistryEntry(name="seq")
    assert try_update(holder, [RegistryEntry.value.add(1)], RegistryEntry.name.exists())

    # Then the caller's item carries the stored result, as PynamoDB's own update does
    assert holder.value == 6


def test_a_save_that_must_not_overwrite_keeps_the_first_item(tables: None) -> None:
    # Given a claim saved on the condition that none exists yet
    assert try_save(RegistryEntry(name="claim", owner="first"), RegistryEntry.name.does_not_exist())

    # When a second writer claims the same name on the same condition
    second = try_save(RegistryEntry(name="claim", owner="second"), RegistryEntry.name.does_not_exist())

    # Then it is refused and the first claim stands
    assert second is False
    stored = _stored("claim")
    assert stored is not None and stored.owner == "first"


def test_a_delete_happens_only_while_its_condition_holds(tables: None) -> None:
    # Given an entry owned by "acme"
    RegistryEntry(name="key", owner="acme").save()

    # When another owner deletes it, then its owner does
    by_other = try_delete(RegistryEntry(name="key"), RegistryEntry.owner == "globex")
    kept = _stored("key")
    by_owner = try_delete(RegistryEntry(name="key"), RegistryEntry.owner == "acme")

    # Then only the owner's delete happens
    assert (by_other, by_owner) == (False, True)
    assert kept is not None and kept.owner == "acme"
    assert _stored("key") is None


def test_a_refusal_other_than_a_failed_condition_is_raised(aws: Any) -> None:
    # Given no tables at all
    # When an update is attempted
    # Then DynamoDB's refusal (the table does not exist) reaches the caller instead of reading as "condition failed"
    with pytest.raises(UpdateError) as raised:
        try_update(RegistryEntry(name="missing"), [RegistryEntry.value.set(1)], RegistryEntry.name.exists())
    assert raised.value.cause_response_code == "ResourceNotFoundException"


def test_a_transaction_whose_condition_fails_writes_nothing_and_names_the_failed_write(tables: None) -> None:
    # Given a counter at its limit of 1
    RegistryEntry(name="slots", value=1).save()

    # When one transaction puts a new entry and takes a slot only while fewer than 1 are taken
    def take(tx: TransactWrite) -> None:
        tx.save(RegistryEntry(name="holder", owner="d1"), condition=RegistryEntry.name.does_not_exist())
        tx.update(RegistryEntry(name="slots"), actions=[RegistryEntry.value.add(1)], condition=RegistryEntry.value < 1)

    with pytest.raises(ConditionFailed) as raised:
        transact(take)

    # Then it is refused as a conflict naming its second write, and neither write happened
    assert isinstance(raised.value, Conflict)
    assert raised.value.failed == {1}
    assert _stored("holder") is None
    stored = _stored("slots")
    assert stored is not None and stored.value == 1


def test_a_refused_write_is_named_by_the_position_it_was_added_in_whatever_its_kind(tables: None) -> None:
    # Given a counter at its limit of 1
    RegistryEntry(name="slots", value=1).save()

    # When one transaction first takes a slot (an update), then puts a new entry and deletes an absent one
    # (PynamoDB sends deletes first, then puts, then updates)
    def take(tx: TransactWrite) -> None:
        tx.update(RegistryEntry(name="slots"), actions=[RegistryEntry.value.add(1)], condition=RegistryEntry.value < 1)
        tx.save(RegistryEntry(name="holder", owner="d1"), condition=RegistryEntry.name.does_not_exist())
        tx.delete(RegistryEntry(name="absent"))

    with pytest.raises(ConditionFailed) as raised:
        transact(take)

    # Then the refusal names the update, the first write the transaction was given
    assert raised.value.failed == {0}
    assert _stored("holder") is None


def test_a_transaction_whose_conditions_hold_writes_everything(tables: None) -> None:
    # Given nothing stored
    # When one transaction writes two entries
    def write(tx: TransactWrite) -> None:
        tx.save(RegistryEntry(name="a", owner="x"), condition=RegistryEntry.name.does_not_exist())
        tx.save(RegistryEntry(name="b", owner="y"), condition=RegistryEntry.name.does_not_exist())

    transact(write)

    # Then both are stored
    assert [e.owner if e else None for e in (_stored("a"), _stored("b"))] == ["x", "y"]


def _cancelled(*codes: str | None) -> TransactWriteError:
    """DynamoDB's TransactionCanceledException in the shape PynamoDB raises it."""
    error = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": f"Transaction cancelled {list(codes)}"}},
        "TransactWriteItems",
        cancellation_reasons=[None if code is None else CancellationReason(code=code) for code in codes],
    )
    return TransactWriteError("Failed to write transaction items", error)


@pytest.fixture
def refuse_transactions(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[int]]:
    """Makes the next transactions fail with the given errors, one per attempt, then reach moto again;
    returns the list that counts the attempts."""

    def install(*errors: TransactWriteError) -> list[int]:
        pending = list(errors)
        attempts: list[int] = []
        original = Connection.transact_write_items

        def refusing(self: Connection, **kwargs: Any) -> Any:
            attempts.append(1)
            if pending:
                raise pending.pop(0)
            return original(self, **kwargs)

        monkeypatch.setattr(Connection, "transact_write_items", refusing)
        return attempts

    return install


def _save_entry(tx: TransactWrite) -> None:
    tx.save(RegistryEntry(name="entry", owner="me"), condition=RegistryEntry.name.does_not_exist())


def test_a_transaction_that_meets_another_writer_is_retried_until_it_goes_through(
    tables: None, refuse_transactions: Callable[..., list[int]]
) -> None:
    # Given DynamoDB cancels the first two attempts because another transaction holds the item
    attempts = refuse_transactions(_cancelled("TransactionConflict"), _cancelled(None, "TransactionConflict"))

    # When the transaction runs
    transact(_save_entry)

    # Then the third attempt writes it
    assert len(attempts) == 3
    stored = _stored("entry")
    assert stored is not None and stored.owner == "me"


def test_a_conflict_that_outlasts_the_retries_is_a_cancelled_transaction(
    tables: None, refuse_transactions: Callable[..., list[int]]
) -> None:
    # Given DynamoDB cancels every attempt for a conflict
    attempts = refuse_transactions(*[_cancelled("TransactionConflict") for _ in range(10)])

    # When the transaction runs with three attempts
    with pytest.raises(TransactionFailed) as raised:
        transact(_save_entry, attempts=3)

    # Then it gives up after the third, reporting a cancellation (not a failed condition), and nothing is written
    assert len(attempts) == 3
    assert raised.value.cancelled and raised.value.reasons == ("TransactionConflict",)
    assert not isinstance(raised.value, Conflict)
    assert _stored("entry") is None


def test_a_failed_condition_is_never_retried_even_beside_a_conflict(
    tables: None, refuse_transactions: Callable[..., list[int]]
) -> None:
    # Given DynamoDB cancels a transaction for a failed condition on one write and a conflict on another
    attempts = refuse_transactions(_cancelled("TransactionConflict", "ConditionalCheckFailed"))

    # When it runs
    with pytest.raises(ConditionFailed) as raised:
        transact(_save_entry)

    # Then it is tried once and refused naming the write whose condition failed
    assert len(attempts) == 1
    assert raised.value.failed == {1}


def test_a_transaction_refused_as_a_whole_is_not_a_cancellation(tables: None) -> None:
    # Given a transaction that writes the same item twice, which DynamoDB refuses outright
    def twice(tx: TransactWrite) -> None:
        tx.save(RegistryEntry(name="same", owner="a"))
        tx.update(RegistryEntry(name="same"), actions=[RegistryEntry.owner.set("b")])

    # When it runs
    with pytest.raises(TransactionFailed) as raised:
        transact(twice)

    # Then it fails with DynamoDB's own reason and no cancellation reasons, having written nothing
    assert not raised.value.cancelled
    assert "multiple operations on one item" in raised.value.detail, raised.value.detail
    assert _stored("same") is None


def test_only_the_primitive_decodes_a_refused_write() -> None:
    # Given every module of chalicelib
    package = Path(chalicelib.__file__).parent
    primitive = package / "models" / "conditional.py"
    decoding = re.compile(
        r"\b(UpdateError|PutError|DeleteError|TransactWriteError|cause_response_code|cancellation_reasons)\b"
    )

    # Then none but the primitive decodes PynamoDB's write errors or names DynamoDB's code for a failed condition;
    # the state machine's Catch clauses name Step Functions' error for it, which is not PynamoDB's to decode
    offenders = []
    for module in sorted(package.rglob("*.py")):
        if module == primitive:
            continue
        text = module.read_text()
        named = (
            text.replace('"DynamoDB.ConditionalCheckFailedException"', "")
            if module.name == "state_machine.py"
            else text
        )
        if decoding.search(text) or "ConditionalCheckFailed" in named:
            offenders.append(str(module.relative_to(package)))
    assert offenders == []
