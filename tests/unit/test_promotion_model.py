"""The promotions table as the API reads it: one GetItem finds a promotion, a project's or one environment's
promotions list newest first with their total, and projects read from before promotions existed get the defaults."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import NotFound
from chalicelib.models.attributes import utc_now
from chalicelib.models.project import Project
from chalicelib.models.promotion import (
    AUTO_REVERT,
    CANDIDATE,
    DEPLOY,
    ROLLBACK,
    Check,
    Promotion,
    PromotionRepository,
    environment_key,
)
from chalicelib.models.registry import next_id


def _promotion(project_id: int, environment: str, to: int, reason: str = DEPLOY) -> Promotion:
    promotion = Promotion(
        project_id=project_id,
        id=next_id("promotion"),
        environment=environment,
        environment_key=environment_key(project_id, environment),
        from_deployment_id=to - 1 if to > 1 else None,
        to_deployment_id=to,
        reason=reason,
        triggered_by="api",
    )
    promotion.save()
    return promotion


def test_a_promotion_is_found_by_project_and_id_with_its_checks(tables: Any) -> None:
    # Given a promotion with a recorded check
    made = _promotion(7, "production", 3)
    check = Check(
        target=CANDIDATE,
        url="http://d3.example/health",
        attempts=3,
        status_code=404,
        served_by=3,
        ok=False,
        error="answered 404",
        checked_at=utc_now(),
    )
    made.update(actions=[Promotion.checks.set([check])])

    # When it is read back
    found = PromotionRepository.get(7, made.id)

    # Then it holds what was written, and another project does not find it
    assert (found.to_deployment_id, found.from_deployment_id, found.reason, found.status) == (3, 2, DEPLOY, "pending")
    assert [(c.target, c.status_code, c.served_by, c.ok) for c in found.checks] == [(CANDIDATE, 404, 3, False)]
    assert PromotionRepository.find(8, made.id) is None
    with pytest.raises(NotFound):
        PromotionRepository.get(8, made.id)


def test_pages_list_newest_first_per_project_and_per_environment(tables: Any) -> None:
    # Given five promotions of production and two of a preview, and one of another project
    production = [_promotion(7, "production", n) for n in range(1, 6)]
    preview = [_promotion(7, "preview/x", n, ROLLBACK) for n in (10, 11)]
    _promotion(9, "production", 1, AUTO_REVERT)

    # When pages are asked for
    first = PromotionRepository.page(7, None, 1, 3)
    second = PromotionRepository.page(7, None, 2, 3)
    third = PromotionRepository.page(7, None, 3, 3)
    production_only = PromotionRepository.page(7, "production", 2, 2)

    # Then each is newest first and knows the total of its listing
    everything = [p.id for p in reversed(production + preview)]
    assert [p.id for p in first.items] == everything[:3] and first.total == 7
    assert [p.id for p in second.items] == everything[3:6] and second.total == 7
    assert [p.id for p in third.items] == everything[6:] and third.total == 7
    assert [p.id for p in production_only.items] == [production[2].id, production[1].id]
    assert production_only.total == 5
    assert PromotionRepository.page(7, "production", 9, 2).items == []
    assert PromotionRepository.page(7, "staging", 1, 10) == ([], 0)


def test_a_project_stored_before_promotions_checks_slash_and_rolls_back(tables: Any) -> None:
    # Given a project item written without the promotion settings
    project = Project(
        id=1,
        org_slug="acme",
        slug="site",
        name="site",
        repo_url="https://example.com/r.git",
        default_branch="main",
        output_dir="dist",
        build_timeout_seconds=60,
    )
    project.save()
    Project(id=1).update(actions=[Project.health_check_path.remove(), Project.auto_rollback.remove()])

    # When it is read
    found = Project.get(1, consistent_read=True)

    # Then it checks "/" and rolls production back by default
    assert (found.health_check_path, found.auto_rollback) == ("/", True)


def test_a_promotion_whose_execution_cannot_start_ends_failed_and_frees_the_line(
    tables: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.adapters import executions
    from chalicelib.models.deployment import Deployment
    from chalicelib.models.environment import Environment
    from chalicelib.services import promotions

    # Given a project whose production serves nothing yet, and Step Functions refusing to start anything
    project = Project(
        id=3,
        org_slug="acme",
        slug="site",
        name="site",
        repo_url="https://example.com/r.git",
        default_branch="main",
        output_dir="dist",
        build_timeout_seconds=60,
    )
    project.save()
    target = Deployment(
        id=11, project_id=3, seq=1, org_slug="acme", environment="production", branch="main", commit_sha="a" * 40
    )
    target.status = "deployed"

    def refuse(promotion_id: int, payload: dict[str, Any]) -> None:
        raise RuntimeError("StartExecution refused")

    monkeypatch.setattr(executions, "start_promotion", refuse)

    # When a promotion is recorded
    with pytest.raises(RuntimeError):
        promotions.record(project, None, target, ROLLBACK, "api")

    # Then it ended failed, saying so, and the environment's line is free for the next one
    (promotion,) = PromotionRepository.page(3, None, 1, 10).items
    assert (promotion.status, promotion.error_message) == ("failed", "its execution could not start: RuntimeError")
    environment = Environment.get(3, "production", consistent_read=True)
    assert (environment.promoting, environment.promotion_waiting) == (None, None)
