"""Cancel racing a build's completion: the deployment ends cancelled or deployed, never something in between."""

from __future__ import annotations

import threading
from typing import Any

from chalicelib.adapters import sites
from chalicelib.errors import Conflict
from chalicelib.models.environment import PRODUCTION, EnvironmentRepository
from chalicelib.services import deployments, projects
from tests.support.polling import poll, wait_until

_STAGES = ("building", "uploading", "deploying", "deployed", "failed", "cancelled")


def _gated_deploy(org_slug: str, pid: int, gates: Any, pipeline: Any) -> Any:
    view = deployments.trigger(org_slug, pid, None, "integration-test")
    did = int(view.deployment.id)
    wait_until(lambda: gates.started(did), timeout=20, what=f"build {did} to start")
    gates.open(did)
    return pipeline.wait_terminal(did)


def _release_and_cancel(org_slug: str, pid: int, did: int, stage: str, gates: Any, pipeline: Any) -> Any:
    """Open the build's gate and, on another thread, cancel as soon as the deployment is seen at `stage`.

    Returns what cancel returned or raised.
    """
    barrier = threading.Barrier(2)
    outcome: dict[str, Any] = {}

    def release() -> None:
        barrier.wait()
        gates.open(did)

    def cancel() -> None:
        barrier.wait()
        reached = _STAGES[_STAGES.index(stage) :]
        # A short interval: the cancel must land right as the stage is reached; the worker and moto run meanwhile.
        poll(lambda: pipeline.deployment(did).status in reached, 20, interval=0.002)
        try:
            outcome["result"] = deployments.cancel(org_slug, pid, did)
        except Exception as exc:  # judged by the test
            outcome["result"] = exc

    threads = [threading.Thread(target=release), threading.Thread(target=cancel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcome["result"]


def test_cancel_racing_completion_ends_cancelled_or_deployed(
    org_factory, repo_factory, project_factory, gates, pipeline
):
    # Given a gated project whose production serves a first build
    org = org_factory()
    project = project_factory(org.slug, repo_factory(), build_command=gates.command, output_dir="dist").project
    pid = int(project.id)
    baseline = _gated_deploy(org.slug, pid, gates, pipeline)
    assert baseline.status == "deployed"
    production_url = projects.get(org.slug, pid).production_url
    live = int(baseline.id)
    cancelled: list[int] = []

    # The cancel is sent as soon as the build is seen in each stage of its end
    for stage in ("building", "uploading", "deploying", "deployed"):
        did = int(deployments.trigger(org.slug, pid, None, "integration-test").deployment.id)
        wait_until(lambda did=did: gates.started(did), timeout=20, what=f"build {did} to start")

        # When the gate opens and a cancel is sent at the same time
        result = _release_and_cancel(org.slug, pid, did, stage, gates, pipeline)
        pipeline.wait_execution_end(did)
        final = pipeline.deployment(did)
        environment = EnvironmentRepository.find(pid, PRODUCTION)
        own_url = sites.url_for(sites.deployment_label(did, project.slug, org.slug))

        # Then the end state is one of the two, consistent with what cancel answered
        if isinstance(result, deployments.DeploymentView):
            assert result.deployment.status == "cancelled" and not result.is_active
            assert final.status == "cancelled", f"cancel succeeded (at {stage}) but the deployment is {final.status}"
            assert final.deployment_url is None
            assert pipeline.served(own_url)[0] == 404
            assert pipeline.served(production_url)[1] == live
            cancelled.append(did)
        else:
            assert isinstance(result, Conflict), f"cancel raised {result!r}"
            assert final.status == "deployed", f"cancel was refused (at {stage}) but the deployment is {final.status}"
            assert pipeline.served(own_url)[:2] == (200, did)
            assert pipeline.served(production_url)[1] == did
            live = did
        assert environment is not None and did not in (environment.in_flight or set())
        assert int(environment.active_deployment_id) == live

    # And a later deployment still goes live, while no cancelled one ever did
    after = _gated_deploy(org.slug, pid, gates, pipeline)
    assert after.status == "deployed"
    assert pipeline.served(production_url)[:2] == (200, int(after.id))
    assert cancelled, "no cancel won its race: the test exercised only one outcome"
    for did in cancelled:
        assert pipeline.deployment(did).status == "cancelled"
        assert pipeline.served(sites.url_for(sites.deployment_label(did, project.slug, org.slug)))[0] == 404
    environment = EnvironmentRepository.find(pid, PRODUCTION)
    assert environment is not None and not environment.in_flight


def test_cancel_of_a_queued_build_never_runs_it(org_factory, repo_factory, project_factory, gates, pipeline):
    # Given both build workers busy with gated builds, so a third deployment waits in the queue
    org = org_factory()
    pid = int(project_factory(org.slug, repo_factory(), build_command=gates.command, output_dir="dist").project.id)
    busy = [int(deployments.trigger(org.slug, pid, None, "t").deployment.id) for _ in range(2)]
    for did in busy:
        wait_until(lambda did=did: gates.started(did), timeout=20, what=f"build {did} to start")
    waiting = int(deployments.trigger(org.slug, pid, None, "t").deployment.id)

    # When it is cancelled before any worker claims it
    view = deployments.cancel(org.slug, pid, waiting)
    gates.open_all()

    # Then it never builds, and the other two go live
    assert view.deployment.status == "cancelled"
    for did in busy:
        assert pipeline.wait_terminal(did).status == "deployed"
    pipeline.wait_execution_end(waiting)
    pipeline.wait_builds_drained()
    assert not gates.started(waiting)
    assert pipeline.deployment(waiting).status == "cancelled"
    environment = EnvironmentRepository.find(pid, PRODUCTION)
    assert environment is not None and not environment.in_flight
