"""The native API (Miaobu-style) under /api/v1/public: projects and deployments of the key's organization.

Single objects are wrapped as {"data": {...}}, lists as {"data": [...], "meta": {...}}; errors are
{"error": {"code", "message", "field"?}}. A view imports its body's model (chalicelib.services.inputs)
itself, so pydantic loads with the first request that has a body to validate, not on a cold start.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from chalice import Response

from chalicelib.api import dialects, native_deploy_hooks, native_slack, native_webhooks
from chalicelib.api.dialect import Caller
from chalicelib.api.http import int_param, json_body, json_response, parse, path_id
from chalicelib.api.timestamps import iso
from chalicelib.services import deployments, previews, projects
from chalicelib.services.deployments import DeploymentView
from chalicelib.services.native_json import deployment_json
from chalicelib.services.previews import Preview
from chalicelib.services.projects import ProjectView

dialect = dialects.native
__all__ = ["dialect", "native_deploy_hooks", "native_slack", "native_webhooks"]  # routes declared in their own modules


def project_json(view: ProjectView) -> dict[str, Any]:
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
        "production_url": view.production_url,
        "active_deployment_id": view.active_deployment_id,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
    }


def _data(status: int, payload: Any) -> Response:
    return json_response(status, {"data": payload})


@dialect.route("/projects", methods=["POST"], scope="projects:write")
def create_project(caller: Caller) -> Response:
    from chalicelib.services.inputs import ProjectCreate

    principal = caller.principal
    body = parse(ProjectCreate, json_body(dialect.current_request))
    return _data(201, project_json(projects.create(principal.org_slug, body)))


@dialect.route("/projects", methods=["GET"], scope="projects:read")
def list_projects(caller: Caller) -> Response:
    principal = caller.principal
    items = [project_json(v) for v in projects.list_all(principal.org_slug)]
    return json_response(200, {"data": items, "meta": {"total": len(items)}})


@dialect.route("/projects/{project_id}", methods=["GET"], scope="projects:read")
def get_project(caller: Caller, project_id: str) -> Response:
    principal = caller.principal
    return _data(200, project_json(projects.get(principal.org_slug, path_id(project_id, "project"))))


@dialect.route("/projects/{project_id}", methods=["PATCH"], scope="projects:write")
def update_project(caller: Caller, project_id: str) -> Response:
    from chalicelib.services.inputs import ProjectUpdate

    principal = caller.principal
    pid = path_id(project_id, "project")
    body = parse(ProjectUpdate, json_body(dialect.current_request))
    return _data(200, project_json(projects.update(principal.org_slug, pid, body)))


@dialect.route("/projects/{project_id}", methods=["DELETE"], scope="projects:write")
def delete_project(caller: Caller, project_id: str) -> Response:
    principal = caller.principal
    projects.delete(principal.org_slug, path_id(project_id, "project"))
    return json_response(204, None)


@dialect.route("/projects/{project_id}/deployments", methods=["GET"], scope="deployments:read")
def list_deployments(caller: Caller, project_id: str) -> Response:
    principal = caller.principal
    query: Any = dialect.current_request.query_params or {}
    page = deployments.list_page(
        principal.org_slug,
        path_id(project_id, "project"),
        int_param(query.get("page"), "page", 1),
        int_param(query.get("per_page"), "per_page", deployments.DEFAULT_PER_PAGE),
    )
    return json_response(
        200,
        {
            "data": [deployment_json(v) for v in page.items],
            "meta": {
                "page": page.page,
                "per_page": page.per_page,
                "total": page.total,
                "total_pages": page.total_pages,
            },
        },
    )


@dialect.route("/projects/{project_id}/deployments", methods=["POST"], scope="deployments:write", bucket="triggers")
def trigger_deployment(caller: Caller, project_id: str) -> Response:
    from chalicelib.services.inputs import DeploymentTrigger

    principal = caller.principal
    pid = path_id(project_id, "project")
    body = parse(DeploymentTrigger, json_body(dialect.current_request))
    project = projects.require(principal.org_slug, pid)  # a request for a project that is not there consumes nothing
    with caller.meter.counting():
        view = deployments.trigger(
            principal.org_slug, pid, body.branch, f"api-key:{principal.key_id}", "api", project=project
        )
    return _data(201, deployment_json(view))


@dialect.route("/projects/{project_id}/deployments/{deployment_id}", methods=["GET"], scope="deployments:read")
def get_deployment(caller: Caller, project_id: str, deployment_id: str) -> Response:
    principal = caller.principal
    view = deployments.view(principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment"))
    return _data(200, deployment_json(view))


@dialect.route("/projects/{project_id}/deployments/{deployment_id}/logs", methods=["GET"], scope="deployments:read")
def get_logs(caller: Caller, project_id: str, deployment_id: str) -> Response:
    principal = caller.principal
    result = deployments.logs(principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment"))
    return _data(
        200,
        {
            "deployment_id": result.deployment.id,
            "status": result.deployment.status,
            "build_logs": result.text,
            "error_message": result.deployment.error_message,
        },
    )


@dialect.route("/projects/{project_id}/deployments/{deployment_id}/cancel", methods=["POST"], scope="deployments:write")
def cancel_deployment(caller: Caller, project_id: str, deployment_id: str) -> Response:
    principal = caller.principal
    view = deployments.cancel(principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment"))
    return _data(200, deployment_json(view))


@dialect.route(
    "/projects/{project_id}/deployments/{deployment_id}/rollback", methods=["POST"], scope="deployments:write"
)
def rollback_deployment(caller: Caller, project_id: str, deployment_id: str) -> Response:
    principal = caller.principal
    view = deployments.rollback(
        principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment")
    )
    return _data(200, deployment_json(view))


# Previews


def preview_json(preview: Preview) -> dict[str, Any]:
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


@dialect.route("/projects/{project_id}/previews", methods=["GET"], scope="deployments:read")
def list_previews(caller: Caller, project_id: str) -> Response:
    principal = caller.principal
    items = [preview_json(p) for p in previews.list_previews(principal.org_slug, path_id(project_id, "project"))]
    return json_response(200, {"data": items, "meta": {"total": len(items)}})


@dialect.route("/projects/{project_id}/previews", methods=["POST"], scope="deployments:write", bucket="previews")
def trigger_preview(caller: Caller, project_id: str) -> Response:
    from chalicelib.services.inputs import PreviewTrigger

    principal = caller.principal
    pid = path_id(project_id, "project")
    body = parse(PreviewTrigger, json_body(dialect.current_request))
    previews.check_trigger(principal.org_slug, pid)
    with caller.meter.counting():
        view = previews.trigger(principal.org_slug, pid, body.branch, f"api-key:{principal.key_id}", "api")
    project = projects.get(principal.org_slug, pid).project
    return _data(
        202,
        {
            "branch": body.branch,
            "preview_url": previews.preview_url(project, body.branch),
            "deployment": deployment_json(view),
        },
    )


@dialect.route("/projects/{project_id}/previews/{branch}", methods=["GET"], scope="deployments:read")
def get_preview(caller: Caller, project_id: str, branch: str) -> Response:
    principal = caller.principal
    preview = previews.get(principal.org_slug, path_id(project_id, "project"), _branch_param(branch))
    return _data(200, preview_json(preview))


@dialect.route("/projects/{project_id}/previews/{branch}", methods=["DELETE"], scope="deployments:write")
def delete_preview(caller: Caller, project_id: str, branch: str) -> Response:
    principal = caller.principal
    previews.remove(principal.org_slug, path_id(project_id, "project"), _branch_param(branch))
    return json_response(204, None)
