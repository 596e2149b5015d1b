"""GitLab's request parameters read as GitLab reads them (Grape's messages: "x is missing", "x is invalid",
"x does not have a valid value"), one 400 naming every bad parameter. The rules take them typed
(services/gitlab_params.py). See docs/gitlab.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.errors import InvalidInput
from chalicelib.services import text
from chalicelib.services.gitlab_params import (
    BRANCH_FILTER_STRATEGIES,
    CREATE_STATUSES,
    DEFAULT_PER_PAGE,
    FILTER_STATUSES,
    HOOK_SWITCHES,
    ORDER_BY,
    SORTS,
    UPDATE_STATUSES,
    DeploymentCreate,
    DeploymentUpdate,
    HookFields,
    ListQuery,
)
from chalicelib.services.integers import ascii_integer

MAX_PER_PAGE = 100  # GitLab clamps a larger per_page to this rather than refusing it
MAX_PAGE = 1_000_000  # 100 million deployments at the largest per_page: past any project's history
NAME_LIMIT = 255
URL_LIMIT = 2048

_TRUE = ("true", "1", "yes", "t", "y", "on")
_FALSE = ("false", "0", "no", "f", "n", "off")


class Params:
    """Collects parameter errors in Grape's words so one 400 names every bad parameter, as GitLab does."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.errors: list[tuple[str, str]] = []

    def fail(self, name: str, problem: str) -> None:
        self.errors.append((name, f"{name} {problem}"))

    def text(self, name: str, required: bool = False, values: tuple[str, ...] | None = None) -> str | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                self.fail(name, "is missing")
            return None
        if not isinstance(value, str) or text.control_character(value):  # NUL, CR, LF, ESC, ... are no name
            self.fail(name, "is invalid")
            return None
        if required and not value.strip():
            self.fail(name, "is empty")
            return None
        if len(value) > NAME_LIMIT:
            self.fail(name, f"is too long (maximum is {NAME_LIMIT} characters)")
            return None
        if values is not None and value not in values:
            self.fail(name, "does not have a valid value")
            return None
        return value

    def boolean(self, name: str, required: bool = False) -> bool | None:
        value = self.raw.get(name)
        if value is None:
            if required:
                self.fail(name, "is missing")
            return None
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        self.fail(name, "is invalid")
        return None

    def _whole(self, name: str) -> int | None:
        """An integer as Grape coerces one: a JSON integer or ASCII decimal digits (a sign allowed); anything
        else, a fraction or a boolean included, "is invalid". Past 18 digits it is out of any range deployd
        serves, and refused as such."""
        value = self.raw.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        number = ascii_integer(value, signed=True, saturate=True) if isinstance(value, str) else None
        if number is None:
            self.fail(name, "is invalid")
        return number

    def page(self) -> int:
        """GitLab's `page`: 1 when absent, a 400 "page does not have a valid value" below 1 (and, here, above
        MAX_PAGE, where no project has deployments)."""
        if self.raw.get("page") in (None, ""):
            return 1
        number = self._whole("page")
        if number is None:
            return 1
        if not 1 <= number <= MAX_PAGE:
            self.fail("page", "does not have a valid value")
            return 1
        return number

    def per_page(self) -> int:
        """GitLab's `per_page`: DEFAULT_PER_PAGE when absent; 0 "has a value not allowed", below 0 "does not
        have a valid value"; above MAX_PER_PAGE clamped to it, as GitLab does."""
        if self.raw.get("per_page") in (None, ""):
            return DEFAULT_PER_PAGE
        number = self._whole("per_page")
        if number is None:
            return DEFAULT_PER_PAGE
        if number == 0:
            self.fail("per_page", "has a value not allowed")
            return DEFAULT_PER_PAGE
        if number < 0:
            self.fail("per_page", "does not have a valid value")
            return DEFAULT_PER_PAGE
        return min(number, MAX_PER_PAGE)

    def moment(self, name: str) -> datetime | None:
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            parsed = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(name, "is invalid")
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def check(self) -> None:
        if self.errors:
            raise InvalidInput(", ".join(message for _, message in self.errors), field=self.errors[0][0])


def list_query(raw: Mapping[str, Any]) -> ListQuery:
    params = Params(raw)
    query = ListQuery(
        order_by=params.text("order_by", values=ORDER_BY) or "id",
        sort=params.text("sort", values=SORTS) or "asc",
        updated_after=params.moment("updated_after"),
        updated_before=params.moment("updated_before"),
        environment=params.text("environment"),
        status=params.text("status", values=FILTER_STATUSES),
        page=params.page(),
        per_page=params.per_page(),
    )
    params.check()
    return query


@dataclass(frozen=True)
class Paging:
    """`page` and `per_page` alone, for lists that take no other parameter (a deployment's merge requests)."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE


def paging(raw: Mapping[str, Any]) -> Paging:
    params = Params(raw)
    pages = Paging(page=params.page(), per_page=params.per_page())
    params.check()
    return pages


def deployment_create(raw: Mapping[str, Any]) -> DeploymentCreate:
    params = Params(raw)
    environment = params.text("environment", required=True)
    sha = params.text("sha", required=True)
    ref = params.text("ref", required=True)
    tag = params.boolean("tag", required=True)
    status = params.text("status", required=True, values=CREATE_STATUSES)
    params.check()
    assert environment is not None and sha is not None and ref is not None  # checked above
    assert tag is not None and status is not None
    return DeploymentCreate(environment=environment, sha=sha.strip(), ref=ref, tag=tag, status=status)


def deployment_update(raw: Mapping[str, Any]) -> DeploymentUpdate:
    params = Params(raw)
    status = params.text("status", required=True, values=UPDATE_STATUSES)
    params.check()
    assert status is not None
    return DeploymentUpdate(status=status)


def hook_fields(raw: Mapping[str, Any]) -> HookFields:
    """A project hook's parameters (POST and PUT take the same ones; `url` is required by both, as in GitLab).

    Custom headers and custom webhook templates change what GitLab sends; deployd does not apply them, so it
    refuses them rather than accept settings it would ignore."""
    params = Params(raw)
    url = raw.get("url")
    if url is None:
        params.fail("url", "is missing")
    elif not isinstance(url, str) or len(url) > URL_LIMIT:
        params.fail("url", "is invalid")
    elif not text.is_web_url(url):
        params.fail("url", "is blocked: Only allowed schemes are http, https")
    token = raw.get("token")
    if token is not None and (not isinstance(token, str) or len(token) > NAME_LIMIT or text.control_character(token)):
        params.fail("token", "is invalid")
    name = params.text("name")
    description = params.text("description")
    branch_filter = params.text("push_events_branch_filter")
    strategy = params.text("branch_filter_strategy", values=BRANCH_FILTER_STRATEGIES)
    switches = {key: value for key in HOOK_SWITCHES if (value := params.boolean(key)) is not None}
    for unsupported in ("custom_webhook_template", "custom_headers"):
        if raw.get(unsupported) not in (None, "", []):
            params.fail(unsupported, "is not supported by deployd")
    params.check()
    assert isinstance(url, str)  # checked above
    return HookFields(
        url=url,
        token=token,
        name=name,
        description=description,
        push_events_branch_filter=branch_filter,
        branch_filter_strategy=strategy,
        switches=switches,
    )
