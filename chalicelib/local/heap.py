"""The embedded stack's process and Python's cyclic garbage collector.

The stack is one long-running process holding a large heap of long-lived objects: every module it imported, and
the local AWS's state (moto's items, one object per attribute, the streams' records, the executions' histories).
Python's cyclic collector walks all of them at each full collection: in a burst of 50 deployments
(`bench.pipeline throughput`) four full collections took 0.94 s of the burst's 13.6 s of CPU, each holding the
interpreter lock for about a quarter of a second, and the young collections (one per 700 allocations) another 0.4 s.

So, once the stack has started, what is alive is frozen (`gc.freeze`: moved to a generation the collector never
walks; what it started with lives as long as the process anyway, and reference counting still frees whatever of
it is let go), and the collector runs less often (`THRESHOLDS`): the same burst then spent 0.3 s collecting. The
stack's stop gives the process its collector back as it was. Lambda runs each function in a small process of its
own and is left as Python sets it.
"""

from __future__ import annotations

import gc
import threading

# Young collections every 5,000 allocations (Python's default: 700), then every 20 of the generation below (10).
THRESHOLDS = (5_000, 20, 20)

_lock = threading.Lock()
_holders = 0
_before: tuple[int, int, int] | None = None


def settle() -> None:
    """Freeze what is alive and make collections rarer, for as long as a stack runs (calls nest)."""
    global _holders, _before
    with _lock:
        _holders += 1
        if _holders > 1:
            return
        _before = gc.get_threshold()
        gc.collect()
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)


def restore() -> None:
    """The collector as it was before the first `settle`, once every stack that settled it has stopped."""
    global _holders, _before
    with _lock:
        if _holders == 0:
            return
        _holders -= 1
        if _holders > 0 or _before is None:
            return
        gc.set_threshold(*_before)
        gc.unfreeze()
        _before = None
