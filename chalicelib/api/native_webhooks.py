"""The native API's webhooks under /api/v1/public/webhooks: subscriptions, their secret, their delivery log.

A webhook's secret appears only in the answers that create or rotate it; every other answer leaves it out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller, Many, One
from chalicelib.api.http import int_param, json_response, paged, path_id
from chalicelib.api.timestamps import iso

if TYPE_CHECKING:
    from chalicelib.api.answers import DeliveryJson, IssuedWebhookJson, RedeliveryJson, WebhookJson
    from chalicelib.models.webhook import Webhook
    from chalicelib.models.webhook_delivery import WebhookDelivery
    from chalicelib.services.inputs import WebhookCreate, WebhookUpdate
    from chalicelib.services.webhooks import IssuedWebhook

dialect = dialects.native


def webhook_json(webhook: Webhook) -> WebhookJson:
    return {
        "id": webhook.id,
        "url": webhook.url,
        "events": [str(event) for event in webhook.events],
        "project_id": webhook.project_id,
        "description": webhook.description,
        "active": bool(webhook.active),
        "disabled_reason": webhook.disabled_reason,
        "created_at": iso(webhook.created_at),
        "updated_at": iso(webhook.updated_at),
    }


def issued_json(issued: IssuedWebhook) -> IssuedWebhookJson:
    return {**webhook_json(issued.webhook), "secret": issued.secret}


def delivery_json(delivery: WebhookDelivery) -> DeliveryJson:
    return {
        "id": delivery.id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": [
            {"at": iso(a.at), "status_code": a.status_code, "duration_ms": a.duration_ms, "error": a.error}
            for a in delivery.attempts
        ],
        "next_attempt_at": iso(delivery.next_attempt_at),
        "created_at": iso(delivery.created_at),
    }


def _data(status: int, payload: Any) -> Response:
    return json_response(status, {"data": payload})


@dialect.route(
    "/webhooks", methods=["POST"], scope="webhooks:write", one_time=("secret",), answers={201: One("IssuedWebhookJson")}
)
def create_webhook(caller: Caller, body: WebhookCreate) -> Response:
    """Subscribe a URL to deployment events; the signing secret is shown in this answer only."""
    from chalicelib.services import webhooks

    return _data(201, issued_json(webhooks.create(caller.principal.org_slug, body)))


@dialect.route("/webhooks", methods=["GET"], scope="webhooks:read", answers={200: Many("WebhookJson", "Total")})
def list_webhooks(caller: Caller) -> Response:
    """List the organization's webhooks."""
    from chalicelib.services import webhooks

    items = [webhook_json(w) for w in webhooks.list_all(caller.principal.org_slug)]
    return json_response(200, {"data": items, "meta": {"total": len(items)}})


@dialect.route("/webhooks/{webhook_id}", methods=["GET"], scope="webhooks:read", answers={200: One("WebhookJson")})
def get_webhook(caller: Caller, webhook_id: str) -> Response:
    """Get a webhook."""
    from chalicelib.services import webhooks

    return _data(200, webhook_json(webhooks.get(caller.principal.org_slug, path_id(webhook_id, "webhook"))))


@dialect.route("/webhooks/{webhook_id}", methods=["PATCH"], scope="webhooks:write", answers={200: One("WebhookJson")})
def update_webhook(caller: Caller, webhook_id: str, body: WebhookUpdate) -> Response:
    """Change a webhook: only the fields sent."""
    from chalicelib.services import webhooks

    wid = path_id(webhook_id, "webhook")
    return _data(200, webhook_json(webhooks.update(caller.principal.org_slug, wid, body)))


@dialect.route("/webhooks/{webhook_id}", methods=["DELETE"], scope="webhooks:write", answers={204: None})
def delete_webhook(caller: Caller, webhook_id: str) -> Response:
    """Delete a webhook."""
    from chalicelib.services import webhooks

    webhooks.delete(caller.principal.org_slug, path_id(webhook_id, "webhook"))
    return json_response(204, None)


@dialect.route(
    "/webhooks/{webhook_id}/rotate-secret",
    methods=["POST"],
    scope="webhooks:write",
    one_time=("secret",),
    answers={200: One("IssuedWebhookJson")},
)
def rotate_webhook_secret(caller: Caller, webhook_id: str) -> Response:
    """Give a webhook a new signing secret (the previous one still signs for a while)."""
    from chalicelib.services import webhooks

    issued = webhooks.rotate_secret(caller.principal.org_slug, path_id(webhook_id, "webhook"))
    return _data(200, issued_json(issued))


@dialect.route(
    "/webhooks/{webhook_id}/deliveries",
    methods=["GET"],
    scope="webhooks:read",
    query="Paging",
    answers={200: Many("DeliveryJson", "Paged")},
)
def list_webhook_deliveries(caller: Caller, webhook_id: str) -> Response:
    """List a webhook's deliveries, newest first."""
    from chalicelib.services import webhooks

    query: Any = dialect.current_request.query_params or {}
    page = webhooks.deliveries(
        caller.principal.org_slug,
        path_id(webhook_id, "webhook"),
        int_param(query.get("page"), "page", 1),
        int_param(query.get("per_page"), "per_page", webhooks.DEFAULT_PER_PAGE),
    )
    return json_response(200, {"data": [delivery_json(d) for d in page.items], "meta": paged(page)})


@dialect.route(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    methods=["POST"],
    scope="webhooks:write",
    answers={202: One("RedeliveryJson")},
)
def redeliver_webhook_message(caller: Caller, webhook_id: str, delivery_id: str) -> Response:
    """Send a delivery's message again."""
    from chalicelib.services import webhooks

    delivery = webhooks.redeliver(caller.principal.org_slug, path_id(webhook_id, "webhook"), delivery_id)
    queued: RedeliveryJson = {"id": delivery.id, "status": "pending"}
    return json_response(202, {"data": queued})
