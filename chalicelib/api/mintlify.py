"""Mintlify's preview API (base path /v1): preview and update triggers, and their status.

The organization's API key is the Bearer token; errors are {"error": "..."}. Triggers share the
organization's "previews" budget (5 per minute); the status endpoint is counted in the hourly "api" bucket.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller
from chalicelib.api.http import json_body, json_response, parse, path_id
from chalicelib.api.timestamps import iso

if TYPE_CHECKING:
    from chalicelib.services.mintlify import UpdateStatus


dialect = dialects.mintlify


def status_json(view: UpdateStatus) -> dict[str, Any]:
    d = view.deployment
    return {
        "_id": str(d.id),
        "projectId": str(d.project_id),
        "status": view.status,
        "summary": view.summary,
        "createdAt": iso(d.created_at),
        "endedAt": iso(d.finished_at),
        "logs": view.logs,
        "author": d.commit_author,
        "commit": {"sha": d.commit_sha, "ref": d.branch, "message": d.commit_message},
        "source": d.source,
    }


@dialect.route("/project/preview/{project_id}", methods=["POST"], scope="deployments:write", bucket="previews")
def trigger_preview(caller: Caller, project_id: str) -> Response:
    from chalicelib.services import mintlify as service
    from chalicelib.services import previews
    from chalicelib.services.inputs import MintlifyPreviewRequest  # pydantic: loaded with the first body

    principal = caller.principal
    body = parse(MintlifyPreviewRequest, json_body(dialect.current_request))
    pid = path_id(project_id, "project")
    previews.check_trigger(principal.org_slug, pid)
    with caller.meter.counting():
        triggered = service.trigger_preview(principal.org_slug, pid, body.branch, f"api-key:{principal.key_id}")
    return json_response(202, {"statusId": triggered.status_id, "previewUrl": triggered.preview_url})


@dialect.route("/project/update/{project_id}", methods=["POST"], scope="deployments:write", bucket="previews")
def trigger_update(caller: Caller, project_id: str) -> Response:
    from chalicelib.services import mintlify as service

    principal = caller.principal
    pid = path_id(project_id, "project")
    json_body(dialect.current_request)  # a body is optional, but a malformed one is still a 400
    service.check_update(principal.org_slug, pid)
    with caller.meter.counting():
        status_id = service.trigger_update(principal.org_slug, pid, f"api-key:{principal.key_id}")
    return json_response(202, {"statusId": status_id})


@dialect.route("/project/update-status/{status_id}", methods=["GET"], scope="deployments:read")
def update_status(caller: Caller, status_id: str) -> Response:
    from chalicelib.services import mintlify as service

    principal = caller.principal
    return json_response(200, status_json(service.update_status(principal.org_slug, status_id)))
