"""The typed attributes (chalicelib.models.attributes): whole numbers come back as int, timestamps as aware UTC
datetimes, and both are stored exactly as deployd stored them before, so existing items read unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.aws import client
from chalicelib.models.attributes import IntegerAttribute, IntegerSetAttribute, TimestampAttribute, utc_now
from chalicelib.models.deployment import Deployment
from chalicelib.models.route_mirror_marker import RouteMirrorMarker

# What deployd wrote before typed attributes (datetime.isoformat(timespec="milliseconds") of a UTC instant),
# what Step Functions writes on AWS ($$.State.EnteredTime), and what moto's Step Functions writes.
DEPLOYD_FORM = "2026-11-29T14:47:00.123+00:00"
STEP_FUNCTIONS_FORM = "2026-11-29T14:47:00.123Z"
MOTO_FORM = "2026-11-29T14:47:00.123000+00:00"
INSTANT = datetime(2026, 11, 29, 14, 47, 0, 123000, tzinfo=UTC)


def test_a_whole_number_round_trips_as_an_int() -> None:
    attribute = IntegerAttribute()

    stored = attribute.serialize(1234567890123)
    read = attribute.deserialize(stored)

    assert stored == "1234567890123"
    assert read == 1234567890123 and type(read) is int
    assert attribute.serialize(2.0) == "2"  # a whole float is the same number


@pytest.mark.parametrize("value", [1.5, "7", True, None])
def test_an_integer_attribute_refuses_what_is_not_a_whole_number(value: Any) -> None:
    with pytest.raises(TypeError, match="whole numbers"):
        IntegerAttribute().serialize(value)


def test_a_stored_fraction_is_not_read_as_an_integer() -> None:
    with pytest.raises(TypeError):
        IntegerAttribute().deserialize("1.5")


def test_an_integer_set_round_trips_as_ints_and_refuses_fractions() -> None:
    attribute = IntegerSetAttribute()

    read = attribute.deserialize(attribute.serialize({3, 1, 2}))

    assert read == {1, 2, 3} and all(type(number) is int for number in read)
    with pytest.raises(TypeError):
        attribute.serialize({1, 2.5})


@pytest.mark.parametrize("stored", [DEPLOYD_FORM, STEP_FUNCTIONS_FORM, MOTO_FORM])
def test_deployd_and_step_functions_timestamps_read_as_the_same_aware_utc_instant(stored: str) -> None:
    read = TimestampAttribute().deserialize(stored)

    assert read == INSTANT
    assert read.utcoffset() == timedelta(0)


def test_a_timestamp_is_stored_in_deployds_own_form_byte_for_byte() -> None:
    attribute = TimestampAttribute()

    assert attribute.serialize(INSTANT) == DEPLOYD_FORM
    # the same instant written from another zone, or as a string in Step Functions' form, is normalised
    assert attribute.serialize(INSTANT.astimezone(timezone(timedelta(hours=5, minutes=30)))) == DEPLOYD_FORM
    assert attribute.serialize(STEP_FUNCTIONS_FORM) == DEPLOYD_FORM
    assert TimestampAttribute(timespec="seconds").serialize(INSTANT) == "2026-11-29T14:47:00+00:00"


def test_a_naive_datetime_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="aware"):
        TimestampAttribute().serialize(datetime(2026, 11, 29, 14, 47))


def test_now_is_what_is_stored_so_an_item_written_equals_the_item_read_back() -> None:
    now = utc_now()

    assert TimestampAttribute().deserialize(TimestampAttribute().serialize(now)) == now


def _deployment(**fields: Any) -> Deployment:
    return Deployment(
        id=7,
        project_id=3,
        seq=1,
        org_slug="acme",
        environment="production",
        branch="main",
        commit_sha="0" * 40,
        status="queued",
        **fields,
    )


def test_a_saved_deployment_is_stored_as_before_and_reads_back_ints_and_datetimes(tables: None) -> None:
    # Given a deployment saved with a known creation time
    _deployment(created_at=INSTANT, build_time_seconds=12).save()

    # When it is read back, both through the model and as DynamoDB holds it
    read = Deployment.get(7, consistent_read=True)
    raw = client("dynamodb").get_item(
        TableName=Deployment.Meta.table_name, Key={"id": {"N": "7"}}, ConsistentRead=True
    )["Item"]

    # Then callers get ints and an aware datetime, and the item holds the same text and numbers as before
    assert (type(read.id), type(read.project_id), type(read.seq), type(read.build_time_seconds)) == (int,) * 4
    assert read.created_at == INSTANT
    assert raw["created_at"] == {"S": DEPLOYD_FORM}
    assert raw["seq"] == {"N": "1"} and raw["build_time_seconds"] == {"N": "12"}


def test_an_item_the_state_machine_stamped_reads_as_datetimes(tables: None) -> None:
    # Given a deployment whose updated_at and finished_at Step Functions wrote ($$.State.EnteredTime)
    _deployment(created_at=INSTANT).save()
    client("dynamodb").update_item(
        TableName=Deployment.Meta.table_name,
        Key={"id": {"N": "7"}},
        UpdateExpression="SET updated_at = :now, finished_at = :now",
        ExpressionAttributeValues={":now": {"S": STEP_FUNCTIONS_FORM}},
    )

    # When it is read
    read = Deployment.get(7, consistent_read=True)

    # Then both are the instant Step Functions meant
    assert read.updated_at == read.finished_at == INSTANT


def test_the_route_mirror_marker_keeps_its_whole_second_stamps(tables: None) -> None:
    RouteMirrorMarker(name="route-mirror", checked_at=INSTANT).save()

    raw = client("dynamodb").get_item(
        TableName=RouteMirrorMarker.Meta.table_name, Key={"name": {"S": "route-mirror"}}, ConsistentRead=True
    )["Item"]

    assert raw["checked_at"] == {"S": "2026-11-29T14:47:00+00:00"}
