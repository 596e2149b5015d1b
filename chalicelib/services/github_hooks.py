"""GitHub's repository webhooks: a hook belongs to the repository (project) it was made on, and is told of that
project's deployments as GitHub tells them (`deployment`, `deployment_status`), with a `ping` when it is made and
whenever one is asked for. Delivery, retries and the log are the shared ones (services/webhook_delivery.py).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from pynamodb.expressions.update import Action

from chalicelib.adapters import webhook_queue
from chalicelib.errors import Conflict, FieldRejected, InvalidInput, NotFound
from chalicelib.models.attributes import utc_now
from chalicelib.models.deployment_status import DeploymentStatus, DeploymentStatusRepository
from chalicelib.models.project import Project
from chalicelib.models.webhook import EVERY_EVENT, Webhook, WebhookRepository
from chalicelib.models.webhook_delivery import (
    WebhookDelivery,
    WebhookDeliveryRepository,
    expiry,
    github_delivery_number,
)
from chalicelib.services import github_json, statuses
from chalicelib.services.events import Event, EventType
from chalicelib.services.github import StatusView
from chalicelib.services.webhooks import checked_target
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.services.inputs import GithubHookConfig, GithubHookCreate, GithubHookUpdate
    from chalicelib.services.webhook_fanout import Message

RESOURCE = "Hook"
EVENTS = frozenset({"deployment", "deployment_status", EVERY_EVENT})
DEFAULT_EVENTS = ["deployment", "deployment_status"]  # GitHub's default, push, is not an event deployd has
MIN_SECRET_LENGTH = 16
ZEN = "Design for failure."
# A deployment_status event tells of a status GET .../statuses shows; deployd appends it right after the status
# write the event comes from, so the fan-out waits this long at most for it to be there.
STATUS_WAIT_SECONDS = 2.0
# Clocks of the writer of the status and of the deployment may differ by this much (a Lambda, Step Functions).
CLOCK_TOLERANCE = timedelta(seconds=2)


class HookView(NamedTuple):
    """A hook and what its newest delivery answered (GitHub's `last_response`)."""

    hook: Webhook
    last_response: dict[str, Any]


# The hooks


def _checked_events(events: list[str], field: str) -> list[str]:
    unknown = sorted(set(events) - EVENTS)
    if unknown:
        names = ", ".join(sorted(EVENTS - {EVERY_EVENT}))
        raise FieldRejected(RESOURCE, field, "invalid", f"{unknown[0]} is not a valid event name (use {names} or *)")
    return list(dict.fromkeys(events))


class HookConfig(NamedTuple):
    url: str
    secret: str  # "" for none: deliveries are then unsigned
    insecure_ssl: str  # "1": an https receiver's certificate is not checked


def checked_config(config: GithubHookConfig) -> HookConfig:
    if config.content_type != "json":
        raise FieldRejected(RESOURCE, "content_type", "invalid", "content_type must be json: deployd sends JSON only")
    insecure_ssl = str(config.insecure_ssl)
    if insecure_ssl not in ("0", "1"):
        raise FieldRejected(RESOURCE, "insecure_ssl", "invalid", "insecure_ssl must be 0 or 1")
    secret = config.secret or ""
    if 0 < len(secret) < MIN_SECRET_LENGTH:
        raise FieldRejected(RESOURCE, "secret", "invalid", f"secret must be at least {MIN_SECRET_LENGTH} characters")
    try:
        url = checked_target(config.url)
    except InvalidInput as exc:
        raise FieldRejected(RESOURCE, "url", "invalid", exc.message) from exc
    return HookConfig(url, secret, insecure_ssl)


def insecure_ssl(hook: Webhook) -> str:
    options = hook.dialect_options.as_dict() if hook.dialect_options is not None else {}
    return str(options.get("insecure_ssl", "0"))


def create(project: Project, body: GithubHookCreate, site: str) -> HookView:
    """A new hook on the repository; an active one is pinged at once, as GitHub does."""
    if body.name != "web":
        raise FieldRejected(RESOURCE, "name", "invalid", "name must be web")
    config = checked_config(body.config)
    hook = Webhook(
        org_slug=project.org_slug,
        dialect="github",
        project_id=project.id,
        url=config.url,
        events=_checked_events(body.events if body.events is not None else DEFAULT_EVENTS, "events"),
        active=body.active,
        secret=config.secret,
        dialect_options={"insecure_ssl": config.insecure_ssl},
    )
    WebhookRepository.create(hook)
    if hook.active:
        _ping(project, hook, site)
    return view(hook)


def _hook(project: Project, hook_id: int) -> Webhook:
    """The repository's hook; a native or GitLab webhook, or another repository's hook, is none."""
    hook = WebhookRepository.get(project.org_slug, hook_id)
    if hook.dialect != "github" or hook.project_id != project.id:
        raise NotFound(f"hook {hook_id} not found")
    return hook


def view(hook: Webhook) -> HookView:
    return HookView(hook, _last_response(_newest_first(hook.id)))


def get(project: Project, hook_id: int) -> HookView:
    return view(_hook(project, hook_id))


def list_hooks(project: Project) -> list[HookView]:
    hooks = WebhookRepository.of_org(project.org_slug)
    return [view(h) for h in hooks if h.dialect == "github" and h.project_id == project.id]


def update(project: Project, hook_id: int, body: GithubHookUpdate) -> HookView:
    """PATCH: a config replaces the config (its secret kept when none is given); events replace the list,
    add_events and remove_events change it."""
    hook = _hook(project, hook_id)
    actions: list[Action] = []
    if body.config is not None:
        config = checked_config(body.config)
        actions.append(Webhook.url.set(config.url))
        actions.append(Webhook.dialect_options.set({"insecure_ssl": config.insecure_ssl}))  # type: ignore[arg-type]
        if body.config.secret is not None:
            actions.append(Webhook.secret.set(config.secret))
    events: list[str] = [str(e) for e in hook.events]
    if body.events is not None:
        events = _checked_events(body.events, "events")
    if body.add_events:
        events = list(dict.fromkeys(events + _checked_events(body.add_events, "add_events")))
    if body.remove_events:
        removed = set(_checked_events(body.remove_events, "remove_events"))
        events = [e for e in events if e not in removed]
    if events != [str(e) for e in hook.events]:
        if not events:
            raise FieldRejected(RESOURCE, "events", "invalid", "a hook needs at least one event")
        actions.append(Webhook.events.set(events))  # type: ignore[arg-type]  # PynamoDB's stubs: a list of str
    if body.active is not None:
        actions.append(Webhook.active.set(body.active))
        if body.active:
            actions += [Webhook.disabled_reason.remove(), Webhook.failing_since.remove()]
    if actions and not WebhookRepository.update(hook, actions, Webhook.org_slug == project.org_slug):
        raise NotFound(f"hook {hook_id} not found")
    return view(_hook(project, hook_id))


def delete(project: Project, hook_id: int) -> None:
    _hook(project, hook_id)
    WebhookRepository.delete(project.org_slug, hook_id)


def ping(project: Project, hook_id: int, site: str) -> None:
    hook = _hook(project, hook_id)
    if not hook.active:
        raise Conflict(f"hook {hook_id} is not active; PATCH it with active true to ping it")
    _ping(project, hook, site)


def _ping(project: Project, hook: Webhook, site: str) -> None:
    body = {
        "zen": ZEN,
        "hook_id": hook.id,
        "hook": github_json.hook_json(site, project, hook, insecure_ssl(hook), _last_response([])),
        "repository": github_json.webhook_repository_json(site, project),
        "sender": github_json.webhook_user(github_json.user_json(site, project.org_slug)),
    }
    delivery = WebhookDelivery(
        webhook_id=hook.id,
        id=f"ping_{uuid.uuid4().hex}",
        event_type="ping",
        body=json.dumps(body),
        expires_at=expiry(int(time.time())),
    )
    WebhookDeliveryRepository.create(delivery)
    webhook_queue.enqueue(hook.id, delivery.id)


# Its deliveries


def _newest_first(hook_id: int) -> list[WebhookDelivery]:
    deliveries = WebhookDeliveryRepository.of_webhook(hook_id)
    return sorted(deliveries, key=lambda d: (d.created_at, d.id), reverse=True)


def _last_response(newest_first: list[WebhookDelivery]) -> dict[str, Any]:
    for delivery in newest_first:
        if delivery.attempts:
            code = delivery.attempts[-1].status_code
            if code is not None and 200 <= code < 300:
                return {"code": code, "status": "active", "message": "OK"}
            return {"code": code, "status": "failed", "message": delivery.attempts[-1].error or f"HTTP {code}"}
    return {"code": None, "status": "unused", "message": None}


def deliveries(project: Project, hook_id: int) -> list[WebhookDelivery]:
    """The hook's deliveries, newest first (kept 30 days)."""
    return _newest_first(_hook(project, hook_id).id)


def delivery(project: Project, hook_id: int, number: int) -> WebhookDelivery:
    """A delivery by the integer id GitHub's log shows (derived from the stored message's id)."""
    hook = _hook(project, hook_id)
    for found in WebhookDeliveryRepository.of_webhook(hook.id):
        if github_delivery_number(hook.id, found.id) == number:
            return found
    raise NotFound(f"delivery {number} not found")


def redeliver(project: Project, hook_id: int, number: int) -> WebhookDelivery:
    """Attempt the delivery again now, with the same X-GitHub-Delivery."""
    hook = _hook(project, hook_id)
    if not hook.active:
        raise Conflict(f"hook {hook_id} is not active; PATCH it with active true before redelivering")
    found = delivery(project, hook_id, number)
    WebhookDeliveryRepository.reopen(found, utc_now())
    webhook_queue.enqueue(hook.id, found.id)
    return found


# Events as GitHub tells them


def github_message(event: Event, project: Project, is_active: bool) -> Message | None:
    """`deployment` for a new deployment; `deployment_status` for a move that published a deployment status;
    nothing for a promotion (GitHub has no such event)."""
    from chalicelib.services.webhook_fanout import Message  # the fan-out imports this module for its renderer

    site = get_settings().api_url
    deployment = github_json.deployment_json(site, project, event.deployment)
    deployment["creator"] = github_json.webhook_user(deployment["creator"])
    repository = github_json.webhook_repository_json(site, project)
    if event.type == EventType.CREATED:
        body = {
            "action": "created",
            "deployment": deployment,
            "workflow": None,
            "workflow_run": None,
            "repository": repository,
            "sender": deployment["creator"],
        }
        return Message("deployment", body)
    if event.type != EventType.STATUS_CHANGED:
        return None
    status = _published_status(event)
    if status is None:
        return None
    deployment_status = github_json.status_json(site, project, StatusView(status, event.deployment))
    deployment_status.pop("performed_via_github_app")
    deployment_status["creator"] = github_json.webhook_user(deployment_status["creator"])
    if not deployment_status["log_url"]:  # GitHub leaves out a log URL nobody gave
        deployment_status.pop("log_url")
    body = {
        "action": "created",
        "deployment_status": deployment_status,
        "deployment": deployment,
        "repository": repository,
        "sender": deployment_status["creator"],
    }
    return Message("deployment_status", body)


def _published_status(event: Event) -> DeploymentStatus | None:
    """The deployment status this move published, as GET .../statuses shows it; None when the move published
    none (cloning to building is in_progress either way)."""
    deployment = event.deployment
    state = statuses.GITHUB_STATE[deployment.status]
    if event.previous_status is not None and statuses.GITHUB_STATE.get(event.previous_status) == state:
        return None
    not_before = event.occurred_at - CLOCK_TOLERANCE
    deadline = time.monotonic() + STATUS_WAIT_SECONDS
    while True:
        for status in DeploymentStatusRepository.history(deployment.id):  # newest first
            if status.created_at is not None and status.created_at < not_before:
                break
            if status.state == state or statuses.NATIVE_FROM_GITHUB.get(status.state) == deployment.status:
                return status
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)  # the status is appended right after the write this event comes from
