"""Slack installations on moto: the token encrypted under the catalogue's KMS key, one workspace per organization,
single-use OAuth states, and the ledger of seen request signatures."""

from __future__ import annotations

import time
from typing import Any

import pytest

from chalicelib.aws import client
from chalicelib.errors import Conflict, InvalidInput
from chalicelib.infra.resources import CATALOGUE
from chalicelib.models.slack_installation import (
    OAUTH_STATE_SECONDS,
    SlackInstallation,
    SlackInstallationRepository,
    SlackOAuthStateRepository,
    SlackRequestLedger,
)
from chalicelib.services import organizations, slack_installations
from chalicelib.settings import get_settings


@pytest.fixture
def slack_tables(tables: Any) -> None:
    """The catalogue's tables and its encryption keys, as the embedded stack provisions them."""
    kms = client("kms")
    for key in CATALOGUE.encryption_keys:
        key_id = kms.create_key(Description=key.description)["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=key.alias(get_settings().resource_name(key.logical)), TargetKeyId=key_id)


@pytest.fixture
def org(slack_tables: None) -> str:
    def make(slug: str) -> str:
        organizations.create(slug, None, "pro")
        return slug

    make("acme")
    make("globex")
    return "acme"


def test_the_bot_token_is_stored_encrypted_and_read_back(org: str) -> None:
    # Given a workspace connected to the organization
    slack_installations.install(org, "T1", "Acme", "UBOT", "xoxb-secret-token")
    # When the stored item is read raw
    raw = client("dynamodb").scan(TableName=get_settings().resource_name("slack-installations"))["Items"]
    # Then it does not hold the token in the clear, and the service reads it back
    assert "xoxb-secret-token" not in repr(raw)
    installation = SlackInstallationRepository.of_team("T1")
    assert installation is not None and installation.org_slug == org
    assert slack_installations.bot_token(installation) == "xoxb-secret-token"


def test_a_token_copied_onto_another_organization_does_not_decrypt(org: str) -> None:
    # Given the ciphertext of one organization's token
    acme = slack_installations.install(org, "T1", "Acme", "UBOT", "xoxb-acme")
    # When it is presented as another organization's
    stolen = SlackInstallation(
        org_slug="globex", team_id="T1", team_name="x", bot_user_id="U", bot_token_ciphertext=acme.bot_token_ciphertext
    )
    # Then KMS refuses it (the encryption context names the organization)
    with pytest.raises(Exception, match="InvalidCiphertext"):
        slack_installations.bot_token(stolen)


def test_a_workspace_serves_one_organization(org: str) -> None:
    # Given a workspace connected to acme
    slack_installations.install(org, "T1", "Acme", "UBOT", "xoxb-a")
    # When globex tries to connect the same workspace
    with pytest.raises(Conflict, match="another organization"):
        slack_installations.install("globex", "T1", "Acme", "UBOT", "xoxb-b")
    # Then it stays acme's, and globex has none
    assert SlackInstallationRepository.of_team("T1").org_slug == org  # type: ignore[union-attr]
    assert SlackInstallationRepository.of_org("globex") is None


def test_disconnecting_releases_the_workspace_and_is_idempotent(org: str) -> None:
    # Given acme's workspace, with a list of allowed users
    slack_installations.install(org, "T1", "Acme", "UBOT", "xoxb-a")
    slack_installations.set_allowed_users(org, ["U1", "U1", "U2"])
    # When acme disconnects (twice)
    slack_installations.disconnect(org)
    slack_installations.disconnect(org)
    # Then the workspace is free for globex
    assert SlackInstallationRepository.of_org(org) is None
    slack_installations.install("globex", "T1", "Acme", "UBOT", "xoxb-b")
    assert SlackInstallationRepository.of_team("T1").org_slug == "globex"  # type: ignore[union-attr]


def test_reinstalling_keeps_who_may_act_and_moving_workspace_frees_the_old_one(org: str) -> None:
    slack_installations.install(org, "T1", "Acme", "UBOT", "xoxb-a")
    restricted = slack_installations.set_allowed_users(org, ["U1", "U1", "U2"])
    assert restricted.allowed_user_ids == ["U1", "U2"]
    assert slack_installations.may_act(restricted, "U1") and not slack_installations.may_act(restricted, "U9")
    # When the same workspace is installed again (a new token)
    again = slack_installations.install(org, "T1", "Acme", "UBOT", "xoxb-new")
    assert again.allowed_user_ids == ["U1", "U2"]
    assert slack_installations.bot_token(SlackInstallationRepository.of_org(org)) == "xoxb-new"  # type: ignore[arg-type]
    # When acme moves to another workspace, T1 is free again
    slack_installations.install(org, "T2", "Acme 2", "UBOT", "xoxb-c")
    assert SlackInstallationRepository.of_org(org).allowed_user_ids is None  # type: ignore[union-attr]
    slack_installations.install("globex", "T1", "Acme", "UBOT", "xoxb-d")


def test_an_oauth_state_is_used_once_and_expires(org: str) -> None:
    now = time.time()
    SlackOAuthStateRepository.create("state-1", org, now=now)
    SlackOAuthStateRepository.create("state-2", org, now=now)
    # Used once
    assert SlackOAuthStateRepository.consume("state-1", now=now + 1) == org
    assert SlackOAuthStateRepository.consume("state-1", now=now + 2) is None
    # Expired after ten minutes, unknown never
    assert SlackOAuthStateRepository.consume("state-2", now=now + OAUTH_STATE_SECONDS + 1) is None
    assert SlackOAuthStateRepository.consume("never-made", now=now) is None


def test_a_bad_state_stores_nothing(org: str) -> None:
    with pytest.raises(InvalidInput, match="already used or has expired"):
        slack_installations.complete("some-code", "forged-state", "http://deployd/slack/oauth_redirect")
    assert SlackInstallationRepository.of_org(org) is None


def test_a_signature_is_accepted_once_within_the_window(slack_tables: None) -> None:
    now = time.time()
    assert SlackRequestLedger.first_sighting("v0=abc", now=now)
    assert not SlackRequestLedger.first_sighting("v0=abc", now=now + 200)
    assert SlackRequestLedger.first_sighting("v0=other", now=now)
    # Long after the window (the TTL has not deleted it yet) it no longer counts
    assert SlackRequestLedger.first_sighting("v0=abc", now=now + 3600)


def test_a_commands_slow_half_is_claimed_once(slack_tables: None) -> None:
    # A redelivered queue message finds its request already claimed: the worker does it at most once
    assert SlackRequestLedger.first_work("request-1")
    assert not SlackRequestLedger.first_work("request-1")
    assert SlackRequestLedger.first_work("request-2")
