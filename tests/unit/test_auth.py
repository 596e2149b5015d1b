"""Authentication: bearer tokens, digests, the admin token, and API keys issued into moto's DynamoDB."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.aws import client
from chalicelib.errors import Forbidden, Unauthenticated
from chalicelib.services import auth


@pytest.fixture
def issued_key(tables: None) -> Callable[..., auth.IssuedKey]:
    """Issues an API key for an organization into the mocked api-keys table."""

    def issue(org_slug: str = "acme", scopes: list[str] | None = None) -> auth.IssuedKey:
        return auth.issue_key(org_slug, "ci key", list(auth.SCOPES) if scopes is None else scopes, "pro")

    return issue


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_authorization_header_is_unauthenticated(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        auth.bearer_token(header)


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "dpl_abc_def", "Digest x"])
def test_an_authorization_header_without_a_bearer_token_is_unauthenticated(header: str) -> None:
    with pytest.raises(Unauthenticated):
        auth.bearer_token(header)


@pytest.mark.parametrize(
    "header", ["Bearer dpl_abc_def", "bearer dpl_abc_def", "Token dpl_abc_def", "  Bearer   dpl_abc_def  "]
)
def test_the_bearer_token_is_taken_from_the_header(header: str) -> None:
    assert auth.bearer_token(header) == "dpl_abc_def"


def test_the_token_digest_is_its_sha256_in_hex() -> None:
    digest = auth.token_digest("dpl_abc_def")
    assert digest == hashlib.sha256(b"dpl_abc_def").hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)


def test_the_admin_token_from_settings_is_accepted_and_others_are_not(settings_env: Callable[..., None]) -> None:
    # Given a platform whose admin token is set
    settings_env(DEPLOYD_ADMIN_TOKEN="the-admin-token")

    # Then that token passes, and anything else is refused
    auth.require_admin("Bearer the-admin-token")
    for header in ("Bearer the-admin-token-2", "Bearer THE-ADMIN-TOKEN", None):
        with pytest.raises(Unauthenticated):
            auth.require_admin(header)


def test_without_an_admin_token_configured_no_admin_call_is_accepted(settings_env: Callable[..., None]) -> None:
    # Given a platform with no admin token configured
    settings_env(DEPLOYD_ADMIN_TOKEN="")

    # Then no token, not even an empty-looking one, passes
    for header in ("Bearer x", "Bearer  "):
        with pytest.raises(Unauthenticated):
            auth.require_admin(header)


def test_an_issued_key_authenticates_its_organization_with_its_scopes(
    issued_key: Callable[..., auth.IssuedKey],
) -> None:
    # Given a key issued to an organization with read-only scopes
    issued = issued_key("acme", scopes=["projects:read"])

    # When its token is presented
    principal = auth.authenticate(f"Bearer {issued.token}")

    # Then the token looks like a deployd key and the caller is that organization with those scopes
    assert issued.token.startswith("dpl_")
    assert (principal.org_slug, principal.key_id, principal.scopes) == ("acme", issued.key.key_id, {"projects:read"})
    # And a scope it lacks is forbidden
    principal.require("projects:read")
    with pytest.raises(Forbidden):
        principal.require("deployments:write")


def test_only_the_digest_of_an_issued_token_is_stored(issued_key: Callable[..., auth.IssuedKey]) -> None:
    # Given an issued key
    issued = issued_key()

    # When its stored record is read back
    from chalicelib.models.api_key import ApiKeyRepository

    stored = ApiKeyRepository.find(issued.key.key_id)

    # Then it holds the token's SHA-256, never the token
    assert stored is not None
    assert stored.token_sha256 == hashlib.sha256(issued.token.encode()).hexdigest()
    assert issued.token not in str(stored.attribute_values)


def test_every_issued_token_is_different(issued_key: Callable[..., auth.IssuedKey]) -> None:
    tokens = {issued_key().token for _ in range(5)}
    assert len(tokens) == 5


def test_a_tampered_or_unknown_token_is_unauthenticated(issued_key: Callable[..., auth.IssuedKey]) -> None:
    # Given an issued key
    issued = issued_key()
    prefix, key_id, secret = issued.token.split("_", 2)

    # When variants of its token are presented, Then each is refused
    for token in (
        f"{prefix}_{key_id}_{secret[:-1]}{'A' if secret[-1] != 'A' else 'B'}",  # right key, wrong secret
        f"{prefix}_{'0' * len(key_id)}_{secret}",  # unknown key id
        f"{key_id}_{secret}",  # not a deployd token
    ):
        with pytest.raises(Unauthenticated):
            auth.authenticate(f"Bearer {token}")


# ---- on AWS: the admin token is a Secrets Manager secret the API reads ----


@pytest.fixture
def admin_secret(tables: None, settings_env: Callable[..., None]) -> Iterator[str]:
    """The admin token as the template stores it (a secret in moto's Secrets Manager), and the API function's
    environment as the template sets it: the secret's ARN, no token."""
    secret = client("secretsmanager").create_secret(Name="deployd-admin-token", SecretString="adm_" + "s" * 40)
    settings_env(DEPLOYD_ADMIN_TOKEN=None, DEPLOYD_ADMIN_TOKEN_SECRET_ARN=secret["ARN"])
    yield secret["ARN"]


def _create_org(api: Client, token: str, slug: str) -> Any:
    body = json.dumps({"slug": slug, "plan": "pro"})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return api.http.post("/api/v1/admin/orgs", headers=headers, body=body)


def test_the_admin_api_authenticates_with_the_token_read_from_secrets_manager(admin_secret: str) -> None:
    from app import app

    with Client(app) as api:
        # When the admin API is called with the secret's value, then it answers
        assert _create_org(api, "adm_" + "s" * 40, "acme").status_code == 201
        # and refuses any other token, the old environment's included
        assert _create_org(api, "test-admin-token", "globex").status_code == 401

        # And the value is read once per container: with the secret gone, the token still works
        client("secretsmanager").delete_secret(SecretId=admin_secret, ForceDeleteWithoutRecovery=True)
        assert _create_org(api, "adm_" + "s" * 40, "initech").status_code == 201


def _key_made_before_webhooks(org_slug: str, scopes: list[str]) -> str:
    """An api-keys item as deployd wrote it before the webhooks scopes existed (no scope catalogue)."""
    from chalicelib.models.api_key import ApiKey

    token = f"dpl_old{len(scopes)}_secret"
    ApiKey(
        key_id=f"old{len(scopes)}", org_slug=org_slug, name="old", token_sha256=auth.token_digest(token), scopes=scopes
    ).save()
    return token


def test_a_key_made_before_the_webhooks_scopes_keeps_its_scopes_and_gains_the_webhooks_ones(tables: None) -> None:
    # Given keys made before webhooks existed: one with every scope of the time, one that could only read
    everything = _key_made_before_webhooks(
        "acme", ["projects:read", "projects:write", "deployments:read", "deployments:write"]
    )
    reader = _key_made_before_webhooks("acme", ["projects:read", "deployments:read"])

    # Then both keep what they had and gain both webhooks scopes; the reader still may not trigger deployments
    assert auth.authenticate(f"Bearer {everything}").scopes == frozenset(auth.SCOPES)
    reader_scopes = {"projects:read", "deployments:read", "webhooks:read", "webhooks:write"}
    reader_scopes |= {"integrations:read", "integrations:write"}  # and, later, the integrations ones (issue 12)
    assert auth.authenticate(f"Bearer {reader}").scopes == reader_scopes
    with pytest.raises(Forbidden):
        auth.authenticate(f"Bearer {reader}").require("deployments:write")


def test_a_key_made_before_the_integrations_scopes_gains_them(tables: None) -> None:
    # Given a key made under the webhooks-era catalogue (2) that could only read deployments and webhooks
    from chalicelib.models.api_key import ApiKey

    token = "dpl_cat2_secret"
    scopes = ["deployments:read", "webhooks:read"]
    digest = auth.token_digest(token)
    ApiKey(key_id="cat2", org_slug="acme", name="c2", token_sha256=digest, scopes=scopes, scope_catalogue=2).save()
    # Then it keeps what it had and gains both integrations scopes (the Slack integration), nothing else
    principal = auth.authenticate(f"Bearer {token}")
    assert principal.scopes == {"deployments:read", "webhooks:read", "integrations:read", "integrations:write"}
    with pytest.raises(Forbidden):
        principal.require("deployments:write")


def test_a_key_made_now_has_exactly_the_scopes_it_was_given(issued_key: Callable[..., auth.IssuedKey]) -> None:
    issued = issued_key(scopes=["deployments:read", "deployments:write"])
    principal = auth.authenticate(f"Bearer {issued.token}")
    assert principal.scopes == {"deployments:read", "deployments:write"}
    with pytest.raises(Forbidden):
        principal.require("webhooks:write")
    assert auth.authenticate(f"Bearer {issued_key().token}").scopes == frozenset(auth.SCOPES)


# ---- the plan a request is counted against comes with its key ----


def _projects_limit(token: str) -> str:
    from app import app

    with Client(app) as api:
        response = api.http.get("/api/v1/public/projects", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.body
    return str(response.headers["x-ratelimit-limit"])


def test_a_key_carries_its_organizations_plan_so_counting_a_request_reads_no_organization(
    tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.models.organization import OrganizationRepository
    from chalicelib.services import organizations, rate_limits

    # Given a free organization and a key made for it
    organizations.create("thrifty", None, "free")
    token = organizations.create_key("thrifty", "ci", None).token
    assert auth.authenticate(f"Bearer {token}").plan == "free"

    # When the key lists projects while the organization cannot be read at all
    def unreadable(slug: str) -> object:
        raise AssertionError(f"read organization {slug}")

    monkeypatch.setattr(OrganizationRepository, "get", staticmethod(unreadable))

    # Then the request is answered and counted against the free plan's limit
    assert _projects_limit(token) == str(rate_limits.limit_for("free", "api"))


def test_a_key_made_before_keys_carried_the_plan_is_counted_against_its_organizations_plan(tables: None) -> None:
    from chalicelib.models.api_key import ApiKey
    from chalicelib.services import organizations, rate_limits

    # Given an enterprise organization and a key stored as deployd stored keys before they carried the plan
    organizations.create("bigco", None, "enterprise")
    token = "dpl_noplan_secret"
    ApiKey(
        key_id="noplan",
        org_slug="bigco",
        name="old",
        token_sha256=auth.token_digest(token),
        scopes=list(auth.SCOPES),
        scope_catalogue=auth.SCOPE_CATALOGUE,
    ).save()

    # When it lists projects, Then it is counted against the enterprise plan, read from the organization
    assert _projects_limit(token) == str(rate_limits.limit_for("enterprise", "api"))
