"""The DynamoDB limiter: exact under concurrency, a window per bucket, refunds, and GitHub's hourly core bucket."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from chalicelib.services import rate_limits


def test_concurrent_consumers_get_exactly_the_limit(org_factory: Callable[..., Any]) -> None:
    # Given a pro organization and 12 threads released together against its per-minute previews bucket
    org = org_factory(plan="pro")
    now = 1_700_000_010.0  # a fixed instant: every thread counts in the same window
    barrier = threading.Barrier(12)
    accepted: list[int] = []
    refused: list[int] = []

    def request() -> None:
        barrier.wait()
        try:
            accepted.append(rate_limits.admit(org.slug, "previews", now).used)
        except rate_limits.RateLimited as exc:
            refused.append(exc.state.used)

    threads = [threading.Thread(target=request) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then exactly 5 are admitted, each with a distinct count
    assert sorted(accepted) == [1, 2, 3, 4, 5]
    assert sorted(refused) == list(range(6, 13))


def test_each_bucket_has_its_own_window() -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    now = 1_700_000_030.0
    minute = rate_limits.consume(org, "pro", "previews", now)
    hour = rate_limits.consume(org, "pro", "core", now)
    assert (minute.window_seconds, minute.reset) == (60, 1_700_000_040)
    assert (hour.window_seconds, hour.reset) == (3600, 1_700_002_800)
    # the next minute is a fresh window for previews; core still counts in its hour
    assert rate_limits.consume(org, "pro", "previews", now + 60).used == 1
    assert rate_limits.consume(org, "pro", "core", now + 60).used == 2


def test_peek_counts_nothing_and_refund_gives_back() -> None:
    org = f"org-{uuid.uuid4().hex[:8]}"
    now = 1_700_000_100.0
    assert rate_limits.peek(org, "pro", "triggers", now).used == 0
    state = rate_limits.consume(org, "pro", "triggers", now)
    assert (state.used, state.limit, state.remaining) == (1, 30, 29)
    assert rate_limits.peek(org, "pro", "triggers", now).used == 1
    assert rate_limits.refund(org, state).used == 0
    assert rate_limits.peek(org, "pro", "triggers", now).remaining == 30


def test_rate_limited_is_a_rate_limited_domain_error_and_no_forbidden() -> None:
    from chalicelib import errors

    state = rate_limits.RateLimitState(limit=1, remaining=0, used=2, reset=10_000, bucket="core")
    error = rate_limits.RateLimited(state)
    # GitHub's 403 is its renderer's choice (api/renderers.py), not the error's class
    assert isinstance(error, errors.RateLimited) and not isinstance(error, errors.Forbidden)
    assert "per hour" in error.message
