"""GitHub's repository and deployments routes (GET/POST /repos/{owner}/{repo}/deployments, GET/DELETE one)."""

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
from chalicelib.api.github_json import deployment_json, repo_url, repository_json
from chalicelib.api.http import json_response, path_id


@dialect.route(REPO, methods=["GET"], scope="projects:read")
def get_repository(caller: Caller, owner: str, repo: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    return json_response(200, repository_json(rules.repository(principal, owner, repo)))


@dialect.route(f"{REPO}/deployments", methods=["GET"], scope="deployments:read")
def list_deployments(caller: Caller, owner: str, repo: str) -> Response:
    from chalicelib.services import github as rules
    from chalicelib.services.github import DeploymentFilters

    principal = caller.principal
    project = rules.repository(principal, owner, repo)
    query = query_params(dialect.current_request, "Deployment")
    page, per_page = paging(query, "Deployment")
    filters = DeploymentFilters(
        sha=query.get("sha"), ref=query.get("ref"), task=query.get("task"), environment=query.get("environment")
    )
    result = rules.list_deployments(project, filters, page, per_page)
    headers = link_header(f"{repo_url(project)}/deployments", without_paging(query), result)
    return json_response(200, [deployment_json(project, d) for d in result.items], headers)


@dialect.route(f"{REPO}/deployments", methods=["POST"], scope="deployments:write")
def create_deployment(caller: Caller, owner: str, repo: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    from chalicelib.services.inputs import GithubDeploymentCreate

    project = rules.repository(principal, owner, repo)
    body = parse_model(GithubDeploymentCreate, "Deployment", parse_body(dialect.current_request))
    deployment = rules.create_deployment(project, body, creator_of(principal))
    return json_response(201, deployment_json(project, deployment))


@dialect.route(REPO + "/deployments/{deployment_id}", methods=["GET"], scope="deployments:read")
def get_deployment(caller: Caller, owner: str, repo: str, deployment_id: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    project = rules.repository(principal, owner, repo)
    deployment = rules.get_deployment(project, path_id(deployment_id, "deployment"))
    return json_response(200, deployment_json(project, deployment))


@dialect.route(REPO + "/deployments/{deployment_id}", methods=["DELETE"], scope="deployments:write")
def delete_deployment(caller: Caller, owner: str, repo: str, deployment_id: str) -> Response:
    from chalicelib.services import github as rules

    principal = caller.principal
    project = rules.repository(principal, owner, repo)
    rules.delete_deployment(project, path_id(deployment_id, "deployment"))
    return json_response(204, None)
