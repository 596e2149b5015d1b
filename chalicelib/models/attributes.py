"""Typed attributes: whole numbers come back as int and timestamps as aware UTC datetimes.

Both store exactly what deployd stored before them (a DynamoDB number; an ISO-8601 string with milliseconds
and an explicit +00:00 offset), so existing items read unchanged and key conditions compare as before.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.constants import NUMBER, NUMBER_SET, STRING


class IntegerAttribute(Attribute[int]):
    """A DynamoDB number that holds a whole number: ids, foreign ids, sequence numbers, counters."""

    attr_type = NUMBER

    def serialize(self, value: Any) -> str:
        return json.dumps(_whole(value))

    def deserialize(self, value: str) -> int:
        return _whole(json.loads(value))


class IntegerSetAttribute(Attribute[set[int]]):
    """A DynamoDB number set that holds whole numbers (e.g. the ids of a set of deployments); empty is absent."""

    attr_type = NUMBER_SET
    null = True

    def serialize(self, value: Any) -> list[str] | None:
        return [json.dumps(_whole(number)) for number in value] or None

    def deserialize(self, value: list[str]) -> set[int]:
        return {_whole(json.loads(number)) for number in value}


def _whole(value: Any) -> int:
    # bool is an int to Python, never a count to us; a float is taken only when it is whole (2.0 is 2).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an integer attribute holds whole numbers only, not {value!r}")
    return value


class TimestampAttribute(Attribute[datetime]):
    """An instant, stored as deployd always stored it: ISO-8601 in UTC, milliseconds, "+00:00".

    Reads deployd's own form and what Step Functions writes into items ($$.State.EnteredTime: "...Z" on AWS,
    "+00:00" with microseconds from moto) and gives an aware UTC datetime with the precision stored.
    Writes accept an aware datetime or either stored form as a string, normalised.
    """

    attr_type = STRING

    def __init__(self, *, timespec: str = "milliseconds", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timespec = timespec  # the route mirror's marker has always stored whole seconds

    def serialize(self, value: datetime | str) -> str:
        return format_timestamp(parse_timestamp(value) if isinstance(value, str) else value, self.timespec)

    def deserialize(self, value: str) -> datetime:
        return parse_timestamp(value)


def parse_timestamp(value: str) -> datetime:
    """An aware UTC datetime from deployd's or Step Functions' ISO-8601 form (one without an offset is UTC)."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_timestamp(moment: datetime, timespec: str = "milliseconds") -> str:
    """The stored form: "2026-11-29T14:47:00.123+00:00". A naive datetime is refused: its zone is a guess."""
    if moment.tzinfo is None:
        raise ValueError(f"a timestamp is an aware datetime, not {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec=timespec)


def utc_now() -> datetime:
    """Now, to the millisecond: what is stored, so an item just written equals the same item read back."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond - now.microsecond % 1000)
