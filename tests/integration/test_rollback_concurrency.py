"""Rollbacks racing each other: whoever wins, the ledger, the route and the served site agree."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.adapters import sites
from chalicelib.errors import Conflict
from chalicelib.models.environment import PRODUCTION, EnvironmentRepository
from chalicelib.models.route import RouteRepository
from chalicelib.services import deployments, projects
from chalicelib.services.deployments.activation import RolledBack
from tests.support.polling import poll


def _race(calls: list[Any]) -> list[Any]:
    """Run the calls at the same instant; each result is the call's return value or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:  # recorded, and judged by the test
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _assert_one_deployment_named(org_slug: str, project: Any, pipeline: Any) -> int:
    """The environment, the production route and the site server agree; returns the deployment they name."""
    environment = EnvironmentRepository.find(int(project.id), PRODUCTION)
    route = RouteRepository.find(sites.production_label(project.slug, org_slug))
    status, served_id, _body = pipeline.served(projects.get(org_slug, int(project.id)).production_url)
    assert environment is not None and route is not None
    active = int(environment.active_deployment_id)
    assert (int(route.deployment_id), served_id, status) == (active, active, 200)
    assert route.artifact_prefix == sites.artifact_prefix(active)
    return active


def test_concurrent_rollbacks_leave_environment_route_and_site_in_agreement(
    org_factory, repo_factory, project_factory, pipeline
):
    # Given a project with three deployed builds, the newest serving production
    org = org_factory()
    project = project_factory(org.slug, repo_factory()).project
    pid = int(project.id)
    deployed = [int(pipeline.deploy(org.slug, pid).id) for _ in range(3)]
    active = _assert_one_deployment_named(org.slug, project, pipeline)
    assert active == deployed[-1]

    for _round in range(6):
        # When two rollbacks to two different earlier builds race
        targets = [d for d in deployed if d != active]
        results = _race([lambda t=t: deployments.rollback(org.slug, pid, t) for t in targets])

        # Then each either rolled back or was refused with a Conflict, nothing else
        for target, result in zip(targets, results, strict=True):
            assert isinstance(result, (RolledBack, Conflict)), f"rollback to {target}: {result!r}"
            if isinstance(result, RolledBack):
                assert int(result.deployment.id) == target and result.is_active
        winners = [t for t, r in zip(targets, results, strict=True) if isinstance(r, RolledBack)]
        assert winners, f"both rollbacks were refused: {results!r}"

        # And the environment, the production route and the site all name the same deployment
        active = _assert_one_deployment_named(org.slug, project, pipeline)
        assert active in winners
        environment = EnvironmentRepository.find(pid, PRODUCTION)
        assert environment is not None and not environment.in_flight
        # and the API agrees about which deployment is active
        assert [v.deployment.id for v in deployments.list_page(org.slug, pid, 1, 10).items if v.is_active] == [active]
        assert projects.get(org.slug, pid).active_deployment_id == active


def test_a_rollback_racing_a_new_deployment_never_hides_the_new_one(
    org_factory, repo_factory, project_factory, pipeline
):
    # Given a project with two deployed builds
    org = org_factory()
    project = project_factory(org.slug, repo_factory()).project
    pid = int(project.id)
    first = int(pipeline.deploy(org.slug, pid).id)
    pipeline.deploy(org.slug, pid)

    def rollback_once_in_flight() -> Any:
        def in_flight() -> bool:
            environment = EnvironmentRepository.find(pid, PRODUCTION)
            return environment is not None and bool(environment.in_flight)

        poll(in_flight, 10, interval=0.002)
        return deployments.rollback(org.slug, pid, first)

    # The rollback is sent at once (it usually wins), then just after the new deployment is recorded
    for rollback_call in (lambda: deployments.rollback(org.slug, pid, first), rollback_once_in_flight):
        # When a rollback to the first build races the trigger of a new one
        rollback, triggered = _race(
            [rollback_call, lambda: deployments.trigger(org.slug, pid, None, "integration-test")]
        )

        # Then the rollback either happened before the new deployment started, or was refused
        assert isinstance(rollback, (RolledBack, Conflict)), repr(rollback)
        assert isinstance(triggered, deployments.DeploymentView), repr(triggered)
        newest = int(triggered.deployment.id)
        assert pipeline.wait_terminal(newest).status == "deployed"
        # And once it is live, the new deployment is what production serves, everywhere
        assert _assert_one_deployment_named(org.slug, project, pipeline) == newest
        environment = EnvironmentRepository.find(pid, PRODUCTION)
        assert environment is not None and not environment.in_flight
