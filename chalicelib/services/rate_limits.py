"""Fixed-window request limits per organization and bucket, counted in DynamoDB.

One atomic UpdateItem (ADD 1) on the registry item `ratelimit#<org>#<bucket>#<window start>` counts a
request and returns the new count, so any number of API instances share one exact counter with no read
first and no Scan. A window's item is never read again once the window has passed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from chalicelib.errors import Forbidden
from chalicelib.models.registry import RegistryEntry

WINDOW_SECONDS = 3600
# Requests per window, by plan and bucket. "anonymous" is the budget of unauthenticated callers (per address).
LIMITS: dict[str, dict[str, int]] = {
    "anonymous": {"core": 60},
    "free": {"core": 1000},
    "pro": {"core": 5000},
    "enterprise": {"core": 15000},
}
DEFAULT_PLAN = "free"


@dataclass(frozen=True)
class RateLimitState:
    """What the caller may still do in the current window; `reset` is the window's end in epoch seconds."""

    limit: int
    remaining: int
    used: int
    reset: int
    bucket: str = "core"

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    def retry_after(self, now: float | None = None) -> int:
        return max(1, self.reset - int(now if now is not None else time.time()))


class RateLimited(Forbidden):
    """Over the limit of the current window (GitHub answers 403 with retry-after)."""

    code = "rate_limited"

    def __init__(self, state: RateLimitState) -> None:
        super().__init__(
            f"API rate limit exceeded: {state.limit} '{state.bucket}' requests per hour; the window resets at "
            f"{state.reset} (epoch seconds)"
        )
        self.state = state


def limit_for(plan: str, bucket: str) -> int:
    limits = LIMITS.get(plan) or LIMITS[DEFAULT_PLAN]
    if bucket not in limits:
        raise KeyError(f"no rate limit is defined for bucket '{bucket}' on plan '{plan}'")
    return limits[bucket]


def window_start(now: float, window_seconds: int = WINDOW_SECONDS) -> int:
    return int(now // window_seconds) * window_seconds


def counter_name(org_slug: str, bucket: str, start: int) -> str:
    return f"ratelimit#{org_slug}#{bucket}#{start}"


def consume(org_slug: str, plan: str, bucket: str, now: float | None = None) -> RateLimitState:
    """Count one request of `org_slug` against `bucket` and say where the window stands.

    The request is counted even when it is over the limit (the caller then refuses it with `check`), so
    `used` is every request of the window, refused ones included.
    """
    limit = limit_for(plan, bucket)
    start = window_start(time.time() if now is None else now)
    counter = RegistryEntry(name=counter_name(org_slug, bucket, start))
    # Kept one window past its end, then DynamoDB's TTL removes it.
    counter.update(actions=[RegistryEntry.value.add(1), RegistryEntry.expires_at.set(start + 2 * WINDOW_SECONDS)])
    count = int(counter.value)
    return RateLimitState(
        limit=limit,
        remaining=max(0, limit - count),
        used=count,
        reset=start + WINDOW_SECONDS,
        bucket=bucket,
    )


def check(state: RateLimitState) -> RateLimitState:
    """Raise RateLimited when the request that produced `state` is over the limit."""
    if state.exceeded:
        raise RateLimited(state)
    return state
