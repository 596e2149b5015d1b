"""What the native, admin and public routes answer, as TypedDicts: each renderer returns one (mypy holds the
renderer to it: a key missing, added or of another type fails the lint), and the OpenAPI document derives their
JSON Schema from the same types (pydantic's TypeAdapter, chalicelib.api.openapi_document).

Routes name these types by string (`answers={200: One("ProjectJson")}`, `query="Paging"`), and renderers only in
annotations, so this module loads with the OpenAPI document, not with the API's cold start; pydantic loads only when
the document is made. `JsonSchema` adds what a Python type cannot say (a format, an enumeration, bounds) to the
document's schema; it validates nothing.
"""

from __future__ import annotations

from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,  # pydantic reads only these on Python 3.11
)

from typing_extensions import TypedDict

from chalicelib.api.dialect import Empty, Html, Many, One
from chalicelib.services import text
from chalicelib.services.native_json_types import (
    DeploymentJson,
    DeploymentStatus,
    JsonSchema,
    PromotionJson,
    Timestamp,
)

__all__ = [
    "DeploymentJson",
    "DeploymentStatus",
    "Empty",
    "Html",
    "JsonSchema",
    "Many",
    "One",
    "PromotionJson",
    "Timestamp",
]


# The envelopes (chalicelib.api.dialect): a single object is {"data": {...}}, a list {"data": [...], "meta": {...}}.


class Total(TypedDict):
    total: int


class Paged(TypedDict):
    page: int
    per_page: int
    total: int
    total_pages: int


class ErrorDetail(TypedDict):
    code: str
    message: str
    field: NotRequired[str]


class Error(TypedDict):
    """Every error of the native, admin and public routes (chalicelib.api.renderers.native_body)."""

    error: ErrorDetail


# Query parameters


class Paging(TypedDict):
    """A listing's page (from 1) and its size."""

    page: NotRequired[Annotated[int, JsonSchema(minimum=1, maximum=1_000_000, default=1)]]
    per_page: NotRequired[Annotated[int, JsonSchema(minimum=1, maximum=100, default=20)]]


class PromotionQuery(Paging):
    """A page of promotions, of one environment when named (production, preview/<branch>, ...)."""

    environment: NotRequired[Annotated[str, JsonSchema(minLength=1, maxLength=255, pattern=text.NO_CONTROL_PATTERN)]]


class TriggerTitle(TypedDict):
    trigger_title: NotRequired[Annotated[str, JsonSchema(maxLength=500, pattern=text.NO_CONTROL_IN_FREE_TEXT_PATTERN)]]


class SlackRedirect(TypedDict):
    code: NotRequired[str]
    state: NotRequired[str]
    error: NotRequired[str]


# Bodies


class Health(TypedDict):
    status: Literal["ok"]


class OrganizationJson(TypedDict):
    slug: str
    name: str | None
    plan: str
    created_at: Timestamp


class IssuedKeyJson(TypedDict):
    id: str
    org: str
    name: str | None
    scopes: list[str]
    token: str
    created_at: Timestamp


class ProjectJson(TypedDict):
    id: int
    name: str
    slug: str
    repo_url: str
    default_branch: str
    build_command: str | None
    output_dir: str
    build_timeout_seconds: int
    preview_rebuild_schedule: str | None
    preview_rebuild_skip_unchanged: bool
    preview_ttl_hours: int | None
    health_check_path: str  # what a promotion GETs to verify a deployment (docs/promotions.md)
    auto_rollback: bool  # production refuses (or reverts) a deployment that fails it; previews only record
    production_url: str
    active_deployment_id: int | None
    created_at: Timestamp
    updated_at: Timestamp


class LogsJson(TypedDict):
    deployment_id: int
    status: DeploymentStatus
    build_logs: str
    error_message: str | None
    offset: int
    next_offset: int


class LogOffset(TypedDict):
    """Where in the log to start (bytes written so far; an answer's `next_offset` is the one to ask for next)."""

    offset: NotRequired[Annotated[int, JsonSchema(minimum=0)]]


class WhoamiJson(TypedDict):
    org: str
    key_id: str
    scopes: list[str]


class PromotionRef(TypedDict):
    """The promotion a rollback ran (GET .../promotions/{id} shows all of it)."""

    id: int
    status: str


class RollbackJson(DeploymentJson):
    """A rollback's answer: its target deployment, as every deployment answer shows it, and its promotion."""

    promotion: PromotionRef | None


class PreviewJson(TypedDict):
    branch: str
    preview_url: str
    latest_deployment: DeploymentJson | None
    active_deployment_id: int | None
    last_built_at: Timestamp | None


class PreviewTriggeredJson(TypedDict):
    branch: str
    preview_url: str
    deployment: DeploymentJson


class WebhookJson(TypedDict):
    id: int
    url: str
    events: list[str]
    project_id: int | None
    description: str | None
    active: bool
    disabled_reason: str | None
    created_at: Timestamp
    updated_at: Timestamp


class IssuedWebhookJson(WebhookJson):
    secret: str


class AttemptJson(TypedDict):
    at: Timestamp | None
    status_code: int | None
    duration_ms: int | None
    error: str | None


class DeliveryJson(TypedDict):
    id: str
    event_type: str
    status: str
    attempts: list[AttemptJson]
    next_attempt_at: Timestamp | None
    created_at: Timestamp


class RedeliveryJson(TypedDict):
    id: str
    status: Literal["pending"]


class DeployHookJson(TypedDict):
    id: int
    name: str
    branch: str | None
    url: str
    created_at: Timestamp


class JobJson(TypedDict):
    id: str
    state: Literal["PENDING"]
    createdAt: int


class HookRunJson(TypedDict):
    """Vercel's job, with the native deployment beside it."""

    job: JobJson
    deployment: DeploymentJson


class SlackSubscriptionJson(TypedDict):
    channel_id: str
    project_id: int | None


class SlackIntegrationJson(TypedDict):
    team_id: str
    team_name: str
    installed_at: Timestamp
    allowed_user_ids: list[str] | None
    subscriptions: list[SlackSubscriptionJson]


class SlackInstallJson(TypedDict):
    install_url: str


class SlackReply(TypedDict):
    response_type: Literal["ephemeral"]
    text: str
    blocks: NotRequired[list[dict[str, Any]]]


class SlackChallenge(TypedDict):
    challenge: str
