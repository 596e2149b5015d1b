"""A promotion whose live check fails after the switch (issue 16): production goes back to what it served, unless
auto_rollback is off. The outage is played by the embedded stack's site server (CloudFront's stand-in), which answers
503 for production while production would serve the new build; the build itself is real, and so is every request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.adapters import sites
from chalicelib.local.sites import SiteRequestHandler
from chalicelib.local.stack import EmbeddedStack
from chalicelib.models.deployment_status import DeploymentStatus
from chalicelib.models.environment import PRODUCTION, EnvironmentRepository
from chalicelib.models.project import ProjectRepository
from chalicelib.models.promotion import Promotion
from chalicelib.models.route import RouteRepository
from chalicelib.services import projects
from tests.support.polling import wait_until


@pytest.fixture
def production_outage(stack: EmbeddedStack) -> Iterator[Callable[[str, int], None]]:
    """`outage(label, healthy_id)`: from now on, the site at `label` answers 503 whenever its route names another
    deployment than `healthy_id` (the candidate's own URL is left alone)."""

    def begin(label: str, healthy_id: int) -> None:
        class Outage(SiteRequestHandler):
            def _serve(self, head: bool) -> None:
                if self.path.startswith(f"/{label}/"):
                    route = RouteRepository.find(label)
                    if route is not None and route.deployment_id != healthy_id:
                        return self._send(503, b"service unavailable\n", "text/plain", head)
                return super()._serve(head)

        stack.sites.answer_with(Outage)

    yield begin
    stack.sites.answer_with(SiteRequestHandler)


def _promotions(project_id: int, count: int) -> list[Promotion]:
    def ended() -> list[Promotion] | None:
        found = list(Promotion.query(project_id, consistent_read=True))
        return found if len(found) >= count and all(p.has_ended for p in found) else None

    return list(wait_until(ended, 30, what=f"{count} promotions to end"))


def test_a_live_check_that_fails_after_the_switch_switches_production_back(
    org_factory: Any, repo_factory: Any, project_factory: Any, pipeline: Any, production_outage: Any
) -> None:
    # Given production serving a first build, and production's URL failing for anything else from now on
    org = org_factory()
    project = project_factory(org.slug, repo_factory()).project
    pid = int(project.id)
    first = pipeline.deploy(org.slug, pid)
    production_outage(sites.production_label(project.slug, org.slug), int(first.id))

    # When a second build is deployed: its own URL is healthy, production's is not once it switches
    second = pipeline.deploy(org.slug, pid)
    promotions = _promotions(pid, 3)

    # Then its promotion switched, failed the live check and was reverted, by an auto_revert promotion of its own
    deploy, revert = promotions[1], promotions[2]
    assert (deploy.reason, deploy.status, deploy.to_deployment_id) == ("deploy", "reverted", second.id)
    assert deploy.switched_at is not None
    assert [(c.target, c.status_code, c.attempts, c.ok) for c in deploy.checks] == [
        ("candidate", 200, 1, True),
        ("live", 503, 3, False),
    ]
    assert (revert.reason, revert.status, revert.triggered_by) == ("auto_revert", "succeeded", "deployd")
    assert (revert.from_deployment_id, revert.to_deployment_id) == (second.id, first.id)
    # And production serves the first build again; the second is deployed, not active, and says why
    environment = EnvironmentRepository.find(pid, PRODUCTION)
    assert environment is not None and environment.active_deployment_id == first.id
    assert environment.promoting is None and not environment.promotion_waiting
    status, served_by, _ = pipeline.served(projects.get(org.slug, pid).production_url)
    assert (status, served_by) == (200, first.id)
    refused = pipeline.deployment(int(second.id))
    assert refused.status == "deployed"
    assert refused.error_message == (
        f"reverted: GET / on production's URL answered 503 (3 attempts) after the switch; production serves "
        f"deployment {first.id} again"
    )
    # And the GitHub dialect's newest status of the second says it failed
    newest = max(DeploymentStatus.query(int(second.id), consistent_read=True), key=lambda s: s.id)
    assert newest.state == "failure"


def test_without_auto_rollback_a_failed_live_check_is_reported_and_the_switch_stands(
    org_factory: Any, repo_factory: Any, project_factory: Any, pipeline: Any, production_outage: Any
) -> None:
    # Given a project with auto_rollback off, production serving a first build, its URL failing for anything else
    org = org_factory()
    project = project_factory(org.slug, repo_factory()).project
    pid = int(project.id)
    ProjectRepository.update(ProjectRepository.get(org.slug, pid), {"auto_rollback": False})
    first = pipeline.deploy(org.slug, pid)
    production_outage(sites.production_label(project.slug, org.slug), int(first.id))

    # When a second build is deployed
    second = pipeline.deploy(org.slug, pid)
    promotion = _promotions(pid, 2)[1]

    # Then the switch stands, and the promotion says the live check failed
    assert (promotion.status, promotion.to_deployment_id) == ("succeeded", second.id)
    assert [(c.target, c.ok) for c in promotion.checks] == [("candidate", True), ("live", False)]
    assert promotion.error_message is not None and "auto_rollback is off" in promotion.error_message
    environment = EnvironmentRepository.find(pid, PRODUCTION)
    assert environment is not None and environment.active_deployment_id == second.id
