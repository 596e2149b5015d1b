"""A deployment that has ended stays ended: no writer can move it out of cancelled, deployed or failed."""

from __future__ import annotations

import pytest

from chalicelib.adapters import sites
from chalicelib.errors import Conflict
from chalicelib.models.deployment import DeploymentRepository
from chalicelib.models.environment import PRODUCTION, EnvironmentRepository
from chalicelib.services import deployments, projects
from chalicelib.vocabulary import NON_TERMINAL
from tests.support.polling import wait_until


@pytest.fixture
def ended_deployments(org_factory, repo_factory, project_factory, gates, pipeline):
    """A gated project with one deployment live in production and a later one cancelled mid-build."""
    org = org_factory()
    project = project_factory(org.slug, repo_factory(), build_command=gates.command, output_dir="dist").project
    pid = int(project.id)
    live_id = int(deployments.trigger(org.slug, pid, None, "t").deployment.id)
    gates.open(live_id)
    live = pipeline.wait_terminal(live_id)
    assert live.status == "deployed"
    cancelled_id = int(deployments.trigger(org.slug, pid, None, "t").deployment.id)
    wait_until(lambda: gates.started(cancelled_id), timeout=20, what="the build to start")
    deployments.cancel(org.slug, pid, cancelled_id)
    pipeline.wait_execution_end(cancelled_id)
    gates.open(cancelled_id)
    return org, project, live, pipeline.deployment(cancelled_id)


def test_a_cancelled_deployment_cannot_be_moved_on(ended_deployments, pipeline):
    org, project, live, cancelled = ended_deployments
    pid = int(project.id)

    # When the pipeline's writers try to move the cancelled deployment on
    to_deployed = DeploymentRepository.transition(cancelled, NON_TERMINAL, "deployed")
    to_building = DeploymentRepository.transition(cancelled, ("cloning",), "building")
    to_cloning = DeploymentRepository.transition(cancelled, ("queued",), "cloning")
    activated = deployments.activate(pipeline.deployment(int(cancelled.id)))

    # Then every attempt is refused and nothing a user sees changes
    assert (to_deployed, to_building, to_cloning, activated) == (False, False, False, False)
    stored = pipeline.deployment(int(cancelled.id))
    assert stored.status == "cancelled" and stored.deployment_url is None
    own_url = sites.url_for(sites.deployment_label(int(cancelled.id), project.slug, org.slug))
    assert pipeline.served(own_url)[0] == 404
    assert pipeline.served(projects.get(org.slug, pid).production_url)[1] == int(live.id)
    environment = EnvironmentRepository.find(pid, PRODUCTION)
    assert int(environment.active_deployment_id) == int(live.id) and not environment.in_flight
    with pytest.raises(Conflict):
        deployments.cancel(org.slug, pid, int(cancelled.id))
    with pytest.raises(Conflict):
        deployments.rollback(org.slug, pid, int(cancelled.id))


def test_a_deployed_deployment_cannot_be_failed_or_cancelled(ended_deployments, pipeline):
    org, project, live, _cancelled = ended_deployments
    pid = int(project.id)

    # When a late failure report arrives for the live deployment, and someone tries to cancel it
    failed = deployments.record_failure(
        pipeline.deployment(int(live.id)), "a late worker says the build failed", cause="build"
    )
    with pytest.raises(Conflict):
        deployments.cancel(org.slug, pid, int(live.id))
    rebuilt = DeploymentRepository.transition(pipeline.deployment(int(live.id)), NON_TERMINAL, "building")

    # Then it stays deployed, unblemished, and keeps serving production
    assert (failed, rebuilt) == (False, False)
    stored = pipeline.deployment(int(live.id))
    assert (stored.status, stored.error_message, stored.finished_at) == ("deployed", None, live.finished_at)
    assert pipeline.served(projects.get(org.slug, pid).production_url)[:2] == (200, int(live.id))
    assert deployments.view(org.slug, pid, int(live.id)).is_active
