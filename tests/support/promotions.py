"""Promotions run in the caller's thread, for unit tests that have no Step Functions executing the promotion flow nor
a site server: each started promotion's steps are called in the order the flow calls them (its definition is tested
on its own, tests/unit/test_promotion_flow.py), and every health check is answered by `answer`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

# (url, the deployment the check expects) -> (status, the deployment that served it)
Answer = Callable[[str, int], tuple[int, int]]


def _healthy(url: str, expected: int) -> tuple[int, int]:
    return 200, expected


def run_promotions_inline(monkeypatch: pytest.MonkeyPatch, answer: Answer = _healthy) -> None:
    from chalicelib.adapters import executions, health_checks
    from chalicelib.services import promotions

    def check(url: str, expected: int, attempts: int = health_checks.ATTEMPTS) -> health_checks.CheckResult:
        status, served_by = answer(url, expected)
        ok = 200 <= status < 300 and served_by == expected
        error = None if ok else f"answered {status}"
        return health_checks.CheckResult(url, 1 if ok else attempts, status, served_by, ok, error, datetime.now(UTC))

    def start(promotion_id: int, payload: dict[str, Any]) -> None:
        project_id, environment = int(payload["project_id"]), str(payload["environment"])
        to = int(payload["to_deployment_id"])
        switched = promotions.verify_and_switch(
            project_id, promotion_id, environment, to, str(payload["candidate_url"])
        )
        if not switched["switched"]:
            return
        live = promotions.verify_live(
            project_id, promotion_id, environment, switched["live_url"], to, switched["auto_rollback"]
        )
        if not live["finished"]:
            promotions.revert(project_id, promotion_id, environment, live)

    monkeypatch.setattr(health_checks, "check", check)
    monkeypatch.setattr(executions, "start_promotion", start)
