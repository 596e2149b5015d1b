"""GitLab's project hooks: subscriptions a GitLab client makes on one project (`/api/v4/projects/:id/hooks`), and
the Deployment Hook body a deployment event becomes for them.

A hook is a Webhook of dialect "gitlab" bound to its project; its token (possibly "") is the secret GitLab sends,
in the clear, as X-Gitlab-Token. Of GitLab's event switches only `deployment_events` makes deployd send anything:
the hook's `events` is ["deployment"] when it is on and [] (nothing) when it is off. See docs/webhooks.md.
"""

from __future__ import annotations

import re
from datetime import UTC
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pynamodb.expressions.update import Action

from chalicelib.adapters import addresses, sites
from chalicelib.errors import Conflict, NotFound
from chalicelib.models.organization import OrganizationRepository
from chalicelib.models.project import Project
from chalicelib.models.webhook import Webhook, WebhookRepository
from chalicelib.services import gitlab_views as views
from chalicelib.services.events import Event
from chalicelib.services.gitlab_params import HOOK_DEFAULTS, HookFields
from chalicelib.services.statuses import GITLAB_STATUS, logs_url
from chalicelib.settings import get_settings
from chalicelib.vocabulary import EventType

if TYPE_CHECKING:
    from chalicelib.services.webhook_fanout import Message

DIALECT = "gitlab"
EVENT_TYPE = "deployment"  # the Deployment Hook: the one GitLab event deployd has anything to tell of
VISIBILITY_PRIVATE = 0  # GitLab's visibility_level of a private project; deployd's projects are private


# ---- the hooks ----


def _checked_target(url: str) -> str:
    """Refuse a target that is, or resolves to, a loopback, private, link-local or metadata address."""
    return addresses.ensure_public_url(url, field="url", allow_private=get_settings().webhook_allow_private_targets)


def _options(fields: HookFields, current: dict[str, Any]) -> dict[str, Any]:
    """The hook's GitLab settings after applying what `fields` gives to `current` (absent: left as they are)."""
    options = {**current, **(fields.switches or {})}
    given = {
        "name": fields.name,
        "push_events_branch_filter": fields.push_events_branch_filter,
        "branch_filter_strategy": fields.branch_filter_strategy,
    }
    options.update({key: value for key, value in given.items() if value is not None})
    return options


def _events(options: dict[str, Any]) -> list[str]:
    return [EVENT_TYPE] if options.get("deployment_events") else []


def create(org_slug: str, raw_project_id: str, fields: HookFields) -> Webhook:
    project = views.resolve_project(org_slug, raw_project_id)
    options = _options(fields, dict(HOOK_DEFAULTS))
    webhook = Webhook(
        org_slug=org_slug,
        dialect=DIALECT,
        url=_checked_target(fields.url),
        events=_events(options),
        project_id=project.id,
        description=fields.description,
        active=True,
        secret=fields.token or "",
        dialect_options=options,
    )
    return WebhookRepository.create(webhook)


def list_all(org_slug: str, raw_project_id: str) -> list[Webhook]:
    project = views.resolve_project(org_slug, raw_project_id)
    return [w for w in WebhookRepository.of_org(org_slug) if w.dialect == DIALECT and w.project_id == project.id]


def get(org_slug: str, raw_project_id: str, hook_id: int) -> Webhook:
    """The project's hook; another project's, another dialect's or another organization's is a 404."""
    project = views.resolve_project(org_slug, raw_project_id)
    webhook = WebhookRepository.get(org_slug, hook_id)
    if webhook.dialect != DIALECT or webhook.project_id != project.id:
        raise NotFound(f"hook {hook_id} not found")
    return webhook


def options_of(webhook: Webhook) -> dict[str, Any]:
    stored = webhook.dialect_options.as_dict() if webhook.dialect_options is not None else {}
    return {**HOOK_DEFAULTS, **stored}


def update(org_slug: str, raw_project_id: str, hook_id: int, fields: HookFields) -> Webhook:
    """GitLab's PUT: the parameters given replace the stored ones. A new URL without a token drops the old token
    (as GitLab does: a token is not sent to an address it was not given for). A PUT also turns a hook deployd
    disabled (410 Gone, or failing for days) back on."""
    webhook = get(org_slug, raw_project_id, hook_id)
    options = _options(fields, options_of(webhook))
    actions: list[Action] = [
        Webhook.url.set(_checked_target(fields.url)),
        Webhook.events.set(_events(options)),  # type: ignore[arg-type]  # a list of str, as stored
        Webhook.dialect_options.set(options),  # type: ignore[arg-type]  # a raw map
        Webhook.active.set(True),
        Webhook.disabled_reason.remove(),
        Webhook.failing_since.remove(),
    ]
    if fields.token is not None:
        actions.append(Webhook.secret.set(fields.token))
    elif fields.url != webhook.url:
        actions.append(Webhook.secret.set(""))
    if fields.description is not None:
        actions.append(Webhook.description.set(fields.description))
    if not WebhookRepository.update(webhook, actions, Webhook.updated_at == webhook.updated_at):
        raise Conflict(f"hook {hook_id} was changed by another request at the same time; read it again")
    return get(org_slug, raw_project_id, hook_id)


def delete(org_slug: str, raw_project_id: str, hook_id: int) -> None:
    get(org_slug, raw_project_id, hook_id)
    WebhookRepository.delete(org_slug, hook_id)


# ---- the Deployment Hook ----


def status_told(event: Event) -> str | None:
    """The GitLab status a Deployment Hook announces for `event`, or None when GitLab would send nothing.

    GitLab sends one when a deployment becomes running, success, failed or canceled: deployd's cloning, building,
    uploading and deploying are all `running`, so only the first of them is news; `created` (queued) and a
    promotion are not."""
    if event.type == EventType.PROMOTED:
        return None
    status = GITLAB_STATUS[event.deployment.status]
    if status == "created":
        return None
    if event.previous_status is not None and GITLAB_STATUS.get(event.previous_status) == status:
        return None
    return status


def deployment_hook(event: Event, project: Project, is_active: bool) -> Message | None:
    """The fan-out's renderer for GitLab hooks: GitLab's Deployment Hook body, or None."""
    # Imported here: webhook_fanout registers this renderer, so it imports this module first.
    from chalicelib.services.webhook_fanout import Message

    status = status_told(event)
    if status is None:
        return None
    return Message(EVENT_TYPE, deployment_body(event, project, status))


def deployment_body(event: Event, project: Project, status: str) -> dict[str, Any]:
    d = event.deployment
    base = get_settings().api_url
    person = views.People(d.org_slug).of(d)
    return {
        "object_kind": "deployment",
        "status": status,
        "status_changed_at": event.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000"),
        "deployment_id": d.id,
        # deployd's build is the deployment's job; one reported by an external deployer has none.
        "deployable_id": d.id if d.managed else None,
        "deployable_url": logs_url(d) if d.managed else None,
        "environment": d.environment,
        "environment_tier": environment_tier(d.environment),
        "environment_slug": environment_slug(d.environment),
        "environment_external_url": views.Environments(project).external_url(d.environment),
        "project": _project_json(project),
        "short_sha": d.commit_sha[:8],
        "user": {
            "id": person.id,
            "name": person.name,
            "username": person.username,
            "avatar_url": None,
            "email": None,  # deployd records no email for an API key
        },
        "user_url": views.user_json(person, base)["web_url"],
        "commit_url": commit_url(project.repo_url, d.commit_sha),
        "commit_title": views.commit_title(d),
        "ref": d.branch,
    }


def _project_json(project: Project) -> dict[str, Any]:
    """The project as GitLab's hook bodies show one; its page is its production site, as in GET /projects/:id."""
    try:
        namespace = OrganizationRepository.get(project.org_slug).name
    except NotFound:
        namespace = project.org_slug
    web_url = sites.url_for(sites.production_label(project.slug, project.org_slug))
    return {
        "id": project.id,
        "name": project.name,
        "description": None,
        "web_url": web_url,
        "avatar_url": None,
        "git_ssh_url": None,
        "git_http_url": project.repo_url,
        "namespace": namespace,
        "visibility_level": VISIBILITY_PRIVATE,
        "path_with_namespace": f"{project.org_slug}/{project.slug}",
        "default_branch": project.default_branch,
        "ci_config_path": None,
        "homepage": web_url,
        "url": project.repo_url,
        "ssh_url": None,
        "http_url": project.repo_url,
    }


def commit_url(repo_url: str, sha: str) -> str | None:
    """The commit's page on the repository's host: `<repository>/commit/<sha>`, which GitHub serves and GitLab
    redirects to its own; None for a repository that is not on the web (a local path, an ssh address)."""
    parts = urlsplit(repo_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{repo_url.removesuffix('/').removesuffix('.git')}/commit/{sha}"


# GitLab's guess of an environment's tier from its name, in GitLab's order.
_TIERS = (
    ("development", re.compile(r"dev|review|trunk", re.IGNORECASE)),
    ("testing", re.compile(r"test|tst|int|ac(ce|)pt|qa|qc|control|quality", re.IGNORECASE)),
    ("staging", re.compile(r"st(a|)g|mod(e|)l|pre|demo|non", re.IGNORECASE)),
    ("production", re.compile(r"pr(o|)d|live", re.IGNORECASE)),
)


def environment_tier(name: str) -> str:
    return next((tier for tier, pattern in _TIERS if pattern.search(name)), "other")


SLUG_LIMIT = 24


def environment_slug(name: str) -> str:
    """GitLab's environment slug: lower case letters, digits and dashes, starting with a letter, at most 24
    characters."""
    slug = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", name.lower()))
    if not slug[:1].isalpha():
        slug = f"env-{slug}"
    return slug[:SLUG_LIMIT].rstrip("-")
