"""GitHub's JSON for the routes: services/github_json.py's builders (shared with the webhook payloads) with the
public base URL of the request being answered.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.api.github_http import dialect
from chalicelib.api.http import public_api_url

if TYPE_CHECKING:
    from chalicelib.models.deployment import Deployment
    from chalicelib.models.environment import Environment
    from chalicelib.models.project import Project
    from chalicelib.services.github import StatusView


def base_url() -> str:
    return f"{site_url()}/api/v3"


def site_url() -> str:
    return public_api_url(dialect.current_request)


def user_json(login: str, kind: str = "Organization") -> dict[str, Any]:
    from chalicelib.services import github_json as render

    return render.user_json(site_url(), login, kind)


def repo_url(project: Project) -> str:
    from chalicelib.services import github_json as render

    return render.repo_url(site_url(), project)


def repository_json(project: Project) -> dict[str, Any]:
    from chalicelib.services import github_json as render

    return render.repository_json(site_url(), project)


def deployment_json(project: Project, d: Deployment) -> dict[str, Any]:
    from chalicelib.services import github_json as render

    return render.deployment_json(site_url(), project, d)


def status_json(project: Project, view: StatusView) -> dict[str, Any]:
    from chalicelib.services import github_json as render

    return render.status_json(site_url(), project, view)


def environment_json(project: Project, e: Environment) -> dict[str, Any]:
    from chalicelib.services import github_json as render

    return render.environment_json(site_url(), project, e)
