"""The plan of the organization whose request is running, when its API key carried it (api.metering): a plan is
set once, at the organization's creation (models.organization), so what the request does on its behalf (a trigger
taking a free build slot) needs no read of the organization."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_known: ContextVar[tuple[str, str] | None] = ContextVar("deployd_caller_plan", default=None)


@contextmanager
def known(org_slug: str, plan: str | None) -> Iterator[None]:
    """While the block runs, the organization's plan is `plan` (nothing is known when None)."""
    if plan is None:
        yield
        return
    token = _known.set((org_slug, plan))
    try:
        yield
    finally:
        _known.reset(token)


def of(org_slug: str) -> str | None:
    """The organization's plan if the running request knows it, else None (read it from the organization)."""
    found = _known.get()
    return found[1] if found is not None and found[0] == org_slug else None
