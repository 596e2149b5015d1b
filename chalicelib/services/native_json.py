"""The native API's JSON for a deployment and for a promotion: one rendering for the API's answers and the native
webhook bodies, so a receiver sees exactly what the API returns. Their types, `DeploymentJson` and `PromotionJson`
(chalicelib.services.native_json_types), are for mypy and the OpenAPI document only: a request renders without
making them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.services.timestamps import iso

if TYPE_CHECKING:
    from chalicelib.models.promotion import Promotion
    from chalicelib.services.deployments.queries import DeploymentView
    from chalicelib.services.native_json_types import DeploymentJson, PromotionJson


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


def promotion_json(p: Promotion) -> PromotionJson:
    return {
        "id": p.id,
        "project_id": p.project_id,
        "environment": p.environment,
        "from_deployment_id": p.from_deployment_id,  # null: the environment served nothing before
        "to_deployment_id": p.to_deployment_id,
        "reason": p.reason,
        "triggered_by": p.triggered_by,
        "status": p.status,
        "error_message": p.error_message,
        "checks": [
            {
                "target": c.target,
                "url": c.url,
                "attempts": c.attempts,
                "status_code": c.status_code,
                "served_by_deployment_id": c.served_by,
                "ok": bool(c.ok),
                "error": c.error,
                "checked_at": iso(c.checked_at),
            }
            for c in p.checks or []
        ],
        "created_at": iso(p.created_at),
        "updated_at": iso(p.updated_at),
        "switched_at": iso(p.switched_at),
        "finished_at": iso(p.finished_at),
    }
