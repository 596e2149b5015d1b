"""concurrency.both: two calls side by side, their results in order, an error of either raised, the context kept."""

from __future__ import annotations

import contextvars
import threading

import pytest

from chalicelib import concurrency

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def test_both_calls_run_at_once_and_answer_in_order() -> None:
    # Given two calls that each wait for the other to have started (they deadlock if run one after the other)
    started = threading.Barrier(2, timeout=5)

    def first() -> str:
        started.wait()
        return "first"

    def second() -> str:
        started.wait()
        return "second"

    # When they run through both(), then both finish and their results come back in order
    assert concurrency.both(first, second) == ("first", "second")


def test_the_pool_call_sees_the_callers_context() -> None:
    request_id.set("r-42")
    assert concurrency.both(lambda: request_id.get(), lambda: request_id.get()) == ("r-42", "r-42")


def test_an_error_of_either_call_is_raised_and_the_other_call_still_finishes() -> None:
    finished = threading.Event()

    def fails() -> None:
        raise LookupError("not there")

    with pytest.raises(LookupError, match="not there"):
        concurrency.both(lambda: None, fails)
    with pytest.raises(LookupError, match="not there"):
        concurrency.both(fails, finished.set)
    assert finished.is_set()
