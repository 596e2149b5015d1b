"""Native webhook subscriptions: register, change, rotate the secret, list messages, ask for a redelivery.

A webhook belongs to one organization; another organization's is a 404. Its secret (`whsec_` + base64 of 32
random bytes) is shown once, in the answer that made it; after a rotation the old one signs too for 24 hours.
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, NamedTuple

from pynamodb.expressions.update import Action

from chalicelib.adapters import addresses, webhook_queue
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.models.attributes import utc_now
from chalicelib.models.project import ProjectRepository
from chalicelib.models.webhook import Webhook, WebhookRepository
from chalicelib.models.webhook_delivery import WebhookDelivery, WebhookDeliveryRepository
from chalicelib.services import listing
from chalicelib.services.listing import Page
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from chalicelib.services.inputs import WebhookCreate, WebhookUpdate

SECRET_PREFIX = "whsec_"
ROTATION_OVERLAP = timedelta(hours=24)
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MAX_PAGE = 1_000_000  # as the OpenAPI document's Paging declares (api.answers)


class IssuedWebhook(NamedTuple):
    """A webhook and its secret in the clear: only the answers that create or rotate one show it."""

    webhook: Webhook
    secret: str


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def checked_target(url: str) -> str:
    """Refuse a target that is, or resolves to, a loopback, private, link-local or metadata address."""
    return addresses.ensure_public_url(url, field="url", allow_private=get_settings().webhook_allow_private_targets)


def _checked_project(org_slug: str, project_id: int | None) -> int | None:
    if project_id is None:
        return None
    try:
        ProjectRepository.get(org_slug, project_id)
    except NotFound as exc:
        raise InvalidInput(f"project_id: project {project_id} not found", field="project_id") from exc
    return project_id


def create(org_slug: str, body: WebhookCreate) -> IssuedWebhook:
    webhook = Webhook(
        org_slug=org_slug,
        dialect="native",
        url=checked_target(body.url),
        events=body.events,
        project_id=_checked_project(org_slug, body.project_id),
        description=body.description,
        active=True,
        secret=new_secret(),
    )
    return IssuedWebhook(WebhookRepository.create(webhook), webhook.secret)


def _native(org_slug: str, webhook_id: int) -> Webhook:
    webhook = WebhookRepository.get(org_slug, webhook_id)
    if webhook.dialect != "native":  # a GitHub or GitLab hook is managed in its own dialect
        raise NotFound(f"webhook {webhook_id} not found")
    return webhook


def get(org_slug: str, webhook_id: int) -> Webhook:
    return _native(org_slug, webhook_id)


def list_all(org_slug: str) -> list[Webhook]:
    return [w for w in WebhookRepository.of_org(org_slug) if w.dialect == "native"]


def update(org_slug: str, webhook_id: int, body: WebhookUpdate) -> Webhook:
    webhook = _native(org_slug, webhook_id)
    actions: list[Action] = []
    if body.url is not None:
        actions.append(Webhook.url.set(checked_target(body.url)))
    if body.events is not None:
        # PynamoDB's stubs type a list of text as a list of its attributes; the stored value is the list of str.
        actions.append(Webhook.events.set(body.events))  # type: ignore[arg-type]
    if body.description is not None:
        actions.append(Webhook.description.set(body.description))
    if body.active is not None:
        actions.append(Webhook.active.set(body.active))
        if body.active:  # turned on again: the reason it was off and its failing streak are history
            actions += [Webhook.disabled_reason.remove(), Webhook.failing_since.remove()]
    if actions and not WebhookRepository.update(webhook, actions, Webhook.org_slug == org_slug):
        raise NotFound(f"webhook {webhook_id} not found")
    return _native(org_slug, webhook_id)


def delete(org_slug: str, webhook_id: int) -> None:
    _native(org_slug, webhook_id)
    WebhookRepository.delete(org_slug, webhook_id)


def rotate_secret(org_slug: str, webhook_id: int) -> IssuedWebhook:
    """A new secret; the old one keeps signing, as a second signature, for 24 hours."""
    webhook = _native(org_slug, webhook_id)
    secret = new_secret()
    actions: list[Action] = [
        Webhook.secret.set(secret),
        Webhook.previous_secret.set(webhook.secret),
        Webhook.previous_secret_expires_at.set(utc_now() + ROTATION_OVERLAP),
    ]
    if not WebhookRepository.update(webhook, actions, Webhook.secret == webhook.secret):
        raise Conflict("the secret was rotated by another request at the same time; read the webhook again")
    return IssuedWebhook(_native(org_slug, webhook_id), secret)


def deliveries(org_slug: str, webhook_id: int, page: int, per_page: int) -> Page[WebhookDelivery]:
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"page must be between 1 and {MAX_PAGE}", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
    _native(org_slug, webhook_id)
    return listing.paginate(WebhookDeliveryRepository.of_webhook(webhook_id), page, per_page)


def redeliver(org_slug: str, webhook_id: int, delivery_id: str) -> WebhookDelivery:
    """Attempt the message again now, with the same webhook-id; a pending one is attempted now as well."""
    webhook = _native(org_slug, webhook_id)
    if not webhook.active:
        raise Conflict(f"webhook {webhook_id} is disabled; PATCH it with active true before asking for a redelivery")
    delivery = WebhookDeliveryRepository.find(webhook_id, delivery_id)
    if delivery is None:
        raise NotFound(f"delivery {delivery_id!r} not found")
    WebhookDeliveryRepository.reopen(delivery, utc_now())
    webhook_queue.enqueue(webhook_id, delivery_id)
    return delivery
