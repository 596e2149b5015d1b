"""Fixed-window request limits per organization and bucket, counted in DynamoDB.

One atomic UpdateItem (ADD 1) on the registry item `ratelimit#<org>#<bucket>#<window start>` counts a
request and returns the new count, so any number of API instances share one exact counter with no read
first and no Scan. A window's item is never read again once the window has passed. Each bucket has its
own window length: GitHub's "core" and the general "api" bucket are hourly, trigger buckets per minute.
"""

# Annotations are evaluated, not postponed: every cold start makes this module's NamedTuples, and a field annotated
# by a string compiles that string when its class is made.
import time
from typing import NamedTuple

from chalicelib import concurrency, errors
from chalicelib.models.organization import OrganizationRepository
from chalicelib.models.registry import RegistryEntry

HOUR = 3600
MINUTE = 60
WINDOW_SECONDS = HOUR  # the GitHub dialect's "core" window; kept for callers that name it

# Window length of each bucket, in seconds.
WINDOWS: dict[str, int] = {
    "core": HOUR,  # every GitHub-dialect request
    "api": HOUR,  # every native and Mintlify request that triggers nothing
    "previews": MINUTE,  # preview triggers (Mintlify and native) and Mintlify's production update
    "triggers": MINUTE,  # native deployment triggers
}
# Requests per window, by plan and bucket: the one table to change a plan's limits.
# "anonymous" is the budget of unauthenticated callers (per address).
LIMITS: dict[str, dict[str, int]] = {
    "anonymous": {"core": 60},
    "free": {"core": 1000, "api": 5000, "previews": 5, "triggers": 10},
    "pro": {"core": 5000, "api": 10000, "previews": 5, "triggers": 30},
    "enterprise": {"core": 15000, "api": 50000, "previews": 5, "triggers": 120},
}
DEFAULT_PLAN = "free"


class RateLimitState(NamedTuple):
    """What the caller may still do in the current window; `reset` is the window's end in epoch seconds."""

    limit: int
    remaining: int
    used: int
    reset: int
    bucket: str = "core"
    window_seconds: int = HOUR

    @property
    def exceeded(self) -> bool:
        return self.used > self.limit

    @property
    def window_start(self) -> int:
        return self.reset - self.window_seconds

    def retry_after(self, now: float | None = None) -> int:
        return max(1, self.reset - int(now if now is not None else time.time()))


def _per(window_seconds: int) -> str:
    return {HOUR: "per hour", MINUTE: "per minute"}.get(window_seconds, f"per {window_seconds} seconds")


class RateLimited(errors.RateLimited):
    """Over the limit of the current window, with the window's standing (for the response's headers)."""

    def __init__(self, state: RateLimitState) -> None:
        super().__init__(
            f"API rate limit exceeded: {state.limit} '{state.bucket}' requests {_per(state.window_seconds)}; "
            f"the window resets at {state.reset} (epoch seconds)",
            retry_after=state.retry_after(),
        )
        self.state = state


def limit_for(plan: str, bucket: str) -> int:
    limits = LIMITS.get(plan) or LIMITS[DEFAULT_PLAN]
    if bucket not in limits:
        raise KeyError(f"no rate limit is defined for bucket '{bucket}' on plan '{plan}'")
    return limits[bucket]


def window_for(bucket: str) -> int:
    return WINDOWS.get(bucket, HOUR)


def window_start(now: float, window_seconds: int = WINDOW_SECONDS) -> int:
    return int(now // window_seconds) * window_seconds


def counter_name(org_slug: str, bucket: str, start: int) -> str:
    return f"ratelimit#{org_slug}#{bucket}#{start}"


def _state(limit: int, count: int, bucket: str, start: int, window: int) -> RateLimitState:
    return RateLimitState(
        limit=limit,
        remaining=max(0, limit - count),
        used=count,
        reset=start + window,
        bucket=bucket,
        window_seconds=window,
    )


def consume(org_slug: str, plan: str, bucket: str, now: float | None = None) -> RateLimitState:
    """Count one request of `org_slug` against `bucket` and say where the window stands.

    The request is counted even when it is over the limit (the caller then refuses it with `check`), so
    `used` is every request of the window, refused ones included.
    """
    limit = limit_for(plan, bucket)
    return _state(limit, *_count(org_slug, bucket, now))


def _count(org_slug: str, bucket: str, now: float | None) -> tuple[int, str, int, int]:
    """One atomic ADD 1 on the window's counter: (the new count, the bucket, the window's start, its length)."""
    window = window_for(bucket)
    start = window_start(time.time() if now is None else now, window)
    counter = RegistryEntry(name=counter_name(org_slug, bucket, start))
    # Kept one window past its end, then DynamoDB's TTL removes it.
    counter.update(actions=[RegistryEntry.value.add(1), RegistryEntry.expires_at.set(start + 2 * window)])
    return counter.value, bucket, start, window


def peek(org_slug: str, plan: str, bucket: str, now: float | None = None) -> RateLimitState:
    """Where the window stands, without counting a request (for responses that consumed nothing)."""
    limit = limit_for(plan, bucket)
    window = window_for(bucket)
    start = window_start(time.time() if now is None else now, window)
    try:
        count = RegistryEntry.get(counter_name(org_slug, bucket, start), consistent_read=True).value or 0
    except RegistryEntry.DoesNotExist:
        count = 0
    return _state(limit, count, bucket, start, window)


def refund(org_slug: str, state: RateLimitState) -> RateLimitState:
    """Give back the request counted in `state` (it was refused after counting): one atomic ADD -1."""
    counter = RegistryEntry(name=counter_name(org_slug, state.bucket, state.window_start))
    counter.update(actions=[RegistryEntry.value.add(-1)])
    return _state(state.limit, counter.value, state.bucket, state.window_start, state.window_seconds)


def check(state: RateLimitState) -> RateLimitState:
    """Raise RateLimited when the request that produced `state` is over the limit."""
    if state.exceeded:
        raise RateLimited(state)
    return state


def plan_of(org_slug: str) -> str:
    return str(OrganizationRepository.get(org_slug).plan)


def admit(org_slug: str, bucket: str, now: float | None = None, plan: str | None = None) -> RateLimitState:
    """Count one request of the organization against its plan's budget in `bucket`; RateLimited when over.

    `plan`: the organization's plan when the caller knows it (an API key carries it); else it is read. The count
    does not depend on the plan, so the ADD and that read go out together: one round trip of waiting instead of
    two, and the count is as exact as ever (the ADD is atomic; only the comparison waits)."""
    limit_for(DEFAULT_PLAN, bucket)  # an unknown bucket counts nothing
    if plan is None:
        counted, known = concurrency.both(lambda: _count(org_slug, bucket, now), lambda: plan_of(org_slug))
    else:
        counted, known = _count(org_slug, bucket, now), plan
    count, bucket, start, window = counted
    return check(_state(limit_for(known, bucket), count, bucket, start, window))


class Admission:
    """One request being counted against its organization's plan (as `admit` counts it), its verdict due at
    `result()`: the ADD and the read of the plan go out on the shared pool while the caller gets on with its own
    reads; the count stays exact (the ADD is atomic), only the comparison with the plan's limit waits."""

    def __init__(self, org_slug: str, bucket: str, now: float | None, plan: str | None) -> None:
        limit_for(DEFAULT_PLAN, bucket)  # an unknown bucket counts nothing
        self._plan = plan if plan is not None else concurrency.start(lambda: plan_of(org_slug))
        self._count = concurrency.start(lambda: _count(org_slug, bucket, now))

    def result(self) -> RateLimitState:
        """The window's standing with this request counted; RateLimited when over the plan's limit."""
        counted = self._count.result()  # waited for first: the count is made even when the plan read fails
        count, bucket, start, window = counted
        plan = self._plan if isinstance(self._plan, str) else self._plan.result()
        return check(_state(limit_for(plan, bucket), count, bucket, start, window))


def admission(org_slug: str, bucket: str, now: float | None = None, plan: str | None = None) -> Admission:
    """Start counting one request of the organization in `bucket` (against `plan` when the caller knows it); its
    verdict comes with `result()`."""
    return Admission(org_slug, bucket, now, plan)


def standing(org_slug: str, bucket: str, now: float | None = None, plan: str | None = None) -> RateLimitState:
    return peek(org_slug, plan if plan is not None else plan_of(org_slug), bucket, now)


def headers(state: RateLimitState) -> dict[str, str]:
    """The x-ratelimit-* response headers of a standing (and retry-after once it is over the limit)."""
    values = {
        "x-ratelimit-limit": str(state.limit),
        "x-ratelimit-remaining": str(state.remaining),
        "x-ratelimit-used": str(min(state.used, state.limit)),
        "x-ratelimit-reset": str(state.reset),
        "x-ratelimit-resource": state.bucket,
    }
    if state.exceeded:
        values["retry-after"] = str(state.retry_after())
    return values
