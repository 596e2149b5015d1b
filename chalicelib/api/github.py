"""GitHub's deployments API (the GitHub Enterprise convention: base URL /api/v3).

Every view is registered through `endpoint`, which authenticates, counts the request against the
organization's rate limit, renders domain errors in GitHub's shape and puts the x-ratelimit-* headers
on every response, errors included. Views import their body's model themselves, so pydantic loads
with the first body to validate, not on a cold start.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote, urlencode

from chalice import Blueprint, Response
from chalice.app import Request

from chalicelib.api.http import CONTENT_TYPES, error_boundary, json_response, load_json, path_id, public_api_url
from chalicelib.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthenticated
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import Environment
from chalicelib.models.project import Project
from chalicelib.services import auth, rate_limits
from chalicelib.services import github as rules
from chalicelib.services.github import DeploymentFilters, StatusView, ValidationFailed
from chalicelib.services.integers import ascii_integer
from chalicelib.services.listing import Page
from chalicelib.services.rate_limits import RateLimitState

if TYPE_CHECKING:
    from pydantic import BaseModel

github = Blueprint(__name__)

DOCS = "https://docs.github.com/rest"
View = Callable[..., Response]
M = TypeVar("M", bound="BaseModel")


# Errors and headers


def render_error(status: int, error: DomainError) -> Response:
    body: dict[str, Any]
    if isinstance(error, ValidationFailed):
        body = {"message": "Validation Failed", "errors": error.errors}
    elif status == 422:
        body = {"message": "Validation Failed", "errors": [_error_item("Repository", error, "custom")]}
    elif status == 400:
        body = {"message": "Problems parsing JSON"}
    elif isinstance(error, rate_limits.RateLimited):
        body = {"message": error.message}
    elif isinstance(error, Unauthenticated):
        body = {
            "message": "Requires authentication" if error.message == "Requires authentication" else "Bad credentials"
        }
    elif isinstance(error, Forbidden):
        body = {"message": f"Resource not accessible by this API key ({error.message})"}
    elif isinstance(error, NotFound):
        body = {"message": "Not Found"}
    elif isinstance(error, Conflict):
        body = {"message": error.message}
    else:
        body = {"message": "Server Error"}
    body["documentation_url"] = DOCS
    return json_response(status, body)


def _error_item(resource: str, error: DomainError, code: str) -> dict[str, str]:
    return {"resource": resource, "field": error.field or "", "code": code, "message": error.message}


guarded = error_boundary(render_error)


def _with_rate_limits(response: Response, limits: RateLimitState | None) -> Response:
    if limits is None:
        return response
    response.headers.update(rate_limits.headers(limits))
    return response


def _client_address(request: Request) -> str:
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def endpoint(path: str, method: str, scope: str) -> Callable[[View], View]:
    """Register `view(principal, **path_params)` at `path` behind authentication, a scope and the rate limit."""

    def decorate(view: View) -> View:
        def admitted(limits: list[RateLimitState], params: dict[str, str]) -> Response:
            request = github.current_request
            admission = rules.admit(request.headers.get("authorization"), _client_address(request))
            limits.append(admission.limits)
            principal = admission.principal()
            principal.require(scope)
            return view(principal, **params)

        @functools.wraps(view)
        def handler(**params: str) -> Response:
            limits: list[RateLimitState] = []
            response = guarded(admitted)(limits, params)
            return _with_rate_limits(response, limits[0] if limits else None)

        github.route(path, methods=[method], content_types=CONTENT_TYPES)(handler)
        return handler

    return decorate


# Request parsing


def _body(request: Request) -> dict[str, Any]:
    raw = request.raw_body
    if not raw or not raw.strip():
        return {}
    try:
        body = load_json(raw)
    except InvalidInput as exc:
        raise InvalidInput("Problems parsing JSON") from exc
    if not isinstance(body, dict):
        raise InvalidInput("Problems parsing JSON")
    return body


def _parse(model: type[M], resource: str, body: dict[str, Any]) -> M:
    from pydantic import ValidationError  # loaded already: `model` is a pydantic model

    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "body"
        code = "missing_field" if first.get("type") == "missing" else "invalid"
        raise ValidationFailed(resource, field, code, f"{field}: {first.get('msg', 'invalid')}") from exc


def _query(request: Request, resource: str) -> dict[str, str]:
    """Query parameters; a parameter given twice is not a string, so it is invalid."""
    params: Any = request.query_params or {}
    single: dict[str, str] = {}
    for name in params:
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        if len(values) > 1:
            raise ValidationFailed(resource, name, "invalid", f"{name} must be given once")
        single[name] = values[0]
    return single


def _paging(query: Mapping[str, str], resource: str) -> tuple[int, int]:
    def number(name: str, default: int, highest: int | None) -> int:
        raw = query.get(name)
        if raw is None or raw == "":
            return default
        number = ascii_integer(raw, digits=10)
        if number is None or not 1 <= number <= (highest or 10**9):
            limit = f" between 1 and {highest}" if highest else " of 1 or more"
            raise ValidationFailed(resource, name, "invalid", f"{name} must be an integer{limit}")
        return number

    return number("page", 1, None), number("per_page", rules.DEFAULT_PER_PAGE, rules.MAX_PER_PAGE)


def _link_header(url: str, query: Mapping[str, str], page: Page[Any]) -> dict[str, str]:
    """GitHub's Link header (next, last, first, prev); none when one page holds everything."""
    last = page.last_page

    def link(number: int, rel: str) -> str:
        params = {**query, "per_page": str(page.per_page), "page": str(number)}
        return f'<{url}?{urlencode(params)}>; rel="{rel}"'

    links = []
    if page.page < last:
        links += [link(page.page + 1, "next"), link(last, "last")]
    if page.page > 1:
        links += [link(min(page.page - 1, last), "prev"), link(1, "first")]
    return {"Link": ", ".join(links)} if links else {}


# Serialization


def _base() -> str:
    return f"{_site()}/api/v3"


def _site() -> str:
    return public_api_url(github.current_request)


def _time(value: str | None) -> str | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, number: int | str) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


def _stable_id(text: str) -> int:
    """A numeric id for things deployd names only by slug (organizations, its own bot)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big")


def user_json(login: str, kind: str = "Organization") -> dict[str, Any]:
    base, site = _base(), _site()
    user = f"{base}/users/{login}"
    return {
        "name": None,
        "email": None,
        "login": login,
        "id": _stable_id(f"{kind}:{login}"),
        "node_id": _node_id(kind, login),
        "avatar_url": f"{site}/avatars/{login}",
        "gravatar_id": "",
        "url": user,
        "html_url": f"{site}/{login}",
        "followers_url": f"{user}/followers",
        "following_url": f"{user}/following{{/other_user}}",
        "gists_url": f"{user}/gists{{/gist_id}}",
        "starred_url": f"{user}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{user}/subscriptions",
        "organizations_url": f"{user}/orgs",
        "repos_url": f"{user}/repos",
        "events_url": f"{user}/events{{/privacy}}",
        "received_events_url": f"{user}/received_events",
        "type": kind,
        "site_admin": False,
    }


def _creator(project: Project, creator: str | None) -> dict[str, Any]:
    if creator == rules.DEPLOYD_CREATOR:
        return user_json("deployd[bot]", "Bot")
    return user_json(project.org_slug)


def _repo_url(project: Project) -> str:
    return f"{_base()}/repos/{project.org_slug}/{project.slug}"


def repository_json(project: Project) -> dict[str, Any]:
    url = _repo_url(project)
    return {
        "id": int(project.id),
        "node_id": _node_id("Repository", int(project.id)),
        "name": project.slug,
        "full_name": f"{project.org_slug}/{project.slug}",
        "owner": user_json(project.org_slug),
        "private": True,
        "visibility": "private",
        "description": project.name,
        "fork": False,
        "archived": False,
        "disabled": False,
        "url": url,
        "html_url": f"{_site()}/{project.org_slug}/{project.slug}",
        "clone_url": project.repo_url,
        "deployments_url": f"{url}/deployments",
        "environments_url": f"{url}/environments",
        "default_branch": project.default_branch,
        "created_at": _time(project.created_at),
        "updated_at": _time(project.updated_at),
        "pushed_at": _time(project.updated_at),
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
    }


def deployment_json(project: Project, d: Deployment) -> dict[str, Any]:
    url = f"{_repo_url(project)}/deployments/{int(d.id)}"
    payload: Any = d.payload if d.payload_is_text else json.loads(d.payload or "{}")
    return {
        "url": url,
        "id": int(d.id),
        "node_id": _node_id("Deployment", int(d.id)),
        "sha": d.commit_sha,
        "ref": d.branch,
        "task": d.task,
        "payload": payload,
        "original_environment": d.original_environment or d.environment,
        "environment": d.environment,
        "description": d.description,
        "creator": _creator(project, d.triggered_by),
        "created_at": _time(d.created_at),
        "updated_at": _time(d.updated_at),
        "statuses_url": f"{url}/statuses",
        "repository_url": _repo_url(project),
        "transient_environment": bool(d.transient_environment),
        "production_environment": bool(d.production_environment),
        "performed_via_github_app": None,
    }


def status_json(project: Project, view: StatusView) -> dict[str, Any]:
    s, d = view.status, view.deployment
    deployment_url = f"{_repo_url(project)}/deployments/{int(d.id)}"
    return {
        "url": f"{deployment_url}/statuses/{int(s.id)}",
        "id": int(s.id),
        "node_id": _node_id("DeploymentStatus", int(s.id)),
        "state": s.state,
        "creator": _creator(project, s.creator),
        "description": s.description or "",
        "environment": s.environment,
        "target_url": s.target_url or "",
        "created_at": _time(s.created_at),
        "updated_at": _time(s.updated_at),
        "deployment_url": deployment_url,
        "repository_url": _repo_url(project),
        "environment_url": s.environment_url or "",
        "log_url": s.log_url or "",
        "performed_via_github_app": None,
    }


def environment_json(project: Project, e: Environment) -> dict[str, Any]:
    number = int(e.id) if e.id is not None else 0
    rules_: list[dict[str, Any]] = []
    if e.wait_timer:
        rules_.append(
            {
                "id": number * 10 + 1,
                "node_id": _node_id("Gate", f"{number}:wait"),
                "type": "wait_timer",
                "wait_timer": int(e.wait_timer),
            }
        )
    if e.reviewers:
        rules_.append(
            {
                "id": number * 10 + 2,
                "node_id": _node_id("Gate", f"{number}:reviewers"),
                "type": "required_reviewers",
                "prevent_self_review": bool(e.prevent_self_review),
                "reviewers": [{"type": r["type"], "reviewer": {"id": r["id"]}} for r in json.loads(e.reviewers)],
            }
        )
    return {
        "id": number,
        "node_id": _node_id("Environment", number),
        "name": e.name,
        "url": f"{_repo_url(project)}/environments/{quote(e.name, safe='')}",
        "html_url": (
            f"{_site()}/{project.org_slug}/{project.slug}/deployments/activity_log"
            f"?environments_filter={quote(e.name, safe='')}"
        ),
        "created_at": _time(e.created_at) or _time(e.updated_at),
        "updated_at": _time(e.updated_at) or _time(e.created_at),
        "protection_rules": rules_,
        "deployment_branch_policy": json.loads(e.deployment_branch_policy) if e.deployment_branch_policy else None,
    }


def _creator_of(principal: auth.Principal) -> str:
    return f"api-key:{principal.key_id}"


# Routes

REPO = "/repos/{owner}/{repo}"


@endpoint(REPO, "GET", "projects:read")
def get_repository(principal: auth.Principal, owner: str, repo: str) -> Response:
    return json_response(200, repository_json(rules.repository(principal, owner, repo)))


@endpoint(f"{REPO}/deployments", "GET", "deployments:read")
def list_deployments(principal: auth.Principal, owner: str, repo: str) -> Response:
    project = rules.repository(principal, owner, repo)
    query = _query(github.current_request, "Deployment")
    page, per_page = _paging(query, "Deployment")
    filters = DeploymentFilters(
        sha=query.get("sha"), ref=query.get("ref"), task=query.get("task"), environment=query.get("environment")
    )
    result = rules.list_deployments(project, filters, page, per_page)
    headers = _link_header(f"{_repo_url(project)}/deployments", _without_paging(query), result)
    return json_response(200, [deployment_json(project, d) for d in result.items], headers)


def _without_paging(query: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in query.items() if k not in ("page", "per_page")}


@endpoint(f"{REPO}/deployments", "POST", "deployments:write")
def create_deployment(principal: auth.Principal, owner: str, repo: str) -> Response:
    from chalicelib.services.inputs import GithubDeploymentCreate

    project = rules.repository(principal, owner, repo)
    body = _parse(GithubDeploymentCreate, "Deployment", _body(github.current_request))
    deployment = rules.create_deployment(project, body, _creator_of(principal))
    return json_response(201, deployment_json(project, deployment))


@endpoint(REPO + "/deployments/{deployment_id}", "GET", "deployments:read")
def get_deployment(principal: auth.Principal, owner: str, repo: str, deployment_id: str) -> Response:
    project = rules.repository(principal, owner, repo)
    deployment = rules.get_deployment(project, path_id(deployment_id, "deployment"))
    return json_response(200, deployment_json(project, deployment))


@endpoint(REPO + "/deployments/{deployment_id}", "DELETE", "deployments:write")
def delete_deployment(principal: auth.Principal, owner: str, repo: str, deployment_id: str) -> Response:
    project = rules.repository(principal, owner, repo)
    rules.delete_deployment(project, path_id(deployment_id, "deployment"))
    return json_response(204, None)


@endpoint(REPO + "/deployments/{deployment_id}/statuses", "GET", "deployments:read")
def list_statuses(principal: auth.Principal, owner: str, repo: str, deployment_id: str) -> Response:
    project = rules.repository(principal, owner, repo)
    number = path_id(deployment_id, "deployment")
    query = _query(github.current_request, "DeploymentStatus")
    page, per_page = _paging(query, "DeploymentStatus")
    result = rules.list_statuses(project, number, page, per_page)
    headers = _link_header(f"{_repo_url(project)}/deployments/{number}/statuses", _without_paging(query), result)
    return json_response(200, [status_json(project, s) for s in result.items], headers)


@endpoint(REPO + "/deployments/{deployment_id}/statuses", "POST", "deployments:write")
def create_status(principal: auth.Principal, owner: str, repo: str, deployment_id: str) -> Response:
    from chalicelib.services.inputs import GithubStatusCreate

    project = rules.repository(principal, owner, repo)
    number = path_id(deployment_id, "deployment")
    body = _parse(GithubStatusCreate, "DeploymentStatus", _body(github.current_request))
    view = rules.create_status(project, number, body, _creator_of(principal))
    return json_response(201, status_json(project, view))


@endpoint(REPO + "/deployments/{deployment_id}/statuses/{status_id}", "GET", "deployments:read")
def get_status(principal: auth.Principal, owner: str, repo: str, deployment_id: str, status_id: str) -> Response:
    project = rules.repository(principal, owner, repo)
    view = rules.get_status(project, path_id(deployment_id, "deployment"), path_id(status_id, "status"))
    return json_response(200, status_json(project, view))


@endpoint(f"{REPO}/environments", "GET", "projects:read")
def list_environments(principal: auth.Principal, owner: str, repo: str) -> Response:
    project = rules.repository(principal, owner, repo)
    query = _query(github.current_request, "Environment")
    page, per_page = _paging(query, "Environment")
    result = rules.list_environments(project, page, per_page)
    headers = _link_header(f"{_repo_url(project)}/environments", _without_paging(query), result)
    body = {"total_count": result.total, "environments": [environment_json(project, e) for e in result.items]}
    return json_response(200, body, headers)


@endpoint(REPO + "/environments/{name}", "GET", "projects:read")
def get_environment(principal: auth.Principal, owner: str, repo: str, name: str) -> Response:
    project = rules.repository(principal, owner, repo)
    return json_response(200, environment_json(project, rules.get_environment(project, unquote(name))))


@endpoint(REPO + "/environments/{name}", "PUT", "projects:write")
def put_environment(principal: auth.Principal, owner: str, repo: str, name: str) -> Response:
    from chalicelib.services.inputs import GithubEnvironmentUpdate

    project = rules.repository(principal, owner, repo)
    body = _parse(GithubEnvironmentUpdate, "Environment", _body(github.current_request))
    return json_response(200, environment_json(project, rules.put_environment(project, unquote(name), body)))


@endpoint(REPO + "/environments/{name}", "DELETE", "projects:write")
def delete_environment(principal: auth.Principal, owner: str, repo: str, name: str) -> Response:
    project = rules.repository(principal, owner, repo)
    rules.delete_environment(project, unquote(name))
    return json_response(204, None)
