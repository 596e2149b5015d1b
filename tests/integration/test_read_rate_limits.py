"""A GET's rate-limit count runs beside its reads (api/metering.py) and still decides the answer: with one request
left in the window, of several GETs sent at once exactly one is answered and the rest are refused, each counted."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from chalicelib.local.stack import EmbeddedStack
from chalicelib.models.registry import RegistryEntry
from chalicelib.services import rate_limits


def _counter(org_slug: str) -> RegistryEntry:
    start = rate_limits.window_start(time.time(), rate_limits.window_for("api"))
    return RegistryEntry(name=rate_limits.counter_name(org_slug, "api", start))


def test_gets_sent_at_once_with_one_request_left_get_one_answer_and_are_all_counted(
    stack: EmbeddedStack, org_factory: Callable[..., Any]
) -> None:
    from chalicelib.services import organizations

    # Given an organization with one request left in its hourly "api" window
    org = org_factory(plan="free")
    token = organizations.create_key(org.slug, "ci", None).token
    limit = rate_limits.limit_for("free", "api")
    counter = _counter(org.slug)
    counter.update(actions=[RegistryEntry.value.set(limit - 1)])

    # When four reads arrive at once, one of them for a project that is not there
    paths = ["/api/v1/public/projects"] * 3 + ["/api/v1/public/projects/999999999/deployments/1"]

    def get(path: str) -> requests.Response:
        return requests.get(stack.api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    with ThreadPoolExecutor(len(paths)) as pool:
        responses = list(pool.map(get, paths))

    # Then exactly one is answered (200 or the missing project's 404), the others are the native 429, every one
    # carries its standing, and the window counted all four
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(429) == len(paths) - 1, statuses
    assert all(r.headers["x-ratelimit-limit"] == str(limit) for r in responses)
    assert all(r.json()["error"]["code"] == "rate_limited" for r in responses if r.status_code == 429)
    counter.refresh(consistent_read=True)
    assert counter.value == limit - 1 + len(paths)
