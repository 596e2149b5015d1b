"""GitHub's deployment statuses routes (/repos/{owner}/{repo}/deployments/{id}/statuses)."""

from __future__ import annotations

from chalice import Response

from chalicelib.api.dialect import Caller
from chalicelib.api.github_http import (
    REPO,
    creator_of,
    dialect,
    link_header,
    paging,
    parse_body,
    parse_model,
    query_params,
    without_paging,
)
from chalicelib.api.github_json import repo_url, status_json
from chalicelib.api.http import json_response, path_id


@dialect.route(REPO + "/deployments/{deployment_id}/statuses", methods=["GET"], scope="deployments:read")
def list_statuses(caller: Caller, owner: str, repo: str, deployment_id: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    project = rules.repository(principal, owner, repo)
    number = path_id(deployment_id, "deployment")
    query = query_params(dialect.current_request, "DeploymentStatus")
    page, per_page = paging(query, "DeploymentStatus")
    result = rules.list_statuses(project, number, page, per_page)
    headers = link_header(f"{repo_url(project)}/deployments/{number}/statuses", without_paging(query), result)
    return json_response(200, [status_json(project, s) for s in result.items], headers)


@dialect.route(REPO + "/deployments/{deployment_id}/statuses", methods=["POST"], scope="deployments:write")
def create_status(caller: Caller, owner: str, repo: str, deployment_id: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    from chalicelib.services.inputs import GithubStatusCreate

    project = rules.repository(principal, owner, repo)
    number = path_id(deployment_id, "deployment")
    body = parse_model(GithubStatusCreate, "DeploymentStatus", parse_body(dialect.current_request))
    view = rules.create_status(project, number, body, creator_of(principal))
    return json_response(201, status_json(project, view))


@dialect.route(REPO + "/deployments/{deployment_id}/statuses/{status_id}", methods=["GET"], scope="deployments:read")
def get_status(caller: Caller, owner: str, repo: str, deployment_id: str, status_id: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    project = rules.repository(principal, owner, repo)
    view = rules.get_status(project, path_id(deployment_id, "deployment"), path_id(status_id, "status"))
    return json_response(200, status_json(project, view))
