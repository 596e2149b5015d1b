"""Rate limits at the HTTP edge: every response of a metered route carries the x-ratelimit-* headers of its
bucket, and a request over the limit is refused with RateLimited (each dialect's renderer chooses its status;
the headers carry Retry-After).

A route is metered in one bucket. In a counting bucket ("api", GitHub's "core") the request is counted as soon
as the caller is known; in a trigger bucket the view counts it itself, after validating the request, so a
request refused with 400, 403 or 404 consumes nothing (`Meter.counting`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from chalicelib.errors import DomainError
from chalicelib.observability import logger
from chalicelib.services import auth, caller_plan, rate_limits
from chalicelib.services.rate_limits import RateLimitState

COUNTED_ON_ARRIVAL = frozenset({"api", "core"})


class Meter:
    """The rate-limit standing of one request, for its response headers."""

    def __init__(self, bucket: str | None, deferred: bool = False) -> None:
        self.bucket = bucket
        self.org_slug: str | None = None
        self.plan: str | None = None  # the organization's plan when its key carries it
        self.state: RateLimitState | None = None
        # A read's count goes on while its view reads, and is settled before it answers (`settle`): a request
        # over the limit is still refused, and counted exactly, but waits for one round trip less.
        self.deferred = deferred
        self._pending: rate_limits.Admission | None = None

    def identify(self, principal: auth.Principal) -> auth.Principal:
        """The caller is known: a counting bucket counts the request now (RateLimited when over), against the plan
        its key carries."""
        self.plan = principal.plan
        self.identify_organization(principal.org_slug)
        return principal

    def identify_organization(self, org_slug: str) -> None:
        """The organization is known (from its key, or from a deploy hook's secret): a counting bucket counts the
        request now (RateLimited when over)."""
        self.org_slug = org_slug
        if self.bucket in COUNTED_ON_ARRIVAL:
            self._admit()

    def identify_anonymous(self, address: str) -> None:
        """An unauthenticated caller (GitHub's): counted against its address's budget (RateLimited when over)."""
        subject = f"anonymous:{address}"
        self._record(lambda bucket: rate_limits.check(rate_limits.consume(subject, "anonymous", bucket)))

    def _admit(self) -> None:
        assert self.org_slug is not None, "identify the caller first"
        org_slug, plan = self.org_slug, self.plan
        if self.deferred:
            assert self.bucket is not None, "an unmetered route counts no one"
            self._pending = rate_limits.admission(org_slug, self.bucket, plan=plan)
        else:
            self._record(lambda bucket: rate_limits.admit(org_slug, bucket, plan=plan))

    def settle(self) -> None:
        """The verdict of a count still going on: RateLimited when the request is over the limit."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self._record(lambda _bucket: pending.result())

    def _record(self, count: Callable[[str], RateLimitState]) -> None:
        assert self.bucket is not None, "an unmetered route counts no one"
        try:
            self.state = count(self.bucket)
        except rate_limits.RateLimited as exc:
            self.state = exc.state
            raise

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Count the request against the bucket; give the count back if the block fails with a domain error
        (an unknown branch found while triggering), so only accepted requests use the budget."""
        self.deferred = False  # a counted write waits for its verdict before it acts
        self._admit()
        assert self.org_slug is not None
        try:
            with caller_plan.known(self.org_slug, self.plan):  # what a trigger's free build slot needs
                yield
        except DomainError:
            if self.state is not None:
                self.state = rate_limits.refund(self.org_slug, self.state)
            raise

    def headers(self) -> dict[str, str]:
        state = self.state
        if self.bucket is None:
            return {}
        if state is None and self.org_slug is not None:
            try:
                state = rate_limits.standing(self.org_slug, self.bucket, plan=self.plan)
            except Exception:  # headers are informative; never fail the response for them
                logger.exception("could not read the rate-limit standing")
                return {}
        if state is None:
            return {}
        return rate_limits.headers(state)
