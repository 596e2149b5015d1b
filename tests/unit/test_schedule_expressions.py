"""EventBridge schedule expressions: what fires when, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.errors import InvalidInput
from chalicelib.services.schedule_expressions import parse, validate

FRIDAY_NOON = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # a Friday


@pytest.mark.parametrize(
    ("expression", "every"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(30 minutes)", timedelta(minutes=30)),
        ("rate(2 days)", timedelta(days=2)),
    ],
)
def test_rate_fires_at_its_interval(expression: str, every: timedelta) -> None:
    assert parse(expression).next_after(FRIDAY_NOON) == FRIDAY_NOON + every


def test_weekday_cron_skips_the_weekend() -> None:
    schedule = parse("cron(0 3 ? * MON-FRI *)")
    # Friday noon → Monday 03:00, not Saturday or Sunday
    assert schedule.next_after(FRIDAY_NOON) == datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_cron_day_of_week_counts_sunday_as_one() -> None:
    assert parse("cron(30 6 ? * 1 *)").next_after(FRIDAY_NOON) == datetime(2026, 11, 22, 6, 30, tzinfo=UTC)


def test_cron_fires_strictly_after_the_given_moment() -> None:
    schedule = parse("cron(0 12 * * ? *)")
    assert schedule.next_after(FRIDAY_NOON) == FRIDAY_NOON + timedelta(days=1)


@pytest.mark.parametrize(
    "expression",
    [
        "every tuesday",
        "rate(0 minutes)",
        "rate(5 fortnights)",
        "cron(0 3 * * *)",  # five fields: Unix cron, not EventBridge
        "cron(0 3 * * MON *)",  # day-of-month and day-of-week both given
        "cron(61 3 ? * MON *)",
        "cron(0 0 30 2 ? *)",  # the 30th of February: never fires
        # numbers out of any bound: the overflow of issue 9, a rate over a year, negative, fractional, non-ASCII
        "rate(99999999999999999999 days)",
        "rate(366 days)",
        "rate(8761 hours)",
        "rate(525601 minutes)",
        "rate(-1 minutes)",
        "rate(1.5 hours)",
        "rate(\u0663 days)",  # an Arabic-Indic three
        "cron(\u00b2 * * * ? *)",  # a superscript two: str.isdigit() says yes, int() says no
        "cron(0 3 ? * MON 99999999999999999999)",
        "cron(0/99999999999999999999 * * * ? *)",
        "cron(0/\u00b2 * * * ? *)",
    ],
)
def test_invalid_expressions_are_refused_naming_the_field(expression: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        validate(expression)
    assert refused.value.field == "preview_rebuild_schedule"


@pytest.mark.parametrize(
    ("expression", "every"),
    [
        ("rate(365 days)", timedelta(days=365)),
        ("rate(8760 hours)", timedelta(days=365)),
        ("rate(525600 minutes)", timedelta(days=365)),
    ],
)
def test_a_rate_of_up_to_a_year_is_accepted(expression: str, every: timedelta) -> None:
    assert parse(expression).next_after(FRIDAY_NOON) == FRIDAY_NOON + every


def test_no_schedule_is_valid() -> None:
    assert validate(None) is None
