"""GitHub's environments routes (/repos/{owner}/{repo}/environments)."""

from __future__ import annotations

from urllib.parse import unquote

from chalice import Response

from chalicelib.api.dialect import Caller
from chalicelib.api.github_http import (
    REPO,
    dialect,
    link_header,
    paging,
    parse_body,
    parse_model,
    query_params,
    without_paging,
)
from chalicelib.api.github_json import environment_json, repo_url
from chalicelib.api.http import json_response


@dialect.route(f"{REPO}/environments", methods=["GET"], scope="projects:read")
def list_environments(caller: Caller, owner: str, repo: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    project = rules.repository(principal, owner, repo)
    query = query_params(dialect.current_request, "Environment")
    page, per_page = paging(query, "Environment")
    result = rules.list_environments(project, page, per_page)
    headers = link_header(f"{repo_url(project)}/environments", without_paging(query), result)
    body = {"total_count": result.total, "environments": [environment_json(project, e) for e in result.items]}
    return json_response(200, body, headers)


@dialect.route(REPO + "/environments/{name}", methods=["GET"], scope="projects:read")
def get_environment(caller: Caller, owner: str, repo: str, name: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    project = rules.repository(principal, owner, repo)
    return json_response(200, environment_json(project, rules.get_environment(project, unquote(name))))


@dialect.route(REPO + "/environments/{name}", methods=["PUT"], scope="projects:write")
def put_environment(caller: Caller, owner: str, repo: str, name: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    from chalicelib.services.inputs import GithubEnvironmentUpdate

    project = rules.repository(principal, owner, repo)
    body = parse_model(GithubEnvironmentUpdate, "Environment", parse_body(dialect.current_request))
    return json_response(200, environment_json(project, rules.put_environment(project, unquote(name), body)))


@dialect.route(REPO + "/environments/{name}", methods=["DELETE"], scope="projects:write")
def delete_environment(caller: Caller, owner: str, repo: str, name: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    project = rules.repository(principal, owner, repo)
    rules.delete_environment(project, unquote(name))
    return json_response(204, None)
