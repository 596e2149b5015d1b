"""Request bodies as pydantic models: strict types, unknown fields rejected, limits stated once.

Their JSON Schema is the OpenAPI document's (chalicelib.api.openapi_document), so a rule a validator checks is
stated in the schema too (`json_schema_extra`: a pattern, an enumeration), exactly, and tests/unit/test_inputs.py
holds each pattern to its validator.

Importing this module imports pydantic (~50 ms), so only code that validates a body imports it, when it
does: routes inside the view, services for type hints only (TYPE_CHECKING). A cold start that serves no
request with a body never pays for it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic_core import CoreSchema

from chalicelib.services import text

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_SLUG = re.compile(SLUG_PATTERN)

Slug = Annotated[str, Field(min_length=1, max_length=40, pattern=SLUG_PATTERN)]


def _whole(value: Any) -> Any:
    """5.0 is the integer 5 in JSON, as JSON Schema's "integer" (the OpenAPI document's) takes it; 5.5, "5" and
    true stay refused."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Seconds = Annotated[int, BeforeValidator(_whole), Field(ge=1, le=3600)]
Hours = Annotated[int, BeforeValidator(_whole), Field(ge=1, le=24 * 365)]
Id = Annotated[int, BeforeValidator(_whole), Field(ge=1)]
BranchName = Annotated[str, Field(min_length=1, max_length=255)]


def _web_url(value: str | None) -> str | None:
    """ "" stays "" (no link), as the GitHub dialect takes it; anything else is an http(s) URL with a host."""
    if value and not text.is_web_url(value):
        raise ValueError(text.NOT_A_WEB_URL)
    return value


WebUrl = Annotated[str, Field(max_length=2048), AfterValidator(_web_url)]


def _check_text(value: Any, free_text: bool) -> None:
    if isinstance(value, str):
        found = text.control_character(value, free_text)
        if found:
            raise ValueError(f"{text.CONTROL_CHARACTERS} ({found} found)")
    elif isinstance(value, list):
        for item in value:
            _check_text(item, free_text)


def _state_text_rule(schema: dict[str, Any], pattern: str) -> None:
    """`pattern` on every string of a property's schema that states no pattern of its own (a slug's or a branch's
    already excludes control characters)."""
    if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema:
        schema["pattern"] = pattern
    for variant in schema.get("anyOf", ()):
        _state_text_rule(variant, pattern)
    if isinstance(schema.get("items"), dict):
        _state_text_rule(schema["items"], pattern)


class _Checked(BaseModel):
    """Every text field, and every string in a list field, is refused if it holds a control character;
    FREE_TEXT fields may hold tab, LF and CR (chalicelib.services.text). The schema states it as a pattern."""

    FREE_TEXT: ClassVar[frozenset[str]] = frozenset()
    OPAQUE: ClassVar[frozenset[str]] = frozenset()  # the caller's own data, handed back JSON-escaped

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        schema = handler(core_schema)
        for name, prop in handler.resolve_ref_schema(schema).get("properties", {}).items():
            if name not in cls.OPAQUE:
                free = name in cls.FREE_TEXT
                _state_text_rule(prop, text.NO_CONTROL_IN_FREE_TEXT_PATTERN if free else text.NO_CONTROL_PATTERN)
        return schema

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name not in cls.OPAQUE:
            _check_text(value, info.field_name in cls.FREE_TEXT)
        return value


class _Body(_Checked):
    model_config = ConfigDict(extra="forbid", strict=True)


def _check_branch(value: str | None) -> str | None:
    if value is None or text.control_character(value):
        return value  # a control character is named by the rule of every text field (_Checked), which runs next
    if value.strip() != value or any(c in value for c in " ~^:?*[\\") or ".." in value:
        raise ValueError("is not a valid git branch name")
    return value


# _check_branch and the control-character rule as one pattern: no whitespace at either end, no "..", none of
# space ~ ^ : ? * [ \ nor a control character.
BRANCH_PATTERN = r"^(?!\s)(?!.*\.\.)(?!.*\s$)[^ ~^:?*\[\\\x00-\x1f\x7f]+$"
GitBranch = Annotated[
    str,
    Field(min_length=1, max_length=255, json_schema_extra={"pattern": BRANCH_PATTERN}),
    AfterValidator(_check_branch),
]


# A promotion's health check: a path on the deployment's own URL, GET from its root. Not "//...": joined to a URL
# that would name another host. No whitespace (Unicode's, as JSON Schema's \s takes it) nor control character
# (C0, DEL, C1): an HTTP request line cannot carry them.
_NOT_IN_A_PATH = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
HEALTH_CHECK_PATH_PATTERN = rf"^/(?!/)[^{_NOT_IN_A_PATH}]*$"
_FORBIDDEN_IN_PATH = re.compile(f"[{_NOT_IN_A_PATH}]")


def _check_health_check_path(value: str | None) -> str | None:
    if value is None:
        return value
    if not value.startswith("/"):
        raise ValueError('must start with "/": a path on the deployment\'s own URL')
    if value.startswith("//"):
        raise ValueError('must not start with "//", which would name another host')
    found = _FORBIDDEN_IN_PATH.search(value)
    if found:
        raise ValueError(f"must not contain whitespace or control characters (U+{ord(found.group()):04X} found)")
    return value


HealthCheckPath = Annotated[
    str,
    Field(max_length=1024, json_schema_extra={"pattern": HEALTH_CHECK_PATH_PATTERN}),
    AfterValidator(_check_health_check_path),
]


def _never_null(schema: dict[str, Any]) -> None:
    """A field that may be left out but not sent as null (the service refuses null: "name cannot be null")."""
    kept = [variant for variant in schema.pop("anyOf", ()) if variant.get("type") != "null"]
    if len(kept) == 1:
        schema.update(kept[0])
    schema.pop("default", None)


def _plans(schema: dict[str, Any]) -> None:
    from chalicelib.models.organization import PLANS

    schema["enum"] = list(PLANS)


def _scopes(schema: dict[str, Any]) -> None:
    from chalicelib.services.auth import SCOPES

    for variant in schema.get("anyOf", [schema]):
        if variant.get("type") == "array":
            variant["items"] = {"enum": list(SCOPES)}


class OrganizationCreate(_Body):
    slug: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    plan: Annotated[str, Field(json_schema_extra=_plans)]  # checked by the service, with the plans it names


class KeyCreate(_Body):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    scopes: Annotated[list[str] | None, Field(json_schema_extra=_scopes)] = None


class ProjectCreate(_Body):
    FREE_TEXT = frozenset({"build_command"})

    name: Annotated[str, Field(min_length=1, max_length=100)]
    repo_url: Annotated[str, Field(min_length=1, max_length=2048)]
    default_branch: GitBranch = "main"
    build_command: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    output_dir: Annotated[str, Field(min_length=1, max_length=1024)] = "."
    slug: Slug | None = None
    build_timeout_seconds: Seconds | None = None
    preview_rebuild_schedule: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    preview_rebuild_skip_unchanged: bool = True
    preview_ttl_hours: Hours | None = None
    health_check_path: HealthCheckPath = "/"
    auto_rollback: bool = True  # production only: a preview's checks are recorded, never acted on

    def project_slug(self) -> str:
        """The slug asked for, else one made from the name."""
        return self.slug or slugify(self.name)


NOT_NULL = Field(json_schema_extra=_never_null)


class ProjectUpdate(_Body):
    FREE_TEXT = frozenset({"build_command"})

    # Fields that may be left out but not cleared: null is refused by the service, and not in the schema.
    name: Annotated[Annotated[str, Field(min_length=1, max_length=100)] | None, NOT_NULL] = None
    repo_url: Annotated[Annotated[str, Field(min_length=1, max_length=2048)] | None, NOT_NULL] = None
    default_branch: Annotated[GitBranch | None, NOT_NULL] = None
    build_command: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    output_dir: Annotated[Annotated[str, Field(min_length=1, max_length=1024)] | None, NOT_NULL] = None
    build_timeout_seconds: Annotated[Seconds | None, NOT_NULL] = None
    preview_rebuild_schedule: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    preview_rebuild_skip_unchanged: Annotated[bool | None, NOT_NULL] = None
    preview_ttl_hours: Hours | None = None
    health_check_path: Annotated[HealthCheckPath | None, NOT_NULL] = None
    auto_rollback: Annotated[bool | None, NOT_NULL] = None


class DeploymentTrigger(_Body):
    branch: GitBranch | None = None


class PreviewTrigger(_Body):
    """The native preview trigger: the branch to preview (required), nothing else."""

    branch: BranchName


def _event_types(value: list[str] | None) -> list[str] | None:
    """Known event types, or ["*"] (every event); each named once, in the order given."""
    if value is None:
        return None
    from chalicelib.vocabulary import EventType

    if not value:
        raise ValueError('must name at least one event type, or "*" for every event')
    known = {"*", *(str(event) for event in EventType)}
    unknown = [event for event in value if event not in known]
    if unknown:
        raise ValueError(f"unknown event type {unknown[0]!r}; known: {', '.join(sorted(known))}")
    return list(dict.fromkeys(value))


def _event_type_names(schema: dict[str, Any]) -> None:
    from chalicelib.vocabulary import EventType

    schema["minItems"] = 1
    schema["items"] = {"enum": ["*", *(str(event) for event in EventType)]}


WebhookUrl = Annotated[
    str, Field(min_length=1, max_length=2048, json_schema_extra={"format": "uri"}), AfterValidator(_web_url)
]
EventTypes = Annotated[
    list[Annotated[str, Field(max_length=100)]],
    Field(max_length=20, json_schema_extra=_event_type_names),
    AfterValidator(_event_types),
]
WebhookDescription = Annotated[str, Field(max_length=500)]


class WebhookCreate(_Body):
    """A native webhook: where to POST, which events (every one by default), one project or every one."""

    FREE_TEXT = frozenset({"description"})

    url: WebhookUrl
    events: EventTypes = Field(default_factory=lambda: ["*"])
    project_id: Id | None = None
    description: WebhookDescription | None = None


class WebhookUpdate(_Body):
    FREE_TEXT = frozenset({"description"})

    url: WebhookUrl | None = None
    events: EventTypes | None = None
    active: bool | None = None
    description: WebhookDescription | None = None


class DeployHookCreate(_Body):
    """A deploy hook: its name (shown as `triggered_by: deploy_hook:<name>`), the branch it deploys (the default)."""

    name: Annotated[str, Field(min_length=1, max_length=100)]
    branch: GitBranch | None = None


# A Slack user id: U... or W... (Enterprise Grid), upper-case letters and digits.
SlackUserId = Annotated[str, Field(min_length=2, max_length=32, pattern=r"^[UW][A-Z0-9]+$")]


class SlackIntegrationUpdate(_Body):
    """PATCH /integrations/slack: who may act from Slack; null for everyone in the workspace. Required."""

    allowed_user_ids: list[SlackUserId] | None = Field(max_length=500)


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug if _SLUG.match(slug) else "project"


# GitHub dialect bodies. GitHub ignores fields it does not know, so these do too; types stay strict.
class _GithubBody(_Checked):
    model_config = ConfigDict(extra="ignore", strict=True)


class GithubDeploymentCreate(_GithubBody):
    FREE_TEXT = frozenset({"description"})
    OPAQUE = frozenset({"payload"})

    ref: Annotated[str, Field(min_length=1, max_length=255)]
    task: Annotated[str, Field(min_length=1, max_length=255)] = "deploy"
    auto_merge: bool = True
    required_contexts: list[str] | None = None
    payload: dict[str, Any] | str = Field(default_factory=dict)
    environment: Annotated[str, Field(min_length=1, max_length=255)] = "production"
    description: Annotated[str, Field(max_length=1024)] | None = ""
    transient_environment: bool = False
    production_environment: bool | None = None


class GithubStatusCreate(_GithubBody):
    FREE_TEXT = frozenset({"description"})

    state: str
    target_url: WebUrl | None = None
    log_url: WebUrl | None = None
    description: Annotated[str, Field(max_length=1024)] | None = None
    environment: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    environment_url: WebUrl | None = None
    auto_inactive: bool = True


class GithubReviewer(_GithubBody):
    type: Literal["User", "Team"]
    id: Annotated[int, Field(ge=1, le=2**53 - 1)]  # an id a JavaScript client reads back exactly


class GithubBranchPolicy(_GithubBody):
    protected_branches: bool
    custom_branch_policies: bool


class GithubEnvironmentUpdate(_GithubBody):
    wait_timer: Annotated[int, Field(ge=0, le=43200)] | None = None
    prevent_self_review: bool | None = None
    reviewers: Annotated[list[GithubReviewer], Field(max_length=6)] | None = None
    deployment_branch_policy: GithubBranchPolicy | None = None


class GithubHookConfig(_GithubBody):
    url: WebUrl
    content_type: str = "json"  # GitHub's default is "form"; deployd sends JSON only, so JSON is the default
    secret: Annotated[str, Field(max_length=256)] | None = None
    insecure_ssl: str | int = "0"


class GithubHookCreate(_GithubBody):
    name: str = "web"
    config: GithubHookConfig
    events: Annotated[list[str], Field(min_length=1, max_length=10)] | None = None
    active: bool = True


class GithubHookUpdate(_GithubBody):
    config: GithubHookConfig | None = None
    events: Annotated[list[str], Field(min_length=1, max_length=10)] | None = None
    add_events: Annotated[list[str], Field(max_length=10)] | None = None
    remove_events: Annotated[list[str], Field(max_length=10)] | None = None
    active: bool | None = None


class MintlifyPreviewRequest(_Checked):
    """Mintlify's body: `branch`, a non-empty string. Other fields are ignored, as Mintlify does."""

    model_config = ConfigDict(extra="ignore", strict=True)

    branch: BranchName
