"""GitLab's deployment rules over the one ledger: its parameters, its listing, and the two ways of deploying.

A project with a build command is built by deployd: a GitLab deployment of it starts `created` and its
status follows the build; the only status a client may set is `canceled`. A project without one is a
ledger for an external deployer, whose status reports move the deployment. See docs/gitlab.md.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from chalicelib.errors import Conflict, InvalidInput, NotFound, Unprocessable
from chalicelib.models.api_key import ApiKeyRepository
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import PRODUCTION, Environment, EnvironmentRepository
from chalicelib.models.organization import Organization, OrganizationRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.services import deployments, git, listing, sites, text
from chalicelib.services.deployments import DeploymentSpec
from chalicelib.services.integers import ascii_integer
from chalicelib.services.listing import Page
from chalicelib.services.statuses import GITLAB_STATUS, NATIVE_FROM_GITLAB
from chalicelib.vocabulary import TERMINAL

FILTER_STATUSES = ("created", "running", "success", "failed", "canceled", "blocked")
CREATE_STATUSES = ("created", "running", "success", "failed", "canceled")
UPDATE_STATUSES = ("running", "success", "failed", "canceled")
ORDER_BY = ("id", "iid", "created_at", "updated_at", "ref")
SORTS = ("asc", "desc")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100  # GitLab clamps a larger per_page to this rather than refusing it
MAX_PAGE = 1_000_000  # 100 million deployments at the largest per_page: past any project's history
ACTIVE_STATUSES = ("created", "running")  # GitLab's `active?`: such a deployment cannot be destroyed
NAME_LIMIT = 255

# Every native status a GitLab status filter stands for; `blocked` (waiting for approval) never occurs here.
NATIVE_FOR_FILTER: dict[str, frozenset[str]] = {
    status: frozenset(native for native, shown in GITLAB_STATUS.items() if shown == status)
    for status in FILTER_STATUSES
}
_TRUE = ("true", "1", "yes", "t", "y", "on")
_FALSE = ("false", "0", "no", "f", "n", "off")


# ---- parameters (Grape's messages: "x is missing", "x is invalid", "x does not have a valid value") ----


class _Params:
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

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> ListQuery:
        params = _Params(raw)
        query = cls(
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

    @property
    def filtered(self) -> bool:
        return any(v is not None for v in (self.updated_after, self.updated_before, self.environment, self.status))


@dataclass(frozen=True)
class Paging:
    """`page` and `per_page` alone, for lists that take no other parameter (a deployment's merge requests)."""

    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Paging:
        params = _Params(raw)
        paging = cls(page=params.page(), per_page=params.per_page())
        params.check()
        return paging


@dataclass(frozen=True)
class DeploymentCreate:
    environment: str
    sha: str
    ref: str
    tag: bool
    status: str

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> DeploymentCreate:
        params = _Params(raw)
        environment = params.text("environment", required=True)
        sha = params.text("sha", required=True)
        ref = params.text("ref", required=True)
        tag = params.boolean("tag", required=True)
        status = params.text("status", required=True, values=CREATE_STATUSES)
        params.check()
        assert environment is not None and sha is not None and ref is not None  # checked above
        assert tag is not None and status is not None
        return cls(environment=environment, sha=sha.strip(), ref=ref, tag=tag, status=status)


@dataclass(frozen=True)
class DeploymentUpdate:
    status: str

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> DeploymentUpdate:
        params = _Params(raw)
        status = params.text("status", required=True, values=UPDATE_STATUSES)
        params.check()
        assert status is not None
        return cls(status=status)


# ---- what the API layer renders ----


@dataclass(frozen=True)
class Person:
    """GitLab's user object for whoever created a deployment: an API key of the organization, or the
    organization itself for deployments with no recorded key."""

    id: int
    name: str
    username: str
    active: bool


@dataclass(frozen=True)
class ProjectResource:
    project: Project
    organization: Organization
    production_url: str


@dataclass(frozen=True)
class GitLabDeployment:
    deployment: Deployment
    project: Project
    environment_id: int | None
    external_url: str | None
    user: Person


@dataclass(frozen=True)
class DeploymentListing:
    """A page of deployments and the project they belong to (its numeric id makes the pages' links)."""

    project: Project
    page: Page[GitLabDeployment]


def gitlab_status(deployment: Deployment) -> str:
    return GITLAB_STATUS[deployment.status]


def _stable_id(text: str) -> int:
    """A positive 31-bit number that names the same thing on every call (users, namespaces)."""
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def namespace_id(org_slug: str) -> int:
    return _stable_id(f"org:{org_slug}")


class _People:
    """Creators looked up once per request (a listing repeats the same few keys)."""

    def __init__(self, org_slug: str) -> None:
        self.org_slug = org_slug
        self._seen: dict[str, Person] = {}

    def of(self, deployment: Deployment) -> Person:
        creator = deployment.triggered_by or ""
        if creator not in self._seen:
            self._seen[creator] = self._lookup(creator)
        return self._seen[creator]

    def _lookup(self, creator: str) -> Person:
        if creator.startswith("api-key:"):
            key_id = creator.removeprefix("api-key:")
            key = ApiKeyRepository.find(key_id)
            name = key.name if key is not None else f"API key {key_id}"
            # A revoked key's deployments stay; GitLab shows a removed user's account as blocked.
            return Person(_stable_id(creator), name, f"{self.org_slug}_key_{key_id}", key is not None)
        try:
            name = OrganizationRepository.get(self.org_slug).name
        except NotFound:
            name = self.org_slug
        return Person(namespace_id(self.org_slug), name, self.org_slug, True)


class _Environments:
    """A project's environments read once per request."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._by_name: dict[str, Environment] | None = None

    def get(self, name: str) -> Environment | None:
        if self._by_name is None:
            self._by_name = {str(env.name): env for env in EnvironmentRepository.list(int(self.project.id))}
        return self._by_name.get(name)

    def external_url(self, name: str) -> str | None:
        env = self.get(name)
        if env is not None and env.external_url:
            return str(env.external_url)
        if name == PRODUCTION and self.project.build_command is not None:
            return sites.url_for(sites.production_label(self.project.slug, self.project.org_slug))
        return None


def _present(deployment: Deployment, project: Project, people: _People, envs: _Environments) -> GitLabDeployment:
    env = envs.get(deployment.environment)
    return GitLabDeployment(
        deployment=deployment,
        project=project,
        environment_id=int(env.id) if env is not None and env.id is not None else None,
        external_url=envs.external_url(deployment.environment),
        user=people.of(deployment),
    )


def _one(org_slug: str, project: Project, deployment: Deployment) -> GitLabDeployment:
    return _present(deployment, project, _People(org_slug), _Environments(project))


# ---- projects ----


def resolve_project(org_slug: str, raw_id: str) -> Project:
    """:id as GitLab takes it: the numeric id or the URL-encoded "namespace/path".

    Chalice's local server hands path parameters over still percent-encoded, API Gateway decoded;
    unquoting covers both. Anything the organization cannot see is "404 Project Not Found".
    """
    reference = unquote(raw_id).strip()
    number = ascii_integer(reference)
    try:
        if number is not None:
            return ProjectRepository.get(org_slug, number)
        namespace, _, path = reference.rpartition("/")
        if namespace.lower() == org_slug.lower() and path:
            return ProjectRepository.find_by_slug(org_slug, path)
    except NotFound as exc:
        raise NotFound(str(exc), field="project") from exc
    raise NotFound(f"project {reference!r} not found", field="project")


def get_project(org_slug: str, raw_id: str) -> ProjectResource:
    project = resolve_project(org_slug, raw_id)
    return ProjectResource(
        project,
        OrganizationRepository.get(org_slug),
        sites.url_for(sites.production_label(project.slug, project.org_slug)),
    )


# ---- deployments ----


def _sort_key(order_by: str) -> Any:
    if order_by == "iid":
        return lambda d: (int(d.seq), int(d.id))
    if order_by == "ref":
        return lambda d: (d.branch, int(d.id))
    if order_by in ("created_at", "updated_at"):
        return lambda d: (_moment(getattr(d, order_by)), int(d.id))
    return lambda d: int(d.id)


def _moment(value: str | None) -> datetime:
    if not value:
        return datetime.min.replace(tzinfo=UTC)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _matches(deployment: Deployment, query: ListQuery) -> bool:
    if query.environment is not None and deployment.environment != query.environment:
        return False
    if query.status is not None and deployment.status not in NATIVE_FOR_FILTER[query.status]:
        return False
    updated = _moment(deployment.updated_at)
    if query.updated_after is not None and updated < query.updated_after:
        return False
    return query.updated_before is None or updated <= query.updated_before


def list_deployments(org_slug: str, raw_id: str, query: ListQuery) -> DeploymentListing:
    """One page of the project's deployments, filtered and sorted as asked; ids and iids follow the project's
    numbering, so services/listing.py can read an unfiltered page of them as a range."""
    project = resolve_project(org_slug, raw_id)
    order = listing.Order(
        _sort_key(query.order_by), descending=query.sort == "desc", numbered=query.order_by in ("id", "iid")
    )
    matches = (lambda d: _matches(d, query)) if query.filtered else None
    found = listing.deployments(project, query.page, query.per_page, matches, order)
    people, envs = _People(org_slug), _Environments(project)
    return DeploymentListing(project, found.map(lambda d: _present(d, project, people, envs)))


def get_deployment(org_slug: str, raw_id: str, deployment_id: int) -> GitLabDeployment:
    project = resolve_project(org_slug, raw_id)
    view = deployments.view(org_slug, int(project.id), deployment_id)
    return _one(org_slug, project, view.deployment)


def _check_commit(project: Project, body: DeploymentCreate) -> None:
    """GitLab's model validation of the ref (the refs only; the commit itself is resolved once, by
    deployments.create, before anything is recorded, so a bad request reserves no iid)."""
    if not git.ref_exists(project.repo_url, body.ref):
        raise Unprocessable("The branch or tag does not exist", field="ref")


def create_deployment(org_slug: str, key_id: str, raw_id: str, body: DeploymentCreate) -> GitLabDeployment:
    project = resolve_project(org_slug, raw_id)
    managed = project.build_command is not None
    if managed and body.status != "created":
        raise InvalidInput(
            f"project {int(project.id)} is built by deployd: its deployments start created and their status "
            f"follows the build; create them with status created (got {body.status})"
        )
    _check_commit(project, body)
    spec = DeploymentSpec(
        ref=body.ref,
        environment=body.environment,
        source="gitlab",
        creator=f"api-key:{key_id}",
        sha=body.sha,
        ref_is_tag=body.tag,
        external_status=None if managed else NATIVE_FROM_GITLAB[body.status],
    )
    try:
        view = deployments.create(org_slug, int(project.id), spec)
    except Unprocessable as exc:  # the sha is not a commit of the repository
        raise Unprocessable("The commit does not exist", field="sha") from exc
    return _one(org_slug, project, view.deployment)


def update_deployment(
    org_slug: str, key_id: str, raw_id: str, deployment_id: int, body: DeploymentUpdate
) -> GitLabDeployment:
    project = resolve_project(org_slug, raw_id)
    deployment = deployments.view(org_slug, int(project.id), deployment_id).deployment
    current = gitlab_status(deployment)
    if deployment.managed:
        if body.status != "canceled":
            raise InvalidInput(
                f"deployment {deployment_id} is built by deployd; its status follows the build (currently {current})"
            )
        if deployment.is_terminal:
            raise InvalidInput(f"deployment {deployment_id} has already finished ({current}); it cannot be canceled")
        try:
            deployment = deployments.cancel(org_slug, int(project.id), deployment_id).deployment
        except Conflict as exc:  # it ended while we were asking
            raise InvalidInput(f"deployment {deployment_id} finished before it could be canceled") from exc
        return _one(org_slug, project, deployment)
    if current == body.status:
        return _one(org_slug, project, deployment)
    if deployment.status in TERMINAL:
        raise InvalidInput(
            f"deployment {deployment_id} has already finished ({current}); it cannot become {body.status}"
        )
    try:
        # publish: the report also reads in GitHub as a deployment status
        deployment = deployments.set_external_status(deployment, NATIVE_FROM_GITLAB[body.status], publish=True)
    except Conflict as exc:
        raise Conflict(f"deployment {deployment_id} changed while it was being updated; read it and retry") from exc
    deployment.refresh(consistent_read=True)
    return _one(org_slug, project, deployment)


def delete_deployment(org_slug: str, raw_id: str, deployment_id: int) -> None:
    """GitLab's rules first (an active deployment, or the one its environment serves, stays), then the ledger's."""
    project = resolve_project(org_slug, raw_id)
    view = deployments.view(org_slug, int(project.id), deployment_id)
    if gitlab_status(view.deployment) in ACTIVE_STATUSES:
        raise InvalidInput("Cannot destroy running deployment")
    if view.is_active:
        raise InvalidInput("Deployment currently deployed to environment")
    try:
        deployments.delete_record(view.deployment)
    except Conflict as exc:
        raise Conflict(f"deployment {deployment_id} changed while it was being deleted; retry") from exc


def merge_requests(org_slug: str, raw_id: str, deployment_id: int) -> list[dict[str, Any]]:
    """deployd hosts repositories' deployments, not their merge requests: always an empty list, once the
    deployment is known to exist (an unknown one is a 404, as in GitLab)."""
    project = resolve_project(org_slug, raw_id)
    deployments.view(org_slug, int(project.id), deployment_id)
    return []
