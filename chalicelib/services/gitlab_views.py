"""What GitLab's API and GitLab's deployment hooks render of the ledger: a project resolved from GitLab's :id,
and a deployment with its creator (GitLab's user) and its environment, each looked up once per request; the
JSON pieces both of them show (a user, a commit's title).
"""

from __future__ import annotations

import zlib
from typing import Any, NamedTuple
from urllib.parse import unquote

from chalicelib.adapters import sites
from chalicelib.errors import NotFound
from chalicelib.models.api_key import ApiKeyRepository
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import PRODUCTION, Environment, EnvironmentRepository
from chalicelib.models.organization import Organization, OrganizationRepository
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.services.integers import ascii_integer
from chalicelib.services.listing import Page
from chalicelib.services.statuses import GITLAB_STATUS


class Person(NamedTuple):
    """GitLab's user object for whoever created a deployment: an API key of the organization, or the
    organization itself for deployments with no recorded key."""

    id: int
    name: str
    username: str
    active: bool


class ProjectResource(NamedTuple):
    project: Project
    organization: Organization
    production_url: str


class GitLabDeployment(NamedTuple):
    deployment: Deployment
    project: Project
    environment_id: int | None
    external_url: str | None
    user: Person


class DeploymentListing(NamedTuple):
    """A page of deployments and the project they belong to (its numeric id makes the pages' links)."""

    project: Project
    page: Page[GitLabDeployment]


def gitlab_status(deployment: Deployment) -> str:
    return GITLAB_STATUS[deployment.status]


def user_json(person: Person, base_url: str) -> dict[str, Any]:
    """GitLab's user object; `base_url` is the API's public URL, under which a user's page would be."""
    return {
        "id": person.id,
        "name": person.name,
        "username": person.username,
        "state": "active" if person.active else "blocked",
        "avatar_url": None,
        "web_url": f"{base_url}/{person.username}",
    }


def commit_title(deployment: Deployment) -> str:
    message = deployment.commit_message or ""
    return message.splitlines()[0] if message else ""


def _stable_id(text: str) -> int:
    """A positive 31-bit number that names the same thing on every call (users, namespaces)."""
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def namespace_id(org_slug: str) -> int:
    return _stable_id(f"org:{org_slug}")


class People:
    """Creators looked up once per request (a listing repeats the same few keys)."""

    def __init__(self, org_slug: str) -> None:
        self.org_slug = org_slug
        self._seen: dict[str, Person] = {}

    def of(self, deployment: Deployment) -> Person:
        creator = deployment.creator or ""
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


class Environments:
    """A project's environments read once per request."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._by_name: dict[str, Environment] | None = None

    def get(self, name: str) -> Environment | None:
        if self._by_name is None:
            self._by_name = {str(env.name): env for env in EnvironmentRepository.list(self.project.id)}
        return self._by_name.get(name)

    def external_url(self, name: str) -> str | None:
        env = self.get(name)
        if env is not None and env.external_url:
            return str(env.external_url)
        if name == PRODUCTION and self.project.build_command is not None:
            return sites.url_for(sites.production_label(self.project.slug, self.project.org_slug))
        return None


def present(deployment: Deployment, project: Project, people: People, envs: Environments) -> GitLabDeployment:
    env = envs.get(deployment.environment)
    return GitLabDeployment(
        deployment=deployment,
        project=project,
        environment_id=env.id if env is not None else None,
        external_url=envs.external_url(deployment.environment),
        user=people.of(deployment),
    )


def present_one(org_slug: str, project: Project, deployment: Deployment) -> GitLabDeployment:
    return present(deployment, project, People(org_slug), Environments(project))


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
