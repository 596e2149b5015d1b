"""The native webhooks API over HTTP against the in-process embedded stack: subscriptions and their secret,
another organization's hooks, scopes, validation in the native error format, and a real receiver on loopback
that fails twice and then succeeds."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook as Verifier

from tests.support.polling import wait_until
from tests.support.receiver import Answer, running


@pytest.fixture
def api(stack: Any) -> str:
    return f"{stack.api_url}/api/v1/public"


def _key(org_slug: str, scopes: list[str] | None = None) -> dict[str, str]:
    from chalicelib.services import organizations

    return {"Authorization": f"Bearer {organizations.create_key(org_slug, 'ci', scopes).token}"}


def test_a_webhook_is_created_read_changed_rotated_and_deleted(api: str, api_key: tuple[str, dict[str, str]]) -> None:
    _, headers = api_key

    # Given a webhook made with only a URL: every event, every project, active, with a secret shown this once
    created = requests.post(f"{api}/webhooks", json={"url": "https://hooks.example.com/a"}, headers=headers, timeout=10)
    assert created.status_code == 201, created.text
    hook = created.json()["data"]
    assert hook["url"] == "https://hooks.example.com/a"
    assert hook["events"] == ["*"] and hook["project_id"] is None and hook["active"] is True
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) > 40
    assert hook["created_at"]

    # Then it is listed and read without its secret
    listed = requests.get(f"{api}/webhooks", headers=headers, timeout=10).json()["data"]
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
    one = requests.get(f"{api}/webhooks/{hook['id']}", headers=headers, timeout=10)
    assert one.status_code == 200 and "secret" not in one.json()["data"]

    # When it is changed: the events, the description, switched off
    patched = requests.patch(
        f"{api}/webhooks/{hook['id']}",
        json={"events": ["deployment.status_changed"], "description": "failures", "active": False},
        headers=headers,
        timeout=10,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["events"] == ["deployment.status_changed"]
    assert patched.json()["data"]["description"] == "failures" and patched.json()["data"]["active"] is False

    # When its secret is rotated: a new one, shown in that answer only
    rotated = requests.post(f"{api}/webhooks/{hook['id']}/rotate-secret", headers=headers, timeout=10)
    assert rotated.status_code == 200
    assert rotated.json()["data"]["secret"].startswith("whsec_") and rotated.json()["data"]["secret"] != hook["secret"]

    # When it is deleted, it is gone
    deleted = requests.delete(f"{api}/webhooks/{hook['id']}", headers=headers, timeout=10)
    assert deleted.status_code == 204 and deleted.content == b""
    gone = requests.get(f"{api}/webhooks/{hook['id']}", headers=headers, timeout=10)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"


def test_another_organizations_webhook_is_404_whatever_is_asked(
    api: str, api_key: tuple[str, dict[str, str]], org_factory: Callable[..., Any]
) -> None:
    _, owner = api_key
    hook = requests.post(f"{api}/webhooks", json={"url": "https://hooks.example.com/b"}, headers=owner, timeout=10)
    hook_id = hook.json()["data"]["id"]
    stranger = _key(org_factory().slug)

    answers = [
        requests.get(f"{api}/webhooks/{hook_id}", headers=stranger, timeout=10),
        requests.patch(f"{api}/webhooks/{hook_id}", json={"active": False}, headers=stranger, timeout=10),
        requests.delete(f"{api}/webhooks/{hook_id}", headers=stranger, timeout=10),
        requests.post(f"{api}/webhooks/{hook_id}/rotate-secret", headers=stranger, timeout=10),
        requests.get(f"{api}/webhooks/{hook_id}/deliveries", headers=stranger, timeout=10),
        requests.post(f"{api}/webhooks/{hook_id}/deliveries/msg_1/redeliver", headers=stranger, timeout=10),
    ]

    assert [a.status_code for a in answers] == [404] * 6
    assert requests.get(f"{api}/webhooks", headers=stranger, timeout=10).json()["data"] == []
    assert requests.get(f"{api}/webhooks/{hook_id}", headers=owner, timeout=10).json()["data"]["active"] is True


def test_a_key_without_webhooks_write_may_read_but_not_change_webhooks(
    api: str, org_factory: Callable[..., Any]
) -> None:
    org = org_factory()
    reader = _key(org.slug, ["projects:read", "deployments:read", "webhooks:read"])
    blind = _key(org.slug, ["projects:read", "projects:write", "deployments:read", "deployments:write"])

    refused = requests.post(f"{api}/webhooks", json={"url": "https://hooks.example.com/c"}, headers=reader, timeout=10)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden" and "webhooks:write" in refused.json()["error"]["message"]
    assert requests.get(f"{api}/webhooks", headers=reader, timeout=10).status_code == 200
    assert requests.get(f"{api}/webhooks", headers=blind, timeout=10).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "hooks.example.com/x"}, "url"),
        ({"url": "https://hooks.example.com/x", "events": ["deployment.exploded"]}, "events"),
        ({"url": "https://hooks.example.com/x", "events": []}, "events"),
        ({"url": "https://hooks.example.com/x", "project_id": "7"}, "project_id"),
        ({"url": "https://hooks.example.com/x", "secret": "mine"}, "secret"),
        ({}, "url"),
    ],
)
def test_bad_input_is_a_400_in_the_native_format(
    api: str, api_key: tuple[str, dict[str, str]], body: dict[str, Any], field: str
) -> None:
    _, headers = api_key
    refused = requests.post(f"{api}/webhooks", json=body, headers=headers, timeout=10)
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_input" and error["field"].startswith(field) and error["message"]


@pytest.mark.parametrize("query", ["page=0", "page=1000001", "per_page=0", "per_page=101"])
def test_a_page_of_deliveries_out_of_the_documented_bounds_is_a_400(
    api: str, api_key: tuple[str, dict[str, str]], query: str
) -> None:
    # Given a webhook
    _, headers = api_key
    created = requests.post(f"{api}/webhooks", json={"url": "https://hooks.example.com/p"}, headers=headers, timeout=10)
    assert created.status_code == 201, created.text

    # When its deliveries are asked for a page the OpenAPI document's bounds exclude
    refused = requests.get(
        f"{api}/webhooks/{created.json()['data']['id']}/deliveries?{query}", headers=headers, timeout=10
    )

    # Then it is a 400 naming the parameter, not an empty page
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_input" and error["field"] == query.split("=")[0]


def test_a_project_of_another_organization_cannot_be_subscribed_to(
    api: str,
    api_key: tuple[str, dict[str, str]],
    org_factory: Callable[..., Any],
    project_factory: Callable[..., Any],
    repo_factory: Callable[..., Any],
) -> None:
    slug, headers = api_key
    own = project_factory(slug, repo_factory())
    theirs = project_factory(org_factory().slug, repo_factory("theirs"))

    refused = requests.post(
        f"{api}/webhooks",
        json={"url": "https://h.example.com/", "project_id": theirs.project.id},
        headers=headers,
        timeout=10,
    )
    accepted = requests.post(
        f"{api}/webhooks",
        json={"url": "https://h.example.com/", "project_id": own.project.id},
        headers=headers,
        timeout=10,
    )

    assert refused.status_code == 400 and refused.json()["error"]["field"] == "project_id"
    assert accepted.status_code == 201 and accepted.json()["data"]["project_id"] == own.project.id


def _pending_message(webhook_id: int) -> str:
    """A message as the fan-out stores it (the fan-out itself is another part of the pipeline)."""
    from chalicelib.models.webhook_delivery import WebhookDelivery, WebhookDeliveryRepository, expiry

    delivery_id = f"msg_{uuid.uuid4().hex[:12]}"
    body = json.dumps({"type": "deployment.created", "timestamp": "2026-11-29T16:00:00Z", "data": {"sequence": 1}})
    WebhookDeliveryRepository.create(
        WebhookDelivery(
            webhook_id=webhook_id,
            id=delivery_id,
            event_type="deployment.created",
            body=body,
            expires_at=expiry(int(time.time())),
        )
    )
    return delivery_id


def test_a_receiver_that_fails_twice_then_succeeds_gets_the_same_webhook_id_three_times(
    api: str, api_key: tuple[str, dict[str, str]]
) -> None:
    _, headers = api_key
    with running(Answer(500), Answer(503), Answer(200)) as receiver:
        # Given a webhook to a receiver that fails twice, and a message for it
        hook = requests.post(f"{api}/webhooks", json={"url": receiver.url()}, headers=headers, timeout=10).json()[
            "data"
        ]
        delivery_id = _pending_message(hook["id"])

        # When it is sent (the redelivery route queues an attempt now)
        sent = requests.post(
            f"{api}/webhooks/{hook['id']}/deliveries/{delivery_id}/redeliver", headers=headers, timeout=10
        )
        assert sent.status_code == 202

        # Then the receiver gets it three times (the default schedule: at once, again at once, after 5 s)
        wait_until(lambda: len(receiver) >= 3, timeout=30, what="three attempts")
        assert [r.headers["webhook-id"] for r in receiver.received] == [delivery_id] * 3
        for got in receiver.received:
            Verifier(hook["secret"]).verify(got.body, got.headers)

        # And the delivery log shows the three attempts and the success
        def logged() -> dict[str, Any] | None:
            page = requests.get(f"{api}/webhooks/{hook['id']}/deliveries", headers=headers, timeout=10).json()
            return page if page["data"] and page["data"][0]["status"] == "succeeded" else None

        page = wait_until(logged, timeout=10, what="the success recorded")
        (message,) = page["data"]
        assert message["id"] == delivery_id and message["event_type"] == "deployment.created"
        assert [a["status_code"] for a in message["attempts"]] == [500, 503, 200]
        assert all(a["at"] and a["duration_ms"] >= 0 for a in message["attempts"])
        assert message["next_attempt_at"] is None
        assert page["meta"] == {"page": 1, "per_page": 20, "total": 1, "total_pages": 1}
        assert len(receiver) == 3
