"""Rate limits at the HTTP edge for the native and Mintlify dialects: every response of a metered view
carries the x-ratelimit-* headers of its bucket, and a request over the limit gets 429 with Retry-After.

A view is metered in one bucket. In a counting bucket ("api") the request is counted as soon as the caller
is known; in a trigger bucket the view counts it itself, after validating the request, so a request
refused with 400, 403 or 404 consumes nothing (`Meter.counting`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from chalice import Response

from chalicelib.api.http import Renderer, error_boundary
from chalicelib.errors import DomainError
from chalicelib.observability import logger
from chalicelib.services import auth, rate_limits
from chalicelib.services.rate_limits import RateLimitState

View = TypeVar("View", bound=Callable[..., Response])
COUNTED_ON_ARRIVAL = frozenset({"api"})


class Meter:
    """The rate-limit standing of one request, for its response headers."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket
        self.org_slug: str | None = None
        self.state: RateLimitState | None = None

    def identify(self, principal: auth.Principal) -> auth.Principal:
        """The caller is known: a counting bucket counts the request now (RateLimited when over)."""
        self.org_slug = principal.org_slug
        if self.bucket in COUNTED_ON_ARRIVAL:
            self._admit()
        return principal

    def _admit(self) -> None:
        assert self.org_slug is not None, "identify the caller first"
        try:
            self.state = rate_limits.admit(self.org_slug, self.bucket)
        except rate_limits.RateLimited as exc:
            self.state = exc.state
            raise

    @contextmanager
    def counting(self) -> Iterator[None]:
        """Count the request against the bucket; give the count back if the block fails with a domain error
        (an unknown branch found while triggering), so only accepted requests use the budget."""
        self._admit()
        try:
            yield
        except DomainError:
            if self.org_slug is not None and self.state is not None:
                self.state = rate_limits.refund(self.org_slug, self.state)
            raise

    def headers(self) -> dict[str, str]:
        state = self.state
        if state is None and self.org_slug is not None:
            try:
                state = rate_limits.standing(self.org_slug, self.bucket)
            except Exception:  # headers are informative; never fail the response for them
                logger.exception("could not read the rate-limit standing")
                return {}
        if state is None:
            return {}
        return rate_limits.headers(state)


def metered(bucket: str, render: Renderer) -> Callable[[View], View]:
    """Wrap `view(meter, **path_params)`: domain errors rendered by `render`, the bucket's headers added."""
    guarded = error_boundary(render)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def handler(**params: Any) -> Response:
            meter = Meter(bucket)
            response: Response = guarded(view)(meter, **params)
            response.headers.update(meter.headers())
            return response

        return handler  # type: ignore[return-value]

    return decorate
