"""Promotions on the in-process embedded stack (issue 16), where a test can make the site server (CloudFront's
stand-in) misbehave: a live check failing after the switch is reverted unless auto_rollback is off, and a rollback
asked for while another promotion verifies waits for it. Builds are real, and so is every request."""

from __future__ import annotations

import threading
import time
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
def site_answers(stack: EmbeddedStack) -> Iterator[Callable[[type[SiteRequestHandler]], None]]:
    """`answer_with(handler)`: the site server (CloudFront's stand-in) answers with `handler` until the test ends."""
    yield stack.sites.answer_with
    stack.sites.answer_with(SiteRequestHandler)


@pytest.fixture
def new_project(org_factory: Any, repo_factory: Any, project_factory: Any) -> tuple[Any, Any, int]:
    """(a new organization, its project with a site to build, the project's id)."""
    org = org_factory()
    project = project_factory(org.slug, repo_factory()).project
    return org, project, int(project.id)


def _wait_verifying(project_id: int, which: Callable[[Promotion], bool], what: str) -> None:
    """Until a promotion of the project that `which` picks is verifying."""
    wait_until(
        lambda: any(p.status == "verifying" and which(p) for p in Promotion.query(project_id)),
        20,
        interval=0.01,
        what=what,
    )


@pytest.fixture
def production_outage(site_answers: Callable[[type[SiteRequestHandler]], None]) -> Callable[[str, int], None]:
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

        site_answers(Outage)

    return begin


def _promotions(project_id: int, count: int) -> list[Promotion]:
    def ended() -> list[Promotion] | None:
        found = list(Promotion.query(project_id, consistent_read=True))
        return found if len(found) >= count and all(p.has_ended for p in found) else None

    return list(wait_until(ended, 30, what=f"{count} promotions to end"))


def test_a_live_check_that_fails_after_the_switch_switches_production_back(
    new_project: Any, pipeline: Any, production_outage: Any
) -> None:
    # Given production serving a first build, and production's URL failing for anything else from now on
    org, project, pid = new_project
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
    new_project: Any, pipeline: Any, production_outage: Any
) -> None:
    # Given a project with auto_rollback off, production serving a first build, its URL failing for anything else
    org, project, pid = new_project
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


def test_a_rollback_asked_for_while_another_promotion_verifies_waits_for_it_then_runs(
    site_answers: Any, new_project: Any, pipeline: Any
) -> None:
    # Given three deployed builds, and a site server that takes a second to answer the first build's own URL
    from chalicelib.services import deployments

    org, project, pid = new_project
    first, second, third = (pipeline.deploy(org.slug, pid) for _ in range(3))
    _promotions(pid, 3)
    slow_label = sites.deployment_label(int(first.id), project.slug, org.slug)

    class SlowCandidate(SiteRequestHandler):
        def _serve(self, head: bool) -> None:
            if self.path.startswith(f"/{slow_label}/"):
                time.sleep(1.0)
            return super()._serve(head)

    site_answers(SlowCandidate)

    # When a rollback to the first starts verifying, and a rollback to the second is asked for meanwhile
    answers: dict[str, Any] = {}
    earlier = threading.Thread(target=lambda: answers.update(first=deployments.rollback(org.slug, pid, first.id)))
    earlier.start()
    _wait_verifying(pid, lambda p: p.reason == "rollback", "the first rollback to verify")
    later = deployments.rollback(org.slug, pid, second.id)
    earlier.join(timeout=30)

    # Then the later one waited for its turn: the first switched, then the second, each from what the other left
    promotions = _promotions(pid, 5)
    to_first, to_second = promotions[3], promotions[4]
    assert (to_first.to_deployment_id, to_second.to_deployment_id) == (first.id, second.id)
    assert (to_first.status, to_second.status) == ("succeeded", "succeeded")
    assert (to_first.from_deployment_id, to_second.from_deployment_id) == (third.id, first.id)
    assert to_second.switched_at > to_first.finished_at
    # And each answer came once its own promotion had switched; production serves the later one
    assert answers["first"].is_active is True and later.promotion is not None and later.is_active is True
    environment = EnvironmentRepository.find(pid, PRODUCTION)
    assert environment is not None and environment.active_deployment_id == second.id


def test_a_build_cancelled_while_its_promotion_verifies_is_not_served_and_the_line_goes_on(
    site_answers: Any, new_project: Any, pipeline: Any
) -> None:
    # Given production serving a first build, and a site server that holds every check of another build's own URL
    from chalicelib.services import deployments

    org, project, pid = new_project
    first = pipeline.deploy(org.slug, pid)
    production_url = projects.get(org.slug, pid).production_url
    release = threading.Event()
    first_label = sites.deployment_label(int(first.id), project.slug, org.slug)

    class HeldCandidate(SiteRequestHandler):
        def _serve(self, head: bool) -> None:
            label = self.path.split("/")[1]
            if label.startswith("d") and label != first_label and not release.is_set():
                release.wait(timeout=20)
            return super()._serve(head)

    site_answers(HeldCandidate)
    try:
        # When a second build is cancelled while its promotion verifies its own URL (the build itself is over)
        did = int(deployments.trigger(org.slug, pid, None, "integration-test").deployment.id)
        _wait_verifying(pid, lambda p: p.to_deployment_id == did, "the second build's promotion to verify")
        assert pipeline.deployment(did).status == "deploying"
        answer = deployments.cancel(org.slug, pid, did)
    finally:
        release.set()  # the held checks go on
    pipeline.wait_execution_end(did)

    # Then it is cancelled, has no URL and is served nowhere; production still serves the first
    assert answer.deployment.status == "cancelled" and not answer.is_active
    cancelled = pipeline.deployment(did)
    assert (cancelled.status, cancelled.deployment_url) == ("cancelled", None)
    assert pipeline.served(sites.url_for(sites.deployment_label(did, project.slug, org.slug)))[0] == 404
    assert pipeline.served(production_url)[:2] == (200, int(first.id))
    # And its promotion ended without switching, so the next build goes live
    promotion = _promotions(pid, 2)[1]
    assert (promotion.status, promotion.to_deployment_id, promotion.switched_at) == ("failed", did, None)
    third = pipeline.deploy(org.slug, pid)
    assert pipeline.served(production_url)[:2] == (200, int(third.id))
