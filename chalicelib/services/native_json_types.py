"""The types of the native API's JSON for a deployment and a promotion (chalicelib.services.native_json renders
them), for mypy and the OpenAPI document (chalicelib.api.answers re-exports them with the other answers' types):
neither a cold start nor a request makes them."""

from __future__ import annotations

from typing import Annotated, Any

from typing_extensions import TypedDict  # pydantic reads only this one on Python 3.11

from chalicelib.models import promotion
from chalicelib.vocabulary import Status


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
