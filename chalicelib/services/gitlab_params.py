"""GitLab's operations' parameters, typed, as the rules in services/gitlab.py take them. Reading them from a
request, in GitLab's (Grape's) words, is the API's job (api/gitlab_parsing.py). See docs/gitlab.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

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


@dataclass(frozen=True)
class ListQuery:
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


@dataclass(frozen=True)
class DeploymentCreate:
    environment: str
    sha: str
    ref: str
    tag: bool
    status: str


@dataclass(frozen=True)
class DeploymentUpdate:
    status: str
