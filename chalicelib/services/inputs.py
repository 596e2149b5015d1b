"""Request bodies as pydantic models: strict types, unknown fields rejected, limits stated once.

Importing this module imports pydantic (~50 ms), so only code that validates a body imports it, when it
does: routes inside the view, services for type hints only (TYPE_CHECKING). A cold start that serves no
request with a body never pays for it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

SLUG_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
_SLUG = re.compile(SLUG_PATTERN)

Slug = Annotated[str, Field(min_length=1, max_length=40, pattern=SLUG_PATTERN)]
BranchName = Annotated[str, Field(min_length=1, max_length=255)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _check_branch(value: str | None) -> str | None:
    if value is not None and (value.strip() != value or any(c in value for c in " ~^:?*[\\") or ".." in value):
        raise ValueError("is not a valid git branch name")
    return value


class OrganizationCreate(_Body):
    slug: Slug
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    plan: str


class KeyCreate(_Body):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    scopes: list[str] | None = None


class ProjectCreate(_Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    repo_url: Annotated[str, Field(min_length=1, max_length=2048)]
    default_branch: BranchName = "main"
    build_command: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    output_dir: Annotated[str, Field(min_length=1, max_length=1024)] = "."
    slug: Slug | None = None
    build_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    preview_rebuild_schedule: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    preview_rebuild_skip_unchanged: bool = True
    preview_ttl_hours: Annotated[int, Field(ge=1, le=24 * 365)] | None = None

    _branch = field_validator("default_branch")(_check_branch)

    def project_slug(self) -> str:
        """The slug asked for, else one made from the name."""
        return self.slug or slugify(self.name)


class ProjectUpdate(_Body):
    name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    repo_url: Annotated[str, Field(min_length=1, max_length=2048)] | None = None
    default_branch: BranchName | None = None
    build_command: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    output_dir: Annotated[str, Field(min_length=1, max_length=1024)] | None = None
    build_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] | None = None
    preview_rebuild_schedule: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    preview_rebuild_skip_unchanged: bool | None = None
    preview_ttl_hours: Annotated[int, Field(ge=1, le=24 * 365)] | None = None

    _branch = field_validator("default_branch")(_check_branch)


class DeploymentTrigger(_Body):
    branch: BranchName | None = None

    _branch = field_validator("branch")(_check_branch)


class PreviewTrigger(_Body):
    """The native preview trigger: the branch to preview (required), nothing else."""

    branch: BranchName


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug if _SLUG.match(slug) else "project"


# GitHub dialect bodies. GitHub ignores fields it does not know, so these do too; types stay strict.
class _GithubBody(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class GithubDeploymentCreate(_GithubBody):
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
    state: str
    target_url: Annotated[str, Field(max_length=2048)] | None = None
    log_url: Annotated[str, Field(max_length=2048)] | None = None
    description: str | None = None
    environment: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    environment_url: Annotated[str, Field(max_length=2048)] | None = None
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


class MintlifyPreviewRequest(BaseModel):
    """Mintlify's body: `branch`, a non-empty string. Other fields are ignored, as Mintlify does."""

    model_config = ConfigDict(extra="ignore", strict=True)

    branch: BranchName
