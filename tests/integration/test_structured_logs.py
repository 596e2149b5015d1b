"""Operators find a deployment's story in the logs: every line about it names the deployment and project."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters import executions
from chalicelib.services import deployments
from tests.support.polling import wait_until

LIFECYCLE = (
    "deployment queued",
    "deployment cloning",
    "deployment building",
    "deployment uploading",
    "build succeeded",
    "deployment live",
)
LIFECYCLE_SET = set(LIFECYCLE)


def test_every_line_about_a_deployment_names_it_and_its_project(
    org_factory, repo_factory, project_factory, pipeline, log_lines
):
    # Given a project with one live deployment
    org = org_factory()
    pid = int(project_factory(org.slug, repo_factory()).project.id)
    first = int(pipeline.deploy(org.slug, pid).id)

    # When a second one is deployed (API, build worker and activation threads) and production is rolled back
    second = int(pipeline.deploy(org.slug, pid).id)
    deployments.rollback(org.slug, pid, first)

    # Then its lifecycle is in the log, each line naming the deployment and its project, in JSON
    # (a line is written just after the state it tells of, so the test waits for the whole story)
    def whole_lifecycle() -> list[dict[str, Any]]:
        lines = log_lines.about(second)
        return lines if LIFECYCLE_SET <= {line["message"] for line in lines} else []

    lines = wait_until(whole_lifecycle, timeout=20, what="the second deployment's lifecycle lines")
    assert [m for m in LIFECYCLE if m in {line["message"] for line in lines}] == list(LIFECYCLE)
    assert all(line["project_id"] == pid and line["service"] == "deployd" for line in lines)
    assert all(line["level"] and line["timestamp"] for line in lines)
    live = next(line for line in lines if line["message"] == "deployment live")
    assert live["promoted"] is True and live["deployment_url"] == pipeline.deployment(second).deployment_url
    # (the rollback's switch runs on the promotions worker after the request returns)
    rolled_back = wait_until(
        lambda: next((line for line in log_lines.about(first) if line["message"] == "rolled back production"), None),
        timeout=20,
        what="the rollback's switch to be logged",
    )
    assert rolled_back["project_id"] == pid and rolled_back["previous_deployment_id"] == second
    # and no lifecycle line of this test's deployments went out without naming its deployment
    ours = {first, second}
    for line in log_lines.lines:
        if line["message"] in LIFECYCLE and line.get("project_id") == pid:
            assert line.get("deployment_id") in ours, line


def test_a_failed_heartbeat_is_logged_with_its_deployment(
    org_factory, repo_factory, project_factory, gates, pipeline, log_lines, monkeypatch
):
    # Given a running build whose heartbeats to the state machine fail (throttling, a network blip)
    def unreachable(_token: str) -> bool:
        raise ConnectionError("states endpoint unreachable")

    monkeypatch.setattr(executions, "heartbeat", unreachable)
    org = org_factory()
    pid = int(project_factory(org.slug, repo_factory(), build_command=gates.command, output_dir="dist").project.id)
    did = int(deployments.trigger(org.slug, pid, None, "t").deployment.id)
    wait_until(lambda: gates.started(did), timeout=20, what="the build to start")

    # When the worker logs the failed heartbeat
    failure = wait_until(
        lambda: next((line for line in log_lines.lines if line["message"] == "heartbeat failed"), None),
        timeout=10,
        what="a 'heartbeat failed' log line",
    )
    gates.open(did)
    pipeline.wait_terminal(did)

    # Then the line says which deployment's heartbeat failed
    assert failure.get("deployment_id") == did and failure.get("project_id") == pid, failure
