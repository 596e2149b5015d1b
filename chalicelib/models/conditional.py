"""Conditional writes: the one place that knows how DynamoDB refuses a write whose condition does not hold.

A single-item write answers True (written) or False (its condition did not hold: another writer got there
first). A write transaction raises ConditionFailed instead, naming which of its writes found the item changed.
Every other refusal propagates.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.errors import ConditionFailed
from chalicelib.models.base import transaction

# The error code of a single write whose condition did not hold, and the cancellation reason of a
# transaction's write whose condition did not hold.
_CONDITION_FAILED = "ConditionalCheckFailedException"
_CONDITION_FAILED_REASON = "ConditionalCheckFailed"
# The same refusal as Step Functions names it to a Catch clause of a state machine's DynamoDB task.
STATES_CONDITION_FAILED = f"DynamoDB.{_CONDITION_FAILED}"
# Cancellation reasons that say nothing about our conditions: another writer held an item, or DynamoDB was busy.
_RETRYABLE = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


class TransactionFailed(Exception):
    """DynamoDB refused a write transaction for another reason than a condition; nothing was written.

    `reasons` holds the cancellation reason of each cancelled write (e.g. TransactionConflict once the retries
    are spent), empty when DynamoDB refused the request as a whole; `detail` is DynamoDB's own message.
    """

    def __init__(self, reasons: Sequence[str], detail: str) -> None:
        super().__init__(detail)
        self.reasons = tuple(reasons)
        self.detail = detail

    @property
    def cancelled(self) -> bool:
        """True when DynamoDB cancelled the transaction (rather than refusing the request as malformed)."""
        return bool(self.reasons)


def unchanged(attribute: Any, previous: Any) -> Condition:
    """The attribute still holds what was read (`previous`; None: it was not set): a compare-and-set's condition."""
    return attribute.does_not_exist() if previous is None else attribute == previous


def try_update(item: Model, actions: Sequence[Action], condition: Condition) -> bool:
    """Apply `actions` to the item only if `condition` holds; False when it did not."""
    return _written(functools.partial(item.update, actions=list(actions), condition=condition))


def try_save(item: Model, condition: Condition) -> bool:
    """Put the whole item only if `condition` holds; False when it did not."""
    return _written(functools.partial(item.save, condition=condition))


def try_delete(item: Model, condition: Condition) -> bool:
    """Delete the item only if `condition` holds; False when it did not."""
    return _written(functools.partial(item.delete, condition=condition))


def _written(write: Callable[[], object]) -> bool:
    try:
        write()
    except (UpdateError, PutError, DeleteError) as exc:
        if exc.cause_response_code == _CONDITION_FAILED:
            return False
        raise
    return True


def transact(write: Callable[[TransactWrite], None], attempts: int = 5) -> None:
    """Run one write transaction built by `write`: all of its writes happen, or none.

    DynamoDB cancels a transaction that touches an item another transaction is writing at that moment
    (TransactionConflict); that says nothing about our conditions, so it is retried with jittered backoff.
    A failed condition is never retried: ConditionFailed, whose `failed` holds the positions (in the order
    `write` added them) of the writes whose condition did not hold; the caller decides what it means.
    Any other refusal, or a conflict that outlasts the retries, is TransactionFailed.
    """
    for attempt in range(attempts):
        tx = transaction()
        try:
            with tx:
                write(tx)
            return
        except TransactWriteError as exc:
            codes = [reason.code if reason is not None else None for reason in exc.cancellation_reasons or []]
            # DynamoDB's reasons follow the order the writes were sent in, which PynamoDB groups by kind.
            failed = [tx.added_position(sent) for sent, code in enumerate(codes) if code == _CONDITION_FAILED_REASON]
            if failed:
                raise ConditionFailed(failed=failed) from exc
            reasons = [code for code in codes if code]
            if attempt == attempts - 1 or not set(reasons) & _RETRYABLE:
                raise TransactionFailed(reasons, exc.cause_response_message or str(exc)) from exc
            time.sleep(random.uniform(0, 0.02 * 2**attempt))
