"""From events to messages: each event becomes one message per webhook that wants it, stored as a delivery (its
body rendered once in the webhook's dialect) and put on the delivery queue. Nothing here waits for a receiver.

A message's id derives from the event (message_id(deployment, sequence)), so fanning one event out again (a
stream batch retried) finds the message already stored and makes no second one. It is enqueued again only while
nobody has tried it yet: a crash between storing and enqueuing must not lose it (delivery is at least once).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from chalicelib.adapters import webhook_queue
from chalicelib.errors import NotFound
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.webhook import Webhook, WebhookRepository
from chalicelib.models.webhook_delivery import (
    WebhookDelivery,
    WebhookDeliveryRepository,
    expiry,
    message_id,
)
from chalicelib.observability import logger
from chalicelib.services import github_hooks, gitlab_hooks
from chalicelib.services.deployments.queries import DeploymentView, active_id
from chalicelib.services.events import Event
from chalicelib.services.native_json import deployment_json
from chalicelib.services.timestamps import iso


class Message(NamedTuple):
    """One event as a dialect tells it: the name its receivers know the event by (what a webhook's `events`
    subscribe to, and what the dialect's event header says) and the body."""

    event_type: str
    body: dict[str, Any]


# A dialect's rendering of an event: None when the dialect has nothing to tell of it.
Renderer = Callable[[Event, Project, bool], "Message | None"]


def native_message(event: Event, project: Project, is_active: bool) -> Message:
    return Message(event.type.value, native_body(event, project, is_active))


def native_body(event: Event, project: Project, is_active: bool) -> dict[str, Any]:
    """Standard Webhooks' payload: {type, timestamp, data}, the deployment exactly as the native GET shows it."""
    data: dict[str, Any] = {"deployment": deployment_json(DeploymentView(event.deployment, is_active))}
    if event.previous_status is not None:
        data["previous_status"] = event.previous_status
    data["sequence"] = event.sequence
    data["project"] = {"id": project.id, "slug": project.slug, "name": project.name}
    return {"type": event.type.value, "timestamp": iso(event.occurred_at), "data": data}


# Each dialect's message for an event; a webhook of a dialect not here gets nothing.
RENDERERS: dict[str, Renderer] = {
    "native": native_message,
    "github": github_hooks.github_message,
    "gitlab": gitlab_hooks.deployment_hook,
}


def fan_out(events: Iterable[Event]) -> int:
    """Store and enqueue every event's messages; the number of messages enqueued."""
    return FanOut()(events)


class FanOut:
    """One invocation's fan-out (a stream batch): an organization's webhooks, a project and an environment's
    active deployment are read once however many events the batch holds, each event's messages are stored in
    one write and enqueued ten to a request. What is read is the state when the batch runs, for every event."""

    def __init__(self) -> None:
        self._hooks: dict[str, list[Webhook]] = {}
        self._projects: dict[int, Project | None] = {}
        self._active: dict[tuple[int, str], int | None] = {}

    def __call__(self, events: Iterable[Event]) -> int:
        return sum(self._one(event) for event in events)

    def _one(self, event: Event) -> int:
        deployment = event.deployment
        hooks = [
            hook
            for hook in self._hooks_of(deployment.org_slug)
            if hook.dialect in RENDERERS and hook.wants(deployment.project_id, None)
        ]
        if not hooks:
            return 0
        project = self._project(deployment.project_id)
        if project is None:
            return 0  # the project is gone: so are its subscribers' reasons to hear about it
        is_active = self._active_id(project.id, deployment.environment) == deployment.id
        messages: dict[str, Message | None] = {}  # rendered once per dialect, whatever the number of webhooks
        deliveries: list[WebhookDelivery] = []
        for hook in hooks:
            if hook.dialect not in messages:
                messages[hook.dialect] = RENDERERS[hook.dialect](event, project, is_active)
            message = messages[hook.dialect]
            if message is not None and hook.wants(deployment.project_id, message.event_type):
                deliveries.append(_delivery(hook, event, message))
        due = _store(deliveries)
        webhook_queue.enqueue_now([(delivery.webhook_id, delivery.id) for delivery in due])
        logger.info(
            "event fanned out",
            extra={"event_type": event.type.value, "deployment_id": deployment.id, "messages": len(due)},
        )
        return len(due)

    def _hooks_of(self, org_slug: str) -> list[Webhook]:
        if org_slug not in self._hooks:
            self._hooks[org_slug] = WebhookRepository.of_org(org_slug)
        return self._hooks[org_slug]

    def _project(self, project_id: int) -> Project | None:
        if project_id not in self._projects:
            try:
                self._projects[project_id] = ProjectRepository.get_by_id(project_id)
            except NotFound:
                self._projects[project_id] = None
        return self._projects[project_id]

    def _active_id(self, project_id: int, environment: str) -> int | None:
        key = (project_id, environment)
        if key not in self._active:
            self._active[key] = active_id(project_id, environment)
        return self._active[key]


def _delivery(hook: Webhook, event: Event, message: Message) -> WebhookDelivery:
    return WebhookDelivery(
        webhook_id=hook.id,
        id=message_id(event.deployment.id, event.sequence),
        event_type=message.event_type,
        deployment_id=event.deployment.id,
        body=json.dumps(message.body),
        expires_at=expiry(int(time.time())),
    )


def _store(deliveries: list[WebhookDelivery]) -> list[WebhookDelivery]:
    """Store the event's new messages; the messages to enqueue: the new ones, and those stored before but never
    tried (a crash between storing and enqueuing, then this retry of the stream batch)."""
    stored = WebhookDeliveryRepository.find_many((d.webhook_id, d.id) for d in deliveries)
    new = [d for d in deliveries if (d.webhook_id, d.id) not in stored]
    WebhookDeliveryRepository.create_many(new)
    untried = [d for d in stored.values() if d.status == "pending" and not d.attempts]
    return new + untried
