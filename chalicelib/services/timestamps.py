"""How each dialect writes an instant: the one place a stored datetime becomes an API's text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def iso(moment: datetime) -> str: ...
@overload
def iso(moment: datetime | None) -> str | None: ...
def iso(moment: datetime | None) -> str | None:
    """deployd's own APIs (native, admin, Mintlify): ISO-8601 in UTC with an explicit +00:00 offset."""
    return moment.astimezone(UTC).isoformat() if moment else None


def github_time(moment: datetime | None) -> str | None:
    """GitHub's timestamps: UTC to the second, with a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def gitlab_time(moment: datetime | None) -> str | None:
    """GitLab's timestamps: UTC with milliseconds and a Z."""
    if not moment:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
