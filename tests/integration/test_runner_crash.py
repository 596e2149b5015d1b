"""A runner that crashes fails its deployment in words a user can read, without the platform's internals."""

from __future__ import annotations

from typing import Any

from chalicelib.services import deployments
from chalicelib.workers import build_worker


class _CrashingRunner:
    def run(self, job: Any, reporter: Any) -> Any:
        raise RuntimeError("connect to http://127.0.0.1:5000/internal-endpoint refused (/srv/deployd/secret.py)")


def test_a_crashed_runner_fails_the_deployment_without_repeating_the_exception(
    monkeypatch, org_factory, repo_factory, project_factory, pipeline
):
    # Given a project whose build runner raises with internal details in its message
    org = org_factory()
    project = project_factory(org.slug, repo_factory(files={"index.html": "<p>hi</p>"})).project
    monkeypatch.setattr(build_worker, "runner_for", lambda _deployment: _CrashingRunner())

    # When it is deployed
    view = deployments.trigger(org.slug, int(project.id), None, "integration-test")
    done = pipeline.wait_terminal(int(view.deployment.id))

    # Then it failed saying the platform failed, and nothing of the exception reaches the user
    assert done.status == "failed"
    assert "platform error" in done.error_message
    for internal in ("RuntimeError", "127.0.0.1", "secret.py"):
        assert internal not in done.error_message
