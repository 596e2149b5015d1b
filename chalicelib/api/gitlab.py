"""GitLab's deployments API under /api/v4 (python-gitlab's convention), over the one ledger.

Routes parse GitLab's parameters (services/gitlab_params.py), call services/gitlab.py and render GitLab's
JSON: deployments with `iid`, `user`, `environment` and `deployable`, pagination headers (X-Total...,
Link), and GitLab's error bodies, {"message": ...} or Grape's {"error": ...}. The rules live in the
services; docs/gitlab.md has the user's view.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from chalice import Blueprint, Response

from chalicelib.api.http import CONTENT_TYPES, json_response, load_json, path_id, public_api_url
from chalicelib.api.metering import Meter, metered
from chalicelib.api.timestamps import gitlab_time
from chalicelib.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unprocessable,
)
from chalicelib.services import auth, statuses
from chalicelib.services import gitlab as service
from chalicelib.services import gitlab_views as views
from chalicelib.services.gitlab_params import DeploymentCreate, DeploymentUpdate, ListQuery, Paging
from chalicelib.services.gitlab_views import GitLabDeployment, Person, ProjectResource
from chalicelib.services.listing import Page
from chalicelib.vocabulary import Status

gitlab = Blueprint(__name__)

# A deployment deployd builds is shown with a job (`deployable`); its queued state is a pending job.
JOB_STATUS = {**statuses.GITLAB_STATUS, Status.QUEUED: "pending"}


def render_error(status: int, error: DomainError) -> Response:
    """GitLab's error bodies: {"message": "401 Unauthorized"}-style for auth and missing resources,
    Grape's {"error": "x is missing"} for bad parameters (an InvalidInput naming its field), model
    validation errors as {"message": {"ref": [...]}}, and {"message": text} for refused state changes."""
    if isinstance(error, Unauthenticated):
        return json_response(401, {"message": "401 Unauthorized"})
    if isinstance(error, RateLimited):
        return json_response(429, {"message": "429 Too Many Requests"})
    if isinstance(error, Forbidden):
        return json_response(403, {"message": "403 Forbidden"})
    if isinstance(error, NotFound):
        return json_response(404, {"message": "404 Project Not Found" if error.field == "project" else "404 Not found"})
    if isinstance(error, Unprocessable):
        if error.field in ("ref", "sha"):
            return json_response(400, {"message": {error.field: [error.message]}})
        return json_response(400, {"message": error.message})
    if isinstance(error, InvalidInput) and error.field:
        return json_response(400, {"error": error.message})
    if status >= 500:
        return json_response(500, {"message": "500 Internal Server Error"})
    return json_response(status, {"message": error.message})


# Every response carries the organization's hourly "api" bucket headers, as the native API's do.
guarded = metered("api", render_error)


def _principal(meter: Meter, scope: str) -> auth.Principal:
    headers = gitlab.current_request.headers
    private_token = headers.get("private-token")
    principal = auth.authenticate(f"Bearer {private_token}" if private_token else headers.get("authorization"))
    principal.require(scope)
    return meter.identify(principal)


def _fields() -> dict[str, Any]:
    """The request's parameters: a JSON object (python-gitlab) or a form (curl --data), as GitLab takes both."""
    request = gitlab.current_request
    raw = request.raw_body or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not text.strip():
        return {}
    if (request.headers.get("content-type") or "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        body = load_json(text)
    except InvalidInput as exc:
        raise InvalidInput("message body does not match declared format", field="body") from exc
    if not isinstance(body, dict):
        raise InvalidInput("message body does not match declared format", field="body")
    return body


def _query() -> dict[str, str]:
    params: Any = gitlab.current_request.query_params or {}
    return {name: params[name] for name in params}


# ---- serializers ----


def user_json(person: Person) -> dict[str, Any]:
    return {
        "id": person.id,
        "name": person.name,
        "username": person.username,
        "state": "active" if person.active else "blocked",
        "avatar_url": None,
        "web_url": f"{public_api_url(gitlab.current_request)}/{person.username}",
    }


def _commit_json(item: GitLabDeployment) -> dict[str, Any]:
    d = item.deployment
    message = d.commit_message or ""
    return {
        "id": d.commit_sha,
        "short_id": d.commit_sha[:8],
        "title": message.splitlines()[0] if message else "",
        "message": message,
        "author_name": d.commit_author,
        "author_email": None,  # not recorded by the ledger
        "created_at": None,
    }


def _deployable_json(item: GitLabDeployment) -> dict[str, Any] | None:
    """The build, as GitLab's job; deployments reported by an external deployer have none (null)."""
    d = item.deployment
    if not d.managed:
        return None
    return {
        "id": d.id,
        "status": JOB_STATUS[d.status],
        "stage": "deploy",
        "name": d.task,
        "ref": d.branch,
        "tag": d.ref_type == "tag",
        "coverage": None,
        "allow_failure": False,
        "created_at": gitlab_time(d.created_at),
        "started_at": gitlab_time(d.started_at),
        "finished_at": gitlab_time(d.finished_at),
        "duration": float(d.build_time_seconds) if d.build_time_seconds is not None else None,
        "queued_duration": None,
        "user": user_json(item.user),
        "commit": _commit_json(item),
        "pipeline": None,
        "runner": None,
        "artifacts": [],
        "web_url": statuses.logs_url(d),
    }


def deployment_json(item: GitLabDeployment) -> dict[str, Any]:
    d = item.deployment
    return {
        "id": d.id,
        "iid": d.seq,
        "ref": d.branch,
        "sha": d.commit_sha,
        "status": views.gitlab_status(d),
        "created_at": gitlab_time(d.created_at),
        "updated_at": gitlab_time(d.updated_at),
        "user": user_json(item.user),
        "environment": {"id": item.environment_id, "name": d.environment, "external_url": item.external_url},
        "deployable": _deployable_json(item),
    }


def project_json(resource: ProjectResource) -> dict[str, Any]:
    p, org = resource.project, resource.organization
    api_url = public_api_url(gitlab.current_request)
    return {
        "id": p.id,
        "description": None,
        "name": p.name,
        "name_with_namespace": f"{org.name} / {p.name}",
        "path": p.slug,
        "path_with_namespace": f"{p.org_slug}/{p.slug}",
        "created_at": gitlab_time(p.created_at),
        "last_activity_at": gitlab_time(p.updated_at),
        "default_branch": p.default_branch,
        "visibility": "private",
        "archived": False,
        "empty_repo": False,
        "topics": [],
        "tag_list": [],
        "ssh_url_to_repo": None,
        "http_url_to_repo": p.repo_url,
        "web_url": resource.production_url,
        "readme_url": None,
        "avatar_url": None,
        "forks_count": 0,
        "star_count": 0,
        "namespace": {
            "id": views.namespace_id(p.org_slug),
            "name": org.name,
            "path": p.org_slug,
            "kind": "group",
            "full_path": p.org_slug,
            "parent_id": None,
            "avatar_url": None,
            "web_url": f"{api_url}/{p.org_slug}",
        },
    }


def _pagination_headers(listing: Page[GitLabDeployment], project_id: int) -> dict[str, str]:
    base = public_api_url(gitlab.current_request)
    query = {k: v for k, v in _query().items() if k not in ("page", "per_page")}

    def url(page: int) -> str:
        params = urlencode({**query, "page": page, "per_page": listing.per_page})
        return f"{base}/api/v4/projects/{project_id}/deployments?{params}"

    last = listing.last_page
    following = listing.page + 1 if listing.page < last else None
    previous = listing.page - 1 if 1 < listing.page <= last + 1 else None
    links = [(following, "next"), (previous, "prev"), (1, "first"), (last, "last")]
    return {
        "X-Total": str(listing.total),
        "X-Total-Pages": str(last),
        "X-Page": str(listing.page),
        "X-Per-Page": str(listing.per_page),
        "X-Next-Page": str(following or ""),
        "X-Prev-Page": str(previous or ""),
        "Link": ", ".join(f'<{url(page)}>; rel="{rel}"' for page, rel in links if page is not None),
    }


# ---- routes ----


@gitlab.route("/projects/{project_id}", methods=["GET"])
@guarded
def get_project(meter: Meter, project_id: str) -> Response:
    principal = _principal(meter, "projects:read")
    return json_response(200, project_json(views.get_project(principal.org_slug, project_id)))


@gitlab.route("/projects/{project_id}/deployments", methods=["GET"])
@guarded
def list_deployments(meter: Meter, project_id: str) -> Response:
    principal = _principal(meter, "deployments:read")
    query = ListQuery.parse(_query())
    listing = service.list_deployments(principal.org_slug, project_id, query)
    headers = _pagination_headers(listing.page, listing.project.id)
    return json_response(200, [deployment_json(item) for item in listing.page.items], headers)


@gitlab.route("/projects/{project_id}/deployments", methods=["POST"], content_types=CONTENT_TYPES)
@guarded
def create_deployment(meter: Meter, project_id: str) -> Response:
    principal = _principal(meter, "deployments:write")
    body = DeploymentCreate.parse(_fields())
    item = service.create_deployment(principal.org_slug, principal.key_id, project_id, body)
    return json_response(201, deployment_json(item))


@gitlab.route("/projects/{project_id}/deployments/{deployment_id}", methods=["GET"])
@guarded
def get_deployment(meter: Meter, project_id: str, deployment_id: str) -> Response:
    principal = _principal(meter, "deployments:read")
    item = service.get_deployment(principal.org_slug, project_id, path_id(deployment_id, "deployment"))
    return json_response(200, deployment_json(item))


@gitlab.route("/projects/{project_id}/deployments/{deployment_id}", methods=["PUT"], content_types=CONTENT_TYPES)
@guarded
def update_deployment(meter: Meter, project_id: str, deployment_id: str) -> Response:
    principal = _principal(meter, "deployments:write")
    body = DeploymentUpdate.parse(_fields())
    item = service.update_deployment(
        principal.org_slug, principal.key_id, project_id, path_id(deployment_id, "deployment"), body
    )
    return json_response(200, deployment_json(item))


@gitlab.route("/projects/{project_id}/deployments/{deployment_id}", methods=["DELETE"])
@guarded
def delete_deployment(meter: Meter, project_id: str, deployment_id: str) -> Response:
    principal = _principal(meter, "deployments:write")
    service.delete_deployment(principal.org_slug, project_id, path_id(deployment_id, "deployment"))
    return json_response(202, {"message": "202 Accepted"})


@gitlab.route("/projects/{project_id}/deployments/{deployment_id}/merge_requests", methods=["GET"])
@guarded
def deployment_merge_requests(meter: Meter, project_id: str, deployment_id: str) -> Response:
    principal = _principal(meter, "deployments:read")
    paging = Paging.parse(_query())
    found = service.merge_requests(principal.org_slug, project_id, path_id(deployment_id, "deployment"))
    headers = {"X-Total": str(len(found)), "X-Total-Pages": "1", "X-Page": str(paging.page)}
    return json_response(
        200, found, {**headers, "X-Per-Page": str(paging.per_page), "X-Next-Page": "", "X-Prev-Page": ""}
    )
