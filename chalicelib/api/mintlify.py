"""Mintlify's preview API (base path /v1): preview and update triggers, and their status.

The organization's API key is the Bearer token; errors are {"error": "..."}. Triggers share the
organization's "previews" budget (5 per minute); the status endpoint is counted in the hourly "api" bucket.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.http import CONTENT_TYPES, json_body, json_response, parse, path_id
from chalicelib.api.metering import Meter, metered
from chalicelib.api.timestamps import iso
from chalicelib.errors import DomainError, RateLimited, Unprocessable
from chalicelib.services import auth, previews
from chalicelib.services import mintlify as service
from chalicelib.services.mintlify import UpdateStatus

mintlify = Blueprint(__name__)


def render_error(status: int, error: DomainError) -> Response:
    if isinstance(error, RateLimited):
        status = 429
    elif isinstance(error, Unprocessable):  # an unknown branch: Mintlify's only client error is 400
        status = 400
    return json_response(status, {"error": error.message})


def _caller(meter: Meter) -> auth.Principal:
    principal = auth.authenticate(mintlify.current_request.headers.get("authorization"))
    principal.require("deployments:write")
    return meter.identify(principal)


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


@mintlify.route("/project/preview/{project_id}", methods=["POST"], content_types=CONTENT_TYPES)
@metered("previews", render_error)
def trigger_preview(meter: Meter, project_id: str) -> Response:
    from chalicelib.services.inputs import MintlifyPreviewRequest  # pydantic: loaded with the first body

    principal = _caller(meter)
    body = parse(MintlifyPreviewRequest, json_body(mintlify.current_request))
    pid = path_id(project_id, "project")
    previews.check_trigger(principal.org_slug, pid)
    with meter.counting():
        triggered = service.trigger_preview(principal.org_slug, pid, body.branch, f"api-key:{principal.key_id}")
    return json_response(202, {"statusId": triggered.status_id, "previewUrl": triggered.preview_url})


@mintlify.route("/project/update/{project_id}", methods=["POST"], content_types=CONTENT_TYPES)
@metered("previews", render_error)
def trigger_update(meter: Meter, project_id: str) -> Response:
    principal = _caller(meter)
    pid = path_id(project_id, "project")
    json_body(mintlify.current_request)  # a body is optional, but a malformed one is still a 400
    service.check_update(principal.org_slug, pid)
    with meter.counting():
        status_id = service.trigger_update(principal.org_slug, pid, f"api-key:{principal.key_id}")
    return json_response(202, {"statusId": status_id})


@mintlify.route("/project/update-status/{status_id}", methods=["GET"])
@metered("api", render_error)
def update_status(meter: Meter, status_id: str) -> Response:
    principal = auth.authenticate(mintlify.current_request.headers.get("authorization"))
    principal.require("deployments:read")
    meter.identify(principal)
    return json_response(200, status_json(service.update_status(principal.org_slug, status_id)))
