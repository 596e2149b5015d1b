"""The native API's JSON for a deployment: one rendering for GET /deployments/{id} and the native webhook body,
so a receiver sees exactly what the API returns. Its type, `DeploymentJson` (chalicelib.services.native_json_types),
is for mypy and the OpenAPI document only: a request renders without making it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.services.timestamps import iso

if TYPE_CHECKING:
    from chalicelib.services.deployments.queries import DeploymentView
    from chalicelib.services.native_json_types import DeploymentJson


def deployment_json(view: DeploymentView) -> DeploymentJson:
    d = view.deployment
    return {
        "id": d.id,
        "project_id": d.project_id,
        "commit_sha": d.commit_sha,
        "commit_message": d.commit_message,
        "commit_author": d.commit_author,
        "branch": d.branch,
        "environment": d.environment,
        "status": d.status,
        # Through what it was triggered (api, slack:<team>/<user>, schedule, github, gitlab, mintlify,
        # deploy_hook:<name>); null for deployments recorded before deployd kept it.
        "triggered_by": d.triggered_by,
        "is_active": view.is_active,
        "deployment_url": d.deployment_url,
        "build_time_seconds": d.build_time_seconds,
        "error_message": d.error_message,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "deployed_at": iso(d.deployed_at),
    }
