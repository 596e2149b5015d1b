"""GitLab's deployments API under /api/v4 (python-gitlab's convention), over the one ledger.

Routes parse GitLab's parameters (api/gitlab_parsing.py), call services/gitlab.py and render GitLab's
JSON: deployments with `iid`, `user`, `environment` and `deployable`, and pagination headers (X-Total...,
Link); GitLab's error bodies are api/renderers.py's GITLAB. The rules live in the services; docs/gitlab.md
has the user's view.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller
from chalicelib.api.http import json_response, load_json, path_id, public_api_url
from chalicelib.api.timestamps import gitlab_time
from chalicelib.errors import InvalidInput
from chalicelib.vocabulary import Status

if TYPE_CHECKING:
    from chalicelib.models.webhook import Webhook
    from chalicelib.services.gitlab_views import GitLabDeployment, Person, ProjectResource
    from chalicelib.services.listing import Page

dialect = dialects.gitlab  # every response carries the organization's hourly "api" bucket headers


def _job_status(status: str) -> str:
    """A deployment deployd builds is shown with a job (`deployable`); its queued state is a pending job."""
    from chalicelib.services import statuses

    return "pending" if status == Status.QUEUED else statuses.GITLAB_STATUS[status]


def _fields() -> dict[str, Any]:
    """The request's parameters: a JSON object (python-gitlab) or a form (curl --data), as GitLab takes both."""
    request = dialect.current_request
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
    params: Any = dialect.current_request.query_params or {}
    return {name: params[name] for name in params}


# ---- serializers ----


def user_json(person: Person) -> dict[str, Any]:
    from chalicelib.services import gitlab_views as views

    return views.user_json(person, public_api_url(dialect.current_request))


def _commit_json(item: GitLabDeployment) -> dict[str, Any]:
    from chalicelib.services import gitlab_views as views

    d = item.deployment
    return {
        "id": d.commit_sha,
        "short_id": d.commit_sha[:8],
        "title": views.commit_title(d),
        "message": d.commit_message or "",
        "author_name": d.commit_author,
        "author_email": None,  # not recorded by the ledger
        "created_at": None,
    }


def _deployable_json(item: GitLabDeployment) -> dict[str, Any] | None:
    """The build, as GitLab's job; deployments reported by an external deployer have none (null)."""
    from chalicelib.services import statuses

    d = item.deployment
    if not d.managed:
        return None
    return {
        "id": d.id,
        "status": _job_status(d.status),
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
    from chalicelib.services import gitlab_views as views

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
    from chalicelib.services import gitlab_views as views

    p, org = resource.project, resource.organization
    api_url = public_api_url(dialect.current_request)
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


def hook_json(webhook: Webhook) -> dict[str, Any]:
    """GitLab's project hook, without its token (GitLab never shows it). `alert_status` is `disabled` once
    deployd stopped delivering to it (410 Gone, or failing for days); a PUT turns it on again."""
    from chalicelib.services import gitlab_hooks
    from chalicelib.services.gitlab_params import HOOK_EVENTS

    options = gitlab_hooks.options_of(webhook)
    return {
        "id": webhook.id,
        "url": webhook.url,
        "name": options.get("name"),
        "description": webhook.description,
        "project_id": webhook.project_id,
        "created_at": gitlab_time(webhook.created_at),
        **{name: bool(options[name]) for name in HOOK_EVENTS},
        "push_events_branch_filter": options.get("push_events_branch_filter", ""),
        "branch_filter_strategy": options.get("branch_filter_strategy", "wildcard"),
        "enable_ssl_verification": bool(options["enable_ssl_verification"]),
        "alert_status": "executable" if webhook.active else "disabled",
        "disabled_until": None,
        "url_variables": [],
        "custom_headers": [],
    }


def _pagination_headers(listing: Page[GitLabDeployment], project_id: int) -> dict[str, str]:
    base = public_api_url(dialect.current_request)
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


@dialect.route("/projects/{project_id}", methods=["GET"], scope="projects:read")
def get_project(caller: Caller, project_id: str) -> Response:
    from chalicelib.services import gitlab_views as views

    principal = caller.principal
    return json_response(200, project_json(views.get_project(principal.org_slug, project_id)))


@dialect.route("/projects/{project_id}/deployments", methods=["GET"], scope="deployments:read")
def list_deployments(caller: Caller, project_id: str) -> Response:
    from chalicelib.api import gitlab_parsing as parsing
    from chalicelib.services import gitlab as service

    principal = caller.principal
    query = parsing.list_query(_query())
    listing = service.list_deployments(principal.org_slug, project_id, query)
    headers = _pagination_headers(listing.page, listing.project.id)
    return json_response(200, [deployment_json(item) for item in listing.page.items], headers)


@dialect.route("/projects/{project_id}/deployments", methods=["POST"], scope="deployments:write")
def create_deployment(caller: Caller, project_id: str) -> Response:
    from chalicelib.api import gitlab_parsing as parsing
    from chalicelib.services import gitlab as service

    principal = caller.principal
    body = parsing.deployment_create(_fields())
    item = service.create_deployment(principal.org_slug, principal.key_id, project_id, body)
    return json_response(201, deployment_json(item))


@dialect.route("/projects/{project_id}/deployments/{deployment_id}", methods=["GET"], scope="deployments:read")
def get_deployment(caller: Caller, project_id: str, deployment_id: str) -> Response:
    from chalicelib.services import gitlab as service

    principal = caller.principal
    item = service.get_deployment(principal.org_slug, project_id, path_id(deployment_id, "deployment"))
    return json_response(200, deployment_json(item))


@dialect.route("/projects/{project_id}/deployments/{deployment_id}", methods=["PUT"], scope="deployments:write")
def update_deployment(caller: Caller, project_id: str, deployment_id: str) -> Response:
    from chalicelib.api import gitlab_parsing as parsing
    from chalicelib.services import gitlab as service

    principal = caller.principal
    body = parsing.deployment_update(_fields())
    item = service.update_deployment(
        principal.org_slug, principal.key_id, project_id, path_id(deployment_id, "deployment"), body
    )
    return json_response(200, deployment_json(item))


@dialect.route("/projects/{project_id}/deployments/{deployment_id}", methods=["DELETE"], scope="deployments:write")
def delete_deployment(caller: Caller, project_id: str, deployment_id: str) -> Response:
    from chalicelib.services import gitlab as service

    principal = caller.principal
    service.delete_deployment(principal.org_slug, project_id, path_id(deployment_id, "deployment"))
    return json_response(202, {"message": "202 Accepted"})


@dialect.route(
    "/projects/{project_id}/deployments/{deployment_id}/merge_requests", methods=["GET"], scope="deployments:read"
)
def deployment_merge_requests(caller: Caller, project_id: str, deployment_id: str) -> Response:
    from chalicelib.api import gitlab_parsing as parsing
    from chalicelib.services import gitlab as service

    principal = caller.principal
    paging = parsing.paging(_query())
    found = service.merge_requests(principal.org_slug, project_id, path_id(deployment_id, "deployment"))
    headers = {"X-Total": str(len(found)), "X-Total-Pages": "1", "X-Page": str(paging.page)}
    return json_response(
        200, found, {**headers, "X-Per-Page": str(paging.per_page), "X-Next-Page": "", "X-Prev-Page": ""}
    )


# ---- project hooks ----


@dialect.route("/projects/{project_id}/hooks", methods=["POST"], scope="webhooks:write")
def create_hook(caller: Caller, project_id: str) -> Response:
    from chalicelib.api import gitlab_parsing as parsing
    from chalicelib.services import gitlab_hooks

    fields = parsing.hook_fields(_fields())
    return json_response(201, hook_json(gitlab_hooks.create(caller.principal.org_slug, project_id, fields)))


@dialect.route("/projects/{project_id}/hooks", methods=["GET"], scope="webhooks:read")
def list_hooks(caller: Caller, project_id: str) -> Response:
    from chalicelib.services import gitlab_hooks

    hooks = [hook_json(hook) for hook in gitlab_hooks.list_all(caller.principal.org_slug, project_id)]
    headers = {"X-Total": str(len(hooks)), "X-Total-Pages": "1", "X-Page": "1", "X-Per-Page": str(max(len(hooks), 1))}
    return json_response(200, hooks, {**headers, "X-Next-Page": "", "X-Prev-Page": ""})


@dialect.route("/projects/{project_id}/hooks/{hook_id}", methods=["GET"], scope="webhooks:read")
def get_hook(caller: Caller, project_id: str, hook_id: str) -> Response:
    from chalicelib.services import gitlab_hooks

    hook = gitlab_hooks.get(caller.principal.org_slug, project_id, path_id(hook_id, "hook"))
    return json_response(200, hook_json(hook))


@dialect.route("/projects/{project_id}/hooks/{hook_id}", methods=["PUT"], scope="webhooks:write")
def update_hook(caller: Caller, project_id: str, hook_id: str) -> Response:
    from chalicelib.api import gitlab_parsing as parsing
    from chalicelib.services import gitlab_hooks

    fields = parsing.hook_fields(_fields())
    hook = gitlab_hooks.update(caller.principal.org_slug, project_id, path_id(hook_id, "hook"), fields)
    return json_response(200, hook_json(hook))


@dialect.route("/projects/{project_id}/hooks/{hook_id}", methods=["DELETE"], scope="webhooks:write")
def delete_hook(caller: Caller, project_id: str, hook_id: str) -> Response:
    from chalicelib.services import gitlab_hooks

    gitlab_hooks.delete(caller.principal.org_slug, project_id, path_id(hook_id, "hook"))
    return json_response(204, None)
