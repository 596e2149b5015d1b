"""The promotion worker's steps: the first checks the candidate and switches on that very check; the steps an
execution started by an earlier flow asks for are still answered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.adapters import executions, health_checks
from chalicelib.services import promotions
from chalicelib.workers.promotion_worker import handle_promotion_step

MESSAGE = {"project_id": "3", "promotion_id": "9", "environment": "production", "to_deployment_id": "4"}


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every health check, switch and task answer, in order; the candidate's check answers 503."""
    made: list[tuple[str, Any]] = []

    def check(url: str, expected: int, attempts: int = health_checks.ATTEMPTS) -> health_checks.CheckResult:
        made.append(("check", url))
        return health_checks.CheckResult(url, attempts, 503, None, False, "answered 503", datetime.now(UTC))

    def switch(project_id: int, promotion_id: int, environment: str, to: int, candidate: dict[str, Any]) -> Any:
        made.append(("switch", (project_id, promotion_id, environment, to, candidate["check"]["ok"])))
        return {"switched": False}

    monkeypatch.setattr(health_checks, "check", check)
    monkeypatch.setattr(promotions, "switch", switch)
    monkeypatch.setattr(executions, "succeed", lambda token, output: made.append(("answer", (token, output))))
    return made


def test_the_first_step_checks_the_candidate_then_switches_on_that_check(calls: list[tuple[str, Any]]) -> None:
    # When the flow's first step runs for a candidate whose own URL fails its check
    url = "http://127.0.0.1:9/d4--site--org/"
    handle_promotion_step({**MESSAGE, "step": "verify_and_switch", "candidate_url": url, "task_token": "t1"})

    # Then the candidate was checked first, the switch decided on that failed check, and the task was answered with
    # the switch's answer
    assert calls == [
        ("check", url),
        ("switch", (3, 9, "production", 4, False)),
        ("answer", ("t1", {"switched": False})),
    ]


def test_an_execution_started_by_the_earlier_flow_still_gets_its_two_steps_answered(
    calls: list[tuple[str, Any]],
) -> None:
    # Given an execution of the flow before VerifyAndSwitch: a step that checks, then one that switches
    url = "http://127.0.0.1:9/d4--site--org/"
    handle_promotion_step({**MESSAGE, "step": "verify_candidate", "candidate_url": url, "task_token": "t1"})
    checked = calls[-1][1][1]
    handle_promotion_step({**MESSAGE, "step": "switch", "candidate": checked, "task_token": "t2"})

    # Then each was answered: the check's result, then the switch decided on it
    assert [call[0] for call in calls] == ["check", "answer", "switch", "answer"]
    assert checked["check"]["ok"] is False and checked["check"]["status_code"] == 503
    assert calls[2] == ("switch", (3, 9, "production", 4, False))
