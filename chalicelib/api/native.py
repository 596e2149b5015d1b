"""The native API (Miaobu-style) under /api/v1/public: projects and deployments of the key's organization.

Single objects are wrapped as {"data": {...}}, lists as {"data": [...], "meta": {...}}; errors are
{"error": {"code", "message", "field"?}}. A view imports the services it calls itself, and its body arrives validated
by the model its `body` parameter names (chalicelib.services.inputs, imported for type checking only): the API's cold
start declares every route but loads a service with the first request that calls it, and pydantic with the first
that has a body to validate. Each route declares its answers for the OpenAPI document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from chalice import Response

from chalicelib.api import dialects, native_deploy_hooks, native_promotions, native_slack, native_webhooks
from chalicelib.api.dialect import Caller, Many, One
from chalicelib.api.http import int_param, json_response, paged, path_id
from chalicelib.api.timestamps import iso
from chalicelib.errors import InvalidInput
from chalicelib.models.environment import PRODUCTION
from chalicelib.models.project_reads import ProjectKeys
from chalicelib.services.integers import ascii_integer

if TYPE_CHECKING:
    from chalicelib.api.answers import (
        LogsJson,
        PreviewJson,
        PreviewTriggeredJson,
        ProjectJson,
        PromotionRef,
        RollbackJson,
        WhoamiJson,
    )
    from chalicelib.services.inputs import DeploymentTrigger, PreviewTrigger, ProjectCreate, ProjectUpdate
    from chalicelib.services.previews import Preview
    from chalicelib.services.projects import ProjectView

dialect = dialects.native
# Routes declared in their own modules.
__all__ = ["dialect", "native_deploy_hooks", "native_promotions", "native_slack", "native_webhooks"]


def project_json(view: ProjectView) -> ProjectJson:
    p = view.project
    return {
        "id": p.id,
        "name": p.name,
        "slug": p.slug,
        "repo_url": p.repo_url,
        "default_branch": p.default_branch,
        "build_command": p.build_command,
        "output_dir": p.output_dir,
        "build_timeout_seconds": p.build_timeout_seconds,
        "preview_rebuild_schedule": p.preview_rebuild_schedule,
        "preview_rebuild_skip_unchanged": bool(p.preview_rebuild_skip_unchanged),
        "preview_ttl_hours": p.preview_ttl_hours,
        "health_check_path": p.health_check_path,
        "auto_rollback": bool(p.auto_rollback),
        "production_url": view.production_url,
        "active_deployment_id": view.active_deployment_id,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
    }


def _data(status: int, payload: Any) -> Response:
    return json_response(status, {"data": payload})


@dialect.route("/whoami", methods=["GET"], scope=None, answers={200: One("WhoamiJson")})
def whoami(caller: Caller) -> Response:
    """The calling key: its organization, id and scopes (any valid key may ask; `deployd whoami`)."""
    principal = caller.principal
    who: WhoamiJson = {"org": principal.org_slug, "key_id": principal.key_id, "scopes": sorted(principal.scopes)}
    return _data(200, who)


@dialect.route("/projects", methods=["POST"], scope="projects:write", answers={201: One("ProjectJson")}, errors=(409,))
def create_project(caller: Caller, body: ProjectCreate) -> Response:
    """Create a project of the key's organization."""
    from chalicelib.services import projects

    principal = caller.principal
    return _data(201, project_json(projects.create(principal.org_slug, body)))


@dialect.route("/projects", methods=["GET"], scope="projects:read", answers={200: Many("ProjectJson", "Total")})
def list_projects(caller: Caller) -> Response:
    """List the organization's projects."""
    from chalicelib.services import projects

    principal = caller.principal
    items = [project_json(v) for v in projects.list_all(principal.org_slug)]
    return json_response(200, {"data": items, "meta": {"total": len(items)}})


@dialect.route("/projects/{project_id}", methods=["GET"], scope="projects:read", answers={200: One("ProjectJson")})
def get_project(caller: Caller, project_id: str) -> Response:
    """Get a project."""
    from chalicelib.services import projects

    principal = caller.principal
    return _data(200, project_json(projects.get(principal.org_slug, path_id(project_id, "project"))))


@dialect.route(
    "/projects/{project_id}",
    methods=["PATCH"],
    scope="projects:write",
    answers={200: One("ProjectJson")},
    errors=(409,),
)
def update_project(caller: Caller, project_id: str, body: ProjectUpdate) -> Response:
    """Change a project's settings: only the fields sent."""
    from chalicelib.services import projects

    principal = caller.principal
    pid = path_id(project_id, "project")
    return _data(200, project_json(projects.update(principal.org_slug, pid, body)))


@dialect.route("/projects/{project_id}", methods=["DELETE"], scope="projects:write", answers={204: None}, errors=(409,))
def delete_project(caller: Caller, project_id: str) -> Response:
    """Delete a project, its deployments and its sites."""
    from chalicelib.services import projects

    principal = caller.principal
    projects.delete(principal.org_slug, path_id(project_id, "project"))
    return json_response(204, None)


def _project_and_production(params: dict[str, str]) -> ProjectKeys | None:
    """A page of deployments reads its project and production (to mark the deployment production serves)."""
    project_id = ascii_integer(params["project_id"])
    return ProjectKeys(project_id, None, PRODUCTION) if project_id is not None else None


def _deployment_and_production(params: dict[str, str]) -> ProjectKeys | None:
    """One deployment reads its project, itself and production (whether production serves it)."""
    project_id, deployment_id = ascii_integer(params["project_id"]), ascii_integer(params["deployment_id"])
    if project_id is None or deployment_id is None:
        return None  # the view answers 404 for the id that names nothing
    return ProjectKeys(project_id, deployment_id, PRODUCTION)


def _deployment(params: dict[str, str]) -> ProjectKeys | None:
    """A build log reads its project and its deployment."""
    keys = _deployment_and_production(params)
    return ProjectKeys(keys.project_id, keys.deployment_id) if keys is not None else None


@dialect.route(
    "/projects/{project_id}/deployments",
    methods=["GET"],
    scope="deployments:read",
    query="Paging",
    answers={200: Many("DeploymentJson", "Paged")},
    reads=_project_and_production,
)
def list_deployments(caller: Caller, project_id: str) -> Response:
    """List a project's deployments, newest first."""
    from chalicelib.services import deployments
    from chalicelib.services.native_json import deployment_json

    principal = caller.principal
    query: Any = dialect.current_request.query_params or {}
    page = deployments.list_page(
        principal.org_slug,
        path_id(project_id, "project"),
        int_param(query.get("page"), "page", 1),
        int_param(query.get("per_page"), "per_page", deployments.DEFAULT_PER_PAGE),
        caller.read,
    )
    return json_response(200, {"data": [deployment_json(v) for v in page.items], "meta": paged(page)})


@dialect.route(
    "/projects/{project_id}/deployments",
    methods=["POST"],
    scope="deployments:write",
    bucket="triggers",
    answers={201: One("DeploymentJson")},
    errors=(409, 422),
)
def trigger_deployment(caller: Caller, project_id: str, body: DeploymentTrigger) -> Response:
    """Deploy a branch (the project's default when none is named) to production."""
    from chalicelib.services import deployments, projects
    from chalicelib.services.native_json import deployment_json

    principal = caller.principal
    pid = path_id(project_id, "project")
    project = projects.require(principal.org_slug, pid)  # a request for a project that is not there consumes nothing
    with caller.meter.counting():
        view = deployments.trigger(
            principal.org_slug, pid, body.branch, f"api-key:{principal.key_id}", "api", project=project
        )
    return _data(201, deployment_json(view))


@dialect.route(
    "/projects/{project_id}/deployments/{deployment_id}",
    methods=["GET"],
    scope="deployments:read",
    answers={200: One("DeploymentJson")},
    reads=_deployment_and_production,
    reads_all=True,
)
def get_deployment(caller: Caller, project_id: str, deployment_id: str) -> Response:
    """Get a deployment."""
    from chalicelib.services import deployments
    from chalicelib.services.native_json import deployment_json

    principal = caller.principal
    view = deployments.view(
        principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment"), caller.read
    )
    return _data(200, deployment_json(view))


@dialect.route(
    "/projects/{project_id}/deployments/{deployment_id}/logs",
    methods=["GET"],
    scope="deployments:read",
    answers={200: One("LogsJson")},
    query="LogOffset",
    reads=_deployment,
)
def get_logs(caller: Caller, project_id: str, deployment_id: str) -> Response:
    """`offset` (bytes, default 0) returns the log from there on, and `next_offset` is the one to ask for next:
    a client polling with it sees every line once (the CLI's `logs --follow`)."""
    from chalicelib.services import deployments

    principal = caller.principal
    query: Any = dialect.current_request.query_params or {}
    offset = int_param(query.get("offset"), "offset", 0)
    result = deployments.logs(
        principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment"), caller.read
    )
    end = result.log.end
    if not 0 <= offset <= end:
        raise InvalidInput(f"offset must be between 0 and {end}, the log's length so far", field="offset")
    logs: LogsJson = {
        "deployment_id": result.deployment.id,
        "status": result.deployment.status,
        "build_logs": result.log.since(offset),
        "error_message": result.deployment.error_message,
        "offset": offset,
        "next_offset": end,
    }
    return _data(200, logs)


@dialect.route(
    "/projects/{project_id}/deployments/{deployment_id}/cancel",
    methods=["POST"],
    scope="deployments:write",
    answers={200: One("DeploymentJson")},
    errors=(409,),
)
def cancel_deployment(caller: Caller, project_id: str, deployment_id: str) -> Response:
    """Cancel a deployment that has not finished."""
    from chalicelib.services import deployments
    from chalicelib.services.native_json import deployment_json

    principal = caller.principal
    view = deployments.cancel(principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment"))
    return _data(200, deployment_json(view))


@dialect.route(
    "/projects/{project_id}/deployments/{deployment_id}/rollback",
    methods=["POST"],
    scope="deployments:write",
    answers={200: One("RollbackJson")},
    errors=(409,),
)
def rollback_deployment(caller: Caller, project_id: str, deployment_id: str) -> Response:
    """Serve an earlier deployment in production again: a promotion, answered once it switched or ended (at most
    10 s); `promotion` names it (docs/promotions.md)."""
    from chalicelib.services import deployments
    from chalicelib.services.native_json import deployment_json

    principal = caller.principal
    view = deployments.rollback(
        principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment")
    )
    promotion: PromotionRef | None = None
    if view.promotion is not None:
        promotion = {"id": view.promotion.id, "status": view.promotion.status}
    answer: RollbackJson = {**deployment_json(view.view), "promotion": promotion}
    return _data(200, answer)


# Previews


def preview_json(preview: Preview) -> PreviewJson:
    from chalicelib.services.deployments import DeploymentView
    from chalicelib.services.native_json import deployment_json

    active_id = preview.environment.active_deployment_id
    latest = preview.latest
    return {
        "branch": preview.branch,
        "preview_url": preview.url,
        "latest_deployment": (
            deployment_json(DeploymentView(latest, active_id is not None and latest.id == active_id))
            if latest is not None
            else None
        ),
        "active_deployment_id": active_id,
        "last_built_at": iso(preview.last_built_at),
    }


def _branch_param(branch: str) -> str:
    # "feature%2Flogin": API Gateway and Chalice's local server may hand the segment over still encoded.
    return unquote(branch)


@dialect.route(
    "/projects/{project_id}/previews",
    methods=["GET"],
    scope="deployments:read",
    answers={200: Many("PreviewJson", "Total")},
)
def list_previews(caller: Caller, project_id: str) -> Response:
    """List a project's previews (one per branch)."""
    from chalicelib.services import previews

    principal = caller.principal
    items = [preview_json(p) for p in previews.list_previews(principal.org_slug, path_id(project_id, "project"))]
    return json_response(200, {"data": items, "meta": {"total": len(items)}})


@dialect.route(
    "/projects/{project_id}/previews",
    methods=["POST"],
    scope="deployments:write",
    bucket="previews",
    answers={202: One("PreviewTriggeredJson")},
    errors=(409, 422),
)
def trigger_preview(caller: Caller, project_id: str, body: PreviewTrigger) -> Response:
    """Build a branch's preview."""
    from chalicelib.services import previews, projects
    from chalicelib.services.native_json import deployment_json

    principal = caller.principal
    pid = path_id(project_id, "project")
    previews.check_trigger(principal.org_slug, pid)
    with caller.meter.counting():
        view = previews.trigger(principal.org_slug, pid, body.branch, f"api-key:{principal.key_id}", "api")
    project = projects.get(principal.org_slug, pid).project
    triggered: PreviewTriggeredJson = {
        "branch": body.branch,
        "preview_url": previews.preview_url(project, body.branch),
        "deployment": deployment_json(view),
    }
    return _data(202, triggered)


@dialect.route(
    "/projects/{project_id}/previews/{branch}",
    methods=["GET"],
    scope="deployments:read",
    answers={200: One("PreviewJson")},
)
def get_preview(caller: Caller, project_id: str, branch: str) -> Response:
    """Get a branch's preview."""
    from chalicelib.services import previews

    principal = caller.principal
    preview = previews.get(principal.org_slug, path_id(project_id, "project"), _branch_param(branch))
    return _data(200, preview_json(preview))


@dialect.route(
    "/projects/{project_id}/previews/{branch}", methods=["DELETE"], scope="deployments:write", answers={204: None}
)
def delete_preview(caller: Caller, project_id: str, branch: str) -> Response:
    """Delete a branch's preview and its sites."""
    from chalicelib.services import previews

    principal = caller.principal
    previews.remove(principal.org_slug, path_id(project_id, "project"), _branch_param(branch))
    return json_response(204, None)
