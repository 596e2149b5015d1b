"""Independent AWS reads of one request made side by side, so the request waits for the slowest rather than the sum.

A small thread pool, made on first use (nothing at import time; its module, `concurrent.futures.thread`, loads with
it: the API's cold start imports this module with the rate limits but makes no pool). Each call runs in a copy of the
caller's context, so Powertools' correlation id and anything else kept in context variables follows it onto the
pool's thread.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

A = TypeVar("A")
B = TypeVar("B")

# Enough for every request a warm Lambda (one request at a time) or the embedded stack's API threads hand off.
POOL_THREADS = 8


@functools.cache
def _pool() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="deployd-io")


def start(call: Callable[[], A]) -> Future[A]:
    """`call()` on the pool, in a copy of this context. Only leaves go to the pool: a call that itself waited for
    the pool could wait forever once every thread was such a call."""
    return _pool().submit(contextvars.copy_context().run, call)


def both(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """`first()` here and `second()` on the pool at the same time; both results, or the first error raised
    (`first`'s when both fail). `second` is always waited for, so nothing it does outlives the call."""
    pending = start(second)
    try:
        result = first()
    finally:
        other = pending.exception()  # waits; an error of `first` still lets `second` finish
    if other is not None:
        raise other
    return result, pending.result()
