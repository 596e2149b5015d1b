"""A running embedded stack settles its process's garbage collector (chalicelib.local.heap): what was alive at its
start is frozen and collections are rarer; the collector is given back as it was once every stack has stopped."""

from __future__ import annotations

import gc

from chalicelib.local import heap


def test_the_collector_is_settled_while_a_stack_runs_and_given_back_after_the_last() -> None:
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    # When two stacks of the process start
    heap.settle()
    heap.settle()
    # Then what was alive is frozen and collections are rarer
    assert gc.get_threshold() == heap.THRESHOLDS
    assert gc.get_freeze_count() > 0
    # And the first one's stop leaves it so, for the other
    heap.restore()
    assert gc.get_threshold() == heap.THRESHOLDS
    # And the last one's stop gives the collector back as it was (as a stack of the session left it, if one runs)
    heap.restore()
    assert gc.get_threshold() == before
    assert (gc.get_freeze_count() > 0) == (frozen_before > 0)
