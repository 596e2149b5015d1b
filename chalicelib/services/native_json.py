"""The native API's JSON for a deployment and for a promotion: one rendering for the API's answers and the native
webhook bodies, so a receiver sees exactly what the API returns. Their types, `DeploymentJson` and `PromotionJson`,
are what the OpenAPI document describes (chalicelib.api.answers has the other answers' types)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from typing_extensions import TypedDict  # pydantic reads only this one on Python 3.11

from chalicelib.models import promotion
from chalicelib.services.timestamps import iso
from chalicelib.vocabulary import Status

if TYPE_CHECKING:  # the API's cold start loads the answers' types, not the deployments' reads
    from chalicelib.services.deployments.queries import DeploymentView


class JsonSchema:
    """Metadata of an annotated type adding JSON Schema keywords (a format, an enumeration, bounds) to the schema
    pydantic derives for it. It validates nothing: the types it annotates describe answers, and the requests'
    models state their own limits."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(core_schema), **self.keywords}


# ISO 8601 in UTC with an explicit offset (chalicelib.services.timestamps.iso).
Timestamp = Annotated[str, JsonSchema(format="date-time")]
DeploymentStatus = Annotated[str, JsonSchema(enum=[str(status) for status in Status])]


class DeploymentJson(TypedDict):
    id: int
    project_id: int
    commit_sha: str
    commit_message: str | None
    commit_author: str | None
    branch: str
    environment: str
    status: DeploymentStatus
    triggered_by: str | None
    is_active: bool
    deployment_url: str | None
    build_time_seconds: int | None
    error_message: str | None
    created_at: Timestamp
    updated_at: Timestamp
    deployed_at: Timestamp | None


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


PromotionStatus = Annotated[str, JsonSchema(enum=list(promotion.STATUSES))]
PromotionReason = Annotated[str, JsonSchema(enum=list(promotion.REASONS))]


class CheckJson(TypedDict):
    """One verification: GET the project's health-check path at `url` (the candidate's own deployment URL, or the
    environment's live URL), up to `attempts` times."""

    target: Annotated[str, JsonSchema(enum=[promotion.CANDIDATE, promotion.LIVE])]
    url: str
    attempts: int
    status_code: int | None  # null: no HTTP answer (a timeout, a refused connection)
    served_by_deployment_id: int | None  # the deployment the answer named as serving it; null: it named none
    ok: bool
    error: str | None
    checked_at: Timestamp


class PromotionJson(TypedDict):
    id: int
    project_id: int
    environment: str
    from_deployment_id: int | None
    to_deployment_id: int
    reason: PromotionReason
    triggered_by: str | None
    status: PromotionStatus
    error_message: str | None
    checks: list[CheckJson]
    created_at: Timestamp
    updated_at: Timestamp
    switched_at: Timestamp | None
    finished_at: Timestamp | None


def promotion_json(p: promotion.Promotion) -> PromotionJson:
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
