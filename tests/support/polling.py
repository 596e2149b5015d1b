"""Waiting for a state with a deadline instead of a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll(probe: Callable[[], T], timeout: float, interval: float = 0.1) -> T:
    """Calls `probe` until it returns something truthy or `timeout` seconds have passed; returns its last value.

    The probe runs at least once, and once more at the deadline, so a state reached while sleeping still counts.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def wait_until(probe: Callable[[], T], timeout: float = 30.0, interval: float = 0.1, what: str = "") -> T:
    """Polls `probe` until it returns something truthy, and returns that; fails the test at the deadline."""
    value = poll(probe, timeout, interval)
    if not value:
        raise AssertionError(f"timed out after {timeout}s waiting for {what or probe!r}; last value: {value!r}")
    return value
