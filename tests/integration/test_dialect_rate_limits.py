"""Over the hourly limit, each dialect answers with its own status, over real HTTP: GitHub 403 (its primary
rate limit), native, GitLab and Mintlify 429; every refusal carries Retry-After and the x-ratelimit-* headers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from chalicelib.local.stack import EmbeddedStack
from chalicelib.models.registry import RegistryEntry
from chalicelib.services import rate_limits


def _use_up(org_slug: str, plan: str, bucket: str) -> None:
    """The organization's whole budget in `bucket` spent, in this window and the next (should one begin)."""
    window = rate_limits.window_for(bucket)
    start = rate_limits.window_start(time.time(), window)
    for begins in (start, start + window):
        counter = RegistryEntry(name=rate_limits.counter_name(org_slug, bucket, begins))
        counter.update(actions=[RegistryEntry.value.set(rate_limits.limit_for(plan, bucket))])


def _limit_message(text: str) -> str:
    return text.split(":")[0]


@pytest.mark.parametrize(
    ("path", "bucket", "status", "said", "saying"),
    [
        ("/api/v3/repos/{org}/site", "core", 403, lambda a: _limit_message(a["message"]), "API rate limit exceeded"),
        ("/api/v1/public/projects", "api", 429, lambda a: a["error"]["code"], "rate_limited"),
        ("/api/v4/projects/1", "api", 429, lambda a: a, {"message": "429 Too Many Requests"}),
        ("/v1/project/update-status/1", "api", 429, lambda a: _limit_message(a["error"]), "API rate limit exceeded"),
    ],
)
def test_each_dialect_answers_a_spent_budget_with_its_own_status(
    stack: EmbeddedStack,
    org_factory: Callable[..., Any],
    path: str,
    bucket: str,
    status: int,
    said: Callable[[Any], Any],
    saying: Any,
) -> None:
    from chalicelib.services import organizations

    # Given an organization whose hourly budget is spent
    org = org_factory(plan="free")
    token = organizations.create_key(org.slug, "ci", None).token
    _use_up(org.slug, "free", bucket)

    # When it makes one more request in a dialect
    response = requests.get(
        stack.api_url + path.format(org=org.slug), headers={"Authorization": f"Bearer {token}"}, timeout=10
    )

    # Then the dialect refuses it with its own status, a JSON body, and when to come back
    assert response.status_code == status, response.text
    assert said(response.json()) == saying
    assert 1 <= int(response.headers["Retry-After"]) <= 3600
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert response.headers["x-ratelimit-resource"] == bucket
