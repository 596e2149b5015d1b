"""The native API (Miaobu-style) under /api/v1/public: projects and deployments of the key's organization.

Single objects are wrapped as {"data": {...}}, lists as {"data": [...], "meta": {...}}; errors are
{"error": {"code", "message", "field"?}}.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import CONTENT_TYPES, error_boundary, int_param, json_body, json_response, parse, path_id
from chalicelib.errors import DomainError
from chalicelib.models.base import iso
from chalicelib.services import auth, deployments, projects
from chalicelib.services.deployments import DeploymentView
from chalicelib.services.inputs import DeploymentTrigger, ProjectCreate, ProjectUpdate
from chalicelib.services.projects import ProjectView

native = Blueprint(__name__)


def render_error(status: int, error: DomainError) -> Response:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    return json_response(status, {"error": body})


guarded = error_boundary(render_error)


def _principal(scope: str) -> auth.Principal:
    principal = auth.authenticate(native.current_request.headers.get("authorization"))
    principal.require(scope)
    return principal


def project_json(view: ProjectView) -> dict[str, Any]:
    p = view.project
    return {
        "id": int(p.id),
        "name": p.name,
        "slug": p.slug,
        "repo_url": p.repo_url,
        "default_branch": p.default_branch,
        "build_command": p.build_command,
        "output_dir": p.output_dir,
        "build_timeout_seconds": int(p.build_timeout_seconds),
        "preview_rebuild_schedule": p.preview_rebuild_schedule,
        "preview_rebuild_skip_unchanged": bool(p.preview_rebuild_skip_unchanged),
        "preview_ttl_hours": int(p.preview_ttl_hours) if p.preview_ttl_hours is not None else None,
        "production_url": view.production_url,
        "active_deployment_id": view.active_deployment_id,
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
    }


def deployment_json(view: DeploymentView) -> dict[str, Any]:
    d = view.deployment
    return {
        "id": int(d.id),
        "project_id": int(d.project_id),
        "commit_sha": d.commit_sha,
        "commit_message": d.commit_message,
        "commit_author": d.commit_author,
        "branch": d.branch,
        "environment": d.environment,
        "status": d.status,
        "is_active": view.is_active,
        "deployment_url": d.deployment_url,
        "build_time_seconds": int(d.build_time_seconds) if d.build_time_seconds is not None else None,
        "error_message": d.error_message,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "deployed_at": iso(d.deployed_at),
    }


def _data(status: int, payload: Any) -> Response:
    return json_response(status, {"data": payload})


@native.route("/projects", methods=["POST"], content_types=CONTENT_TYPES)
@guarded
def create_project() -> Response:
    principal = _principal("projects:write")
    body = parse(ProjectCreate, json_body(native.current_request))
    return _data(201, project_json(projects.create(principal.org_slug, body)))


@native.route("/projects", methods=["GET"])
@guarded
def list_projects() -> Response:
    principal = _principal("projects:read")
    items = [project_json(v) for v in projects.list_all(principal.org_slug)]
    return json_response(200, {"data": items, "meta": {"total": len(items)}})


@native.route("/projects/{project_id}", methods=["GET"])
@guarded
def get_project(project_id: str) -> Response:
    principal = _principal("projects:read")
    return _data(200, project_json(projects.get(principal.org_slug, path_id(project_id, "project"))))


@native.route("/projects/{project_id}", methods=["PATCH"], content_types=CONTENT_TYPES)
@guarded
def update_project(project_id: str) -> Response:
    principal = _principal("projects:write")
    pid = path_id(project_id, "project")
    body = parse(ProjectUpdate, json_body(native.current_request))
    return _data(200, project_json(projects.update(principal.org_slug, pid, body)))


@native.route("/projects/{project_id}", methods=["DELETE"])
@guarded
def delete_project(project_id: str) -> Response:
    principal = _principal("projects:write")
    projects.delete(principal.org_slug, path_id(project_id, "project"))
    return json_response(204, None)


@native.route("/projects/{project_id}/deployments", methods=["GET"])
@guarded
def list_deployments(project_id: str) -> Response:
    principal = _principal("deployments:read")
    query: Any = native.current_request.query_params or {}
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


@native.route("/projects/{project_id}/deployments", methods=["POST"], content_types=CONTENT_TYPES)
@guarded
def trigger_deployment(project_id: str) -> Response:
    principal = _principal("deployments:write")
    pid = path_id(project_id, "project")
    body = parse(DeploymentTrigger, json_body(native.current_request))
    view = deployments.trigger(principal.org_slug, pid, body.branch, triggered_by=f"api-key:{principal.key_id}")
    return _data(201, deployment_json(view))


@native.route("/projects/{project_id}/deployments/{deployment_id}", methods=["GET"])
@guarded
def get_deployment(project_id: str, deployment_id: str) -> Response:
    principal = _principal("deployments:read")
    view = deployments.view(principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment"))
    return _data(200, deployment_json(view))


@native.route("/projects/{project_id}/deployments/{deployment_id}/logs", methods=["GET"])
@guarded
def get_logs(project_id: str, deployment_id: str) -> Response:
    principal = _principal("deployments:read")
    result = deployments.logs(principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment"))
    return _data(
        200,
        {
            "deployment_id": int(result.deployment.id),
            "status": result.deployment.status,
            "build_logs": result.text,
            "error_message": result.deployment.error_message,
        },
    )


@native.route(
    "/projects/{project_id}/deployments/{deployment_id}/cancel", methods=["POST"], content_types=CONTENT_TYPES
)
@guarded
def cancel_deployment(project_id: str, deployment_id: str) -> Response:
    principal = _principal("deployments:write")
    view = deployments.cancel(principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment"))
    return _data(200, deployment_json(view))


@native.route(
    "/projects/{project_id}/deployments/{deployment_id}/rollback", methods=["POST"], content_types=CONTENT_TYPES
)
@guarded
def rollback_deployment(project_id: str, deployment_id: str) -> Response:
    principal = _principal("deployments:write")
    view = deployments.rollback(
        principal.org_slug, path_id(project_id, "project"), path_id(deployment_id, "deployment")
    )
    return _data(200, deployment_json(view))
