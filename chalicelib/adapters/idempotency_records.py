"""Idempotency records in DynamoDB, kept by Powertools' idempotency utility (DynamoDBPersistenceLayer on the
catalogue's IDEMPOTENCY table): a record is claimed (IN_PROGRESS) before the work runs, holds the work's result
once it succeeded, and is deleted when the work raised, so a failed attempt leaves nothing behind.

The record's id hashes the `scope` (organization and key); its validation hash is the request's `fingerprint`,
so the same key sent with another request is told apart from a retry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from chalicelib.aws import client
from chalicelib.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from chalicelib.infra.resources import IDEMPOTENCY
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

# Stripe's window: a retry within a day replays; after that the key may be used afresh (and DynamoDB's TTL
# removes the record).
EXPIRES_AFTER_SECONDS = 24 * 3600
KEY_PREFIX = "request"  # record ids read "request#<hash of the scope>", whichever function stored them


class Outcome(NamedTuple):
    """The work's result, and whether it was replayed from the record of an earlier execution."""

    result: dict[str, Any]
    replayed: bool


def _replayed(response: Any, idempotent_data: DataRecord) -> Any:
    """Powertools' response hook: it runs only when a stored result is returned instead of executing."""
    return {**response, "replayed": True}


def once(
    scope: dict[str, str], fingerprint: str, work: Callable[[], dict[str, Any]], lambda_context: Any = None
) -> Outcome:
    """`work()` executed at most once per `scope` within the window; a retry gets its stored result.

    Raises IdempotencyKeyReused when `scope` was used with another fingerprint, IdempotencyKeyInUse while the
    first execution is still running (until the Lambda invocation running it would have timed out, when
    `lambda_context` tells how long that is). Whatever `work` raises propagates, and nothing is stored.
    """
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(
        event_key_jmespath="scope",
        payload_validation_jmespath="fingerprint",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=EXPIRES_AFTER_SECONDS,
        hash_function="sha256",
        lambda_context=lambda_context if hasattr(lambda_context, "get_remaining_time_in_millis") else None,
        response_hook=_replayed,
    )
    store = DynamoDBPersistenceLayer(
        table_name=get_settings().resource_name(IDEMPOTENCY.logical), boto3_client=client("dynamodb")
    )

    @idempotent_function(data_keyword_argument="request", persistence_store=store, config=config, key_prefix=KEY_PREFIX)
    def execute(request: dict[str, Any]) -> dict[str, Any]:
        return {"result": work(), "replayed": False}

    try:
        answer = execute(request={"scope": scope, "fingerprint": fingerprint})
    except IdempotencyValidationError as exc:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with another request (method, path or body); use a new key",
            field="Idempotency-Key",
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        raise IdempotencyKeyInUse(
            "a request with this Idempotency-Key is still executing; retry shortly", field="Idempotency-Key"
        ) from exc
    return Outcome(result=answer["result"], replayed=bool(answer["replayed"]))
