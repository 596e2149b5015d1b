"""GitLab's operations' parameters, typed, as the rules in services/gitlab.py take them. Reading them from a
request, in GitLab's (Grape's) words, is the API's job (api/gitlab_parsing.py). See docs/gitlab.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from chalicelib.services.statuses import GITLAB_STATUS

FILTER_STATUSES = ("created", "running", "success", "failed", "canceled", "blocked")
CREATE_STATUSES = ("created", "running", "success", "failed", "canceled")
UPDATE_STATUSES = ("running", "success", "failed", "canceled")
ORDER_BY = ("id", "iid", "created_at", "updated_at", "ref")
SORTS = ("asc", "desc")
DEFAULT_PER_PAGE = 20

# Every native status a GitLab status filter stands for; `blocked` (waiting for approval) never occurs here.
NATIVE_FOR_FILTER: dict[str, frozenset[str]] = {
    status: frozenset(native for native, shown in GITLAB_STATUS.items() if shown == status)
    for status in FILTER_STATUSES
}


class ListQuery(NamedTuple):
    order_by: str = "id"
    sort: str = "asc"
    updated_after: datetime | None = None
    updated_before: datetime | None = None
    environment: str | None = None
    status: str | None = None
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @property
    def filtered(self) -> bool:
        return any(v is not None for v in (self.updated_after, self.updated_before, self.environment, self.status))


class DeploymentCreate(NamedTuple):
    environment: str
    sha: str
    ref: str
    tag: bool
    status: str


class DeploymentUpdate(NamedTuple):
    status: str


# A project hook's event switches as GitLab's API names them. Only deployment_events makes deployd send anything
# (deployd has no pushes, issues or pipelines to tell of); the others are stored and shown as given.
HOOK_EVENTS = (
    "push_events",
    "tag_push_events",
    "issues_events",
    "confidential_issues_events",
    "merge_requests_events",
    "note_events",
    "confidential_note_events",
    "job_events",
    "pipeline_events",
    "wiki_page_events",
    "deployment_events",
    "releases_events",
    "feature_flag_events",
    "emoji_events",
    "milestone_events",
    "resource_access_token_events",
    "repository_update_events",
)
HOOK_SWITCHES = (*HOOK_EVENTS, "enable_ssl_verification")
# What a new hook has for a switch it was not given: GitLab's defaults.
HOOK_DEFAULTS = {**{name: False for name in HOOK_EVENTS}, "push_events": True, "enable_ssl_verification": True}
BRANCH_FILTER_STRATEGIES = ("wildcard", "regex", "all_branches")


class HookFields(NamedTuple):
    """A project hook's parameters as given (POST and PUT alike: None, or absent from `switches`, is "not
    given")."""

    url: str
    token: str | None = None
    name: str | None = None
    description: str | None = None
    push_events_branch_filter: str | None = None
    branch_filter_strategy: str | None = None
    switches: dict[str, bool] | None = None
