"""GitLab project hooks on the embedded stack through python-gitlab over real HTTP: registered, listed, changed and
deleted as `project.hooks` does it, refused in GitLab's words, and delivered to a receiver on loopback as GitLab's
Deployment Hook (running once, then success; canceled) for deployments made through the GitLab API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import gitlab
import pytest
import requests
from gitlab import exceptions

from tests.support.polling import wait_until
from tests.support.receiver import Receiver, running


def _client(stack: Any, headers: dict[str, str]) -> gitlab.Gitlab:
    token = headers["Authorization"].removeprefix("Bearer ")
    return gitlab.Gitlab(stack.api_url, private_token=token)


def _hooks_told(receiver: Receiver) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Each Deployment Hook the receiver got (headers, body), once per X-Gitlab-Event-UUID (at least once)."""
    seen: dict[str, tuple[dict[str, str], dict[str, Any]]] = {}
    for request in list(receiver.received):
        headers = {name.lower(): value for name, value in request.headers.items()}
        seen.setdefault(headers["x-gitlab-event-uuid"], (headers, json.loads(request.body)))
    return list(seen.values())


def test_python_gitlab_registers_lists_changes_and_deletes_a_project_hook_that_never_shows_its_token(
    stack, api_key, repo_factory, project_factory, org_factory
):
    # Given a project seen through python-gitlab
    org_slug, headers = api_key
    project = project_factory(org_slug, repo_factory()).project
    gl = _client(stack, headers)
    gl_project = gl.projects.get(project.id)

    # When a hook for deployment events is created with a token
    hook = gl_project.hooks.create({"url": "http://127.0.0.1:9/hook", "token": "t0k", "deployment_events": True})

    # Then it reads as GitLab's project hook: GitLab's defaults for what was not given, and no token anywhere
    assert hook.url == "http://127.0.0.1:9/hook" and hook.project_id == project.id
    assert hook.deployment_events is True and hook.push_events is True and hook.enable_ssl_verification is True
    assert hook.pipeline_events is False and hook.tag_push_events is False
    assert hook.alert_status == "executable" and hook.disabled_until is None and hook.url_variables == []
    assert "token" not in hook.attributes and "t0k" not in json.dumps(hook.attributes)
    assert isinstance(hook.created_at, str) and hook.created_at.endswith("Z")

    # And it is listed on its project, and read back by id and by the project's path
    assert [h.id for h in gl_project.hooks.list(get_all=True)] == [hook.id]
    by_path = gl.projects.get(f"{org_slug}/{project.slug}", lazy=True)
    assert by_path.hooks.get(hook.id).attributes == hook.attributes

    # When python-gitlab saves a change (it sends url and what changed)
    hook.push_events = False
    hook.name = "deploys"
    hook.save()

    # Then only that changed
    again = gl_project.hooks.get(hook.id)
    assert again.push_events is False and again.name == "deploys" and again.deployment_events is True

    # And bad parameters are GitLab's 400s, naming the parameter
    path = f"/projects/{project.id}/hooks"
    for body, message in [
        ({"deployment_events": True}, "url is missing"),
        ({"url": "ftp://example.com/hook"}, "url is blocked: Only allowed schemes are http, https"),
        ({"url": "http://example.com/hook", "deployment_events": "sometimes"}, "deployment_events is invalid"),
        ({"url": "http://example.com/hook", "custom_webhook_template": "{}"}, "custom_webhook_template is not"),
    ]:
        with pytest.raises(exceptions.GitlabHttpError) as refused:
            gl.http_post(path, post_data=body)
        assert refused.value.response_code == 400, body
        assert refused.value.error_message.startswith(message), refused.value.error_message

    # And another organization sees neither the project nor its hooks
    other = org_factory()
    from chalicelib.services import organizations

    stranger = organizations.create_key(other.slug, "ci", None).token
    response = requests.get(
        f"{stack.api_url}/api/v4/projects/{project.id}/hooks/{hook.id}", headers={"PRIVATE-TOKEN": stranger}, timeout=10
    )
    assert response.status_code == 404 and response.json() == {"message": "404 Project Not Found"}

    # When it is deleted
    gl_project.hooks.delete(hook.id)

    # Then it is gone
    with pytest.raises(exceptions.GitlabGetError) as gone:
        gl_project.hooks.get(hook.id)
    assert gone.value.response_code == 404 and gl_project.hooks.list(get_all=True) == []


def test_a_deployment_made_through_the_gitlab_api_reaches_a_project_hook_as_running_then_success(
    stack, api_key, repo_factory, project_factory
):
    # Given a project deployd builds, with a hook for deployment events and one for pushes only
    org_slug, headers = api_key
    repo = repo_factory()
    sha = repo.commit({"index.html": "<h1>v2</h1>"}, "Second page\n\nwith a body")
    project = project_factory(org_slug, repo).project
    gl_project = _client(stack, headers).projects.get(project.id)
    with running() as receiver, running() as pushes_only:
        gl_project.hooks.create({"url": receiver.url(), "token": "t0k", "deployment_events": True})
        gl_project.hooks.create({"url": pushes_only.url(), "push_events": True})

        # When a GitLab client creates a deployment, which deployd builds and puts live
        deployment = gl_project.deployments.create(
            {"environment": "production", "sha": sha, "ref": "main", "tag": False, "status": "created"}
        )

        # Then the hook gets one Deployment Hook for running and one for success (the later build steps are all
        # running: no news), with the token
        def both() -> list[tuple[dict[str, str], dict[str, Any]]]:
            told = _hooks_told(receiver)
            return told if {body["status"] for _, body in told} == {"running", "success"} else []

        told = wait_until(both, timeout=30, what="the success Deployment Hook")
        assert sorted(body["status"] for _, body in told) == ["running", "success"]
        for hook_headers, body in told:
            assert hook_headers["x-gitlab-event"] == "Deployment Hook"
            assert hook_headers["x-gitlab-token"] == "t0k"
            assert uuid.UUID(hook_headers["x-gitlab-event-uuid"]).version == 5
            assert body["object_kind"] == "deployment" and body["deployment_id"] == deployment.id
            assert body["deployable_id"] == deployment.id and body["deployable_url"].endswith("/logs")
            assert body["environment"] == "production" and body["environment_slug"] == "production"
            assert body["environment_tier"] == "production"
            assert body["environment_external_url"] == deployment.environment["external_url"]
            assert body["short_sha"] == sha[:8] and body["commit_title"] == "Second page" and body["ref"] == "main"
            assert body["commit_url"] is None  # a repository on this machine has no commit page
            assert body["user"]["username"] == deployment.user["username"] and body["user"]["email"] is None
            assert body["user_url"].endswith(f"/{deployment.user['username']}")
            assert body["project"]["id"] == project.id
            assert body["project"]["path_with_namespace"] == f"{org_slug}/{project.slug}"
            assert body["project"]["default_branch"] == "main" and body["project"]["visibility_level"] == 0
            assert body["status_changed_at"].endswith(" +0000")
        # and the hook that did not ask for deployment events got nothing
        assert len(pushes_only) == 0


def test_a_deployment_cancelled_through_the_gitlab_api_reaches_the_hook_as_canceled(
    stack, api_key, repo_factory, project_factory, gates: Callable[..., Any]
):
    # Given a project whose build waits for the test, and a hook without a token
    org_slug, headers = api_key
    repo = repo_factory()
    project = project_factory(org_slug, repo, build_command=gates.command, output_dir="dist").project
    gl_project = _client(stack, headers).projects.get(project.id)
    with running() as receiver:
        gl_project.hooks.create({"url": receiver.url(), "deployment_events": True})
        deployment = gl_project.deployments.create(
            {"environment": "production", "sha": repo.head, "ref": "main", "tag": False, "status": "created"}
        )
        wait_until(lambda: gates.started(deployment.id), timeout=30, what="the build to start")

        # When the GitLab client cancels it
        deployment.status = "canceled"
        deployment.save()

        # Then the hook hears running, then canceled, and no token header (the hook has none)
        def canceled() -> list[tuple[dict[str, str], dict[str, Any]]]:
            told = _hooks_told(receiver)
            return told if {body["status"] for _, body in told} == {"running", "canceled"} else []

        told = wait_until(canceled, timeout=30, what="the canceled Deployment Hook")
        assert sorted(body["status"] for _, body in told) == ["canceled", "running"]
        assert all("x-gitlab-token" not in hook_headers for hook_headers, _ in told)
