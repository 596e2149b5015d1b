"""Builds that finish out of order: production always serves the newest build that has gone live."""

from __future__ import annotations

from chalicelib.models.environment import PRODUCTION, EnvironmentRepository
from chalicelib.services import deployments, projects
from tests.support.polling import wait_until


def test_an_older_build_finishing_last_is_deployed_but_does_not_replace_production(
    org_factory, repo_factory, project_factory, gates, pipeline
):
    # Given two builds running at once, the older one triggered first
    org = org_factory()
    project = project_factory(org.slug, repo_factory(), build_command=gates.command, output_dir="dist").project
    pid = int(project.id)
    older = int(deployments.trigger(org.slug, pid, None, "t").deployment.id)
    newer = int(deployments.trigger(org.slug, pid, None, "t").deployment.id)
    for did in (older, newer):
        wait_until(lambda did=did: gates.started(did), timeout=20, what=f"build {did} to start")
    production_url = projects.get(org.slug, pid).production_url

    # When the newer one finishes first
    gates.open(newer)
    assert pipeline.wait_terminal(newer).status == "deployed"
    assert pipeline.served(production_url) == (200, newer, f"deployment {newer}\n")

    # and the older one finishes afterwards
    gates.open(older)
    late = pipeline.wait_terminal(older)

    # Then the older build is deployed at its own URL, and production still serves the newer one
    assert late.status == "deployed"
    assert pipeline.served(late.deployment_url) == (200, older, f"deployment {older}\n")
    assert pipeline.served(production_url) == (200, newer, f"deployment {newer}\n")
    environment = EnvironmentRepository.find(pid, PRODUCTION)
    assert int(environment.active_deployment_id) == newer and not environment.in_flight
    listed = {int(v.deployment.id): v.is_active for v in deployments.list_page(org.slug, pid, 1, 10).items}
    assert listed == {newer: True, older: False}
    assert projects.get(org.slug, pid).active_deployment_id == newer
