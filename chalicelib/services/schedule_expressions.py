"""Schedule expressions in Amazon EventBridge's two forms, evaluated in UTC: `rate(5 minutes)` and
`cron(0 3 * * ? *)`. Parsed here rather than by a library so the accepted grammar is exactly EventBridge's
(six fields, `?` in day-of-month or day-of-week, 1 = SUN) and a project's schedule means the same on AWS
and in the embedded stack."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from chalicelib.errors import InvalidInput
from chalicelib.services.integers import ascii_integer

FIELD = "preview_rebuild_schedule"

_RATE = re.compile(r"^rate\(\s*([0-9]+)\s+(minute|minutes|hour|hours|day|days)\s*\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# A rate is at most a year: a schedule that fires less often is no schedule a preview needs, and the bound
# keeps every rate a number the clock arithmetic can take (rate(99999999999999999999 days) overflowed).
_RATE_LIMIT = {"minute": 365 * 24 * 60, "hour": 365 * 24, "day": 365}
_MONTHS = {name: i + 1 for i, name in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split())}
_DAYS = {name: i + 1 for i, name in enumerate("SUN MON TUE WED THU FRI SAT".split())}
_YEARS = (1970, 2199)


def _invalid(expression: str, why: str) -> InvalidInput:
    return InvalidInput(
        f"'{expression}' is not a schedule expression: {why}. Use rate(<n> minutes|hours|days) or "
        "cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>), as in Amazon EventBridge",
        field=FIELD,
    )


class Rate(NamedTuple):
    every: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.every


class Cron(NamedTuple):
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int] | None  # None: `?`, the day of the week decides
    months: frozenset[int]
    days_of_week: frozenset[int] | None  # 1 = Sunday ... 7 = Saturday; None: `?`
    years: frozenset[int]

    def _day_matches(self, day: datetime) -> bool:
        if self.days_of_month is not None:
            return day.day in self.days_of_month
        assert self.days_of_week is not None
        return (day.weekday() + 1) % 7 + 1 in self.days_of_week

    def next_after(self, moment: datetime) -> datetime | None:
        """The first firing time strictly after `moment`, or None if the expression never fires again."""
        t = moment.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        last_year = max(self.years)
        while t.year <= last_year:
            if t.year not in self.years:
                t = datetime(t.year + 1, 1, 1, tzinfo=UTC)
            elif t.month not in self.months:
                t = datetime(t.year + (t.month == 12), t.month % 12 + 1, 1, tzinfo=UTC)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        return None


Schedule = Rate | Cron


def _values(expression: str, text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    def number(token: str) -> int:
        if names and token.upper() in names:
            return names[token.upper()]
        value = ascii_integer(token, digits=4)
        if value is None:
            raise _invalid(expression, f"'{token}' is not a value between {low} and {high}")
        if not low <= value <= high:
            raise _invalid(expression, f"{value} is outside {low}-{high}")
        return value

    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            increment = ascii_integer(step_text, digits=4)
            if increment is None or increment < 1:
                raise _invalid(expression, f"'{item}' has an invalid increment")
            step = increment
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = number(first), number(last)
            if start > end:
                raise _invalid(expression, f"'{item}' is a decreasing range")
        else:
            start = number(base)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse(expression: str) -> Schedule:
    """A schedule; InvalidInput (field preview_rebuild_schedule) for anything EventBridge would not accept
    or deployd does not support (the `L`, `W` and `#` day operators)."""
    text = expression.strip()
    rate = _RATE.match(text)
    if rate:
        digits, unit = rate.group(1), rate.group(2).rstrip("s")
        value = int(digits) if len(digits) <= 9 else _RATE_LIMIT[unit] + 1
        if not 1 <= value <= _RATE_LIMIT[unit]:
            raise _invalid(expression, f"the rate must be a whole number of {unit}s from 1 to {_RATE_LIMIT[unit]}")
        return Rate(timedelta(seconds=value * _UNIT_SECONDS[unit]))
    cron = _CRON.match(text)
    if not cron:
        raise _invalid(expression, "it is neither rate(...) nor cron(...)")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise _invalid(expression, f"cron takes 6 fields, not {len(fields)}")
    minute, hour, dom, month, dow, year = fields
    dow_numbers = re.sub("|".join(_DAYS), "1", dow.upper())  # WED has a W, it is not the W operator
    if any(op in f for f in (dom.upper(), dow_numbers) for op in ("L", "W", "#")):
        raise _invalid(expression, "the L, W and # day operators are not supported")
    if (dom == "?") == (dow == "?"):
        raise _invalid(expression, "exactly one of day-of-month and day-of-week must be '?'")
    parsed = Cron(
        minutes=_values(expression, minute, 0, 59),
        hours=_values(expression, hour, 0, 23),
        days_of_month=None if dom == "?" else _values(expression, dom, 1, 31),
        months=_values(expression, month, 1, 12, _MONTHS),
        days_of_week=None if dow == "?" else _values(expression, dow, 1, 7, _DAYS),
        years=_values(expression, year, *_YEARS),
    )
    if parsed.next_after(datetime(_YEARS[0], 1, 1, tzinfo=UTC)) is None:
        raise _invalid(expression, "it never fires")
    return parsed


def validate(expression: str | None) -> str | None:
    """The expression, normalised (surrounding blanks dropped), if it parses; None stays None."""
    if expression is None:
        return None
    parse(expression)
    return expression.strip()
