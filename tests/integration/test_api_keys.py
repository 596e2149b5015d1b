"""API keys over HTTP: issued by the admin, stored only as a digest, dead the moment they are revoked."""

from __future__ import annotations

import hashlib
import uuid

import requests

from chalicelib.aws import client
from chalicelib.infra.resources import API_KEYS
from chalicelib.settings import get_settings

ADMIN = {"Authorization": "Bearer test-admin-token"}


def test_a_revoked_key_stops_working_on_the_next_request(stack):
    api = f"{stack.api_url}/api/v1"
    slug = f"acme-{uuid.uuid4().hex[:6]}"
    created = requests.post(f"{api}/admin/orgs", json={"slug": slug, "plan": "pro"}, headers=ADMIN, timeout=10)
    assert created.status_code == 201

    # Given a key issued over HTTP, which works
    issued = requests.post(f"{api}/admin/orgs/{slug}/keys", json={"name": "ci"}, headers=ADMIN, timeout=10)
    assert issued.status_code == 201
    key_id, token = issued.json()["data"]["id"], issued.json()["data"]["token"]
    as_key = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{api}/public/projects", headers=as_key, timeout=10).status_code == 200

    # When the admin revokes it
    revoked = requests.delete(f"{api}/admin/orgs/{slug}/keys/{key_id}", headers=ADMIN, timeout=10)

    # Then the very next request with it is refused, and revoking again finds nothing
    assert revoked.status_code == 204 and revoked.content == b""
    refused = requests.get(f"{api}/public/projects", headers=as_key, timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthenticated"
    assert requests.delete(f"{api}/admin/orgs/{slug}/keys/{key_id}", headers=ADMIN, timeout=10).status_code == 404


def test_another_organization_cannot_revoke_a_key(stack):
    api = f"{stack.api_url}/api/v1"
    owner, other = (f"org-{uuid.uuid4().hex[:6]}" for _ in range(2))
    for slug in (owner, other):
        requests.post(f"{api}/admin/orgs", json={"slug": slug, "plan": "free"}, headers=ADMIN, timeout=10)
    data = requests.post(f"{api}/admin/orgs/{owner}/keys", json={}, headers=ADMIN, timeout=10).json()["data"]

    response = requests.delete(f"{api}/admin/orgs/{other}/keys/{data['id']}", headers=ADMIN, timeout=10)

    assert response.status_code == 404
    assert (
        requests.get(
            f"{api}/public/projects", headers={"Authorization": f"Bearer {data['token']}"}, timeout=10
        ).status_code
        == 200
    )


def test_keys_are_stored_only_as_a_digest(stack):
    api = f"{stack.api_url}/api/v1"
    slug = f"acme-{uuid.uuid4().hex[:6]}"
    requests.post(f"{api}/admin/orgs", json={"slug": slug, "plan": "pro"}, headers=ADMIN, timeout=10)

    data = requests.post(f"{api}/admin/orgs/{slug}/keys", json={"name": "ci"}, headers=ADMIN, timeout=10).json()["data"]

    # The stored item, read raw from DynamoDB, holds the token's SHA-256 and nothing of the token itself
    item = client("dynamodb").get_item(
        TableName=get_settings().resource_name(API_KEYS.logical), Key={"key_id": {"S": data["id"]}}, ConsistentRead=True
    )["Item"]
    secret = data["token"].split("_", 2)[2]  # dpl_<key id>_<secret>
    stored = repr(item)
    assert data["token"] not in stored and secret not in stored
    assert item["token_sha256"] == {"S": hashlib.sha256(data["token"].encode()).hexdigest()}
    assert item["org_slug"] == {"S": slug}


def test_concurrent_requests_with_different_keys_each_see_only_their_own_organization(stack, repo_factory):
    import concurrent.futures

    api = f"{stack.api_url}/api/v1"
    keys: dict[str, dict[str, str]] = {}
    for _ in range(2):
        slug = f"org-{uuid.uuid4().hex[:6]}"
        assert requests.post(f"{api}/admin/orgs", json={"slug": slug, "plan": "pro"}, headers=ADMIN, timeout=10).ok
        issued = requests.post(f"{api}/admin/orgs/{slug}/keys", json={"name": "ci"}, headers=ADMIN, timeout=10)
        keys[slug] = {"Authorization": f"Bearer {issued.json()['data']['token']}"}
        project = {"name": f"site of {slug}", "repo_url": repo_factory(name=slug).url}
        assert requests.post(f"{api}/public/projects", json=project, headers=keys[slug], timeout=10).status_code == 201

    # When both organizations list their projects many times at once
    def names_seen(slug: str) -> tuple[str, list[str]]:
        listed = requests.get(f"{api}/public/projects", headers=keys[slug], timeout=30)
        assert listed.status_code == 200
        return slug, [p["name"] for p in listed.json()["data"]]

    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(names_seen, [slug for _ in range(100) for slug in keys]))

    # Then every response is the asking organization's own list, never the other's
    assert all(names == [f"site of {slug}"] for slug, names in results), results
