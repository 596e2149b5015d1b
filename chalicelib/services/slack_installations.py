"""Connecting a Slack workspace to an organization: the OAuth flow, the encrypted bot token, who may act.

An organization connects one workspace and a workspace serves one organization. The bot token is stored only
as KMS ciphertext bound (by its encryption context) to the organization and the workspace.
"""

from __future__ import annotations

import secrets
from typing import NamedTuple

from chalicelib.adapters import encryption, slack_oauth
from chalicelib.aws import slack_signing_secret
from chalicelib.errors import InvalidInput, NotFound
from chalicelib.infra.resources import SLACK_TOKEN_KEY
from chalicelib.models.organization import OrganizationRepository
from chalicelib.models.slack_installation import (
    SlackInstallation,
    SlackInstallationRepository,
    SlackOAuthStateRepository,
)
from chalicelib.observability import logger
from chalicelib.settings import get_settings

MAX_ALLOWED_USERS = 500


def _context(org_slug: str, team_id: str) -> dict[str, str]:
    return {"org_slug": org_slug, "team_id": team_id}


def require_configured() -> None:
    """NotFound unless the platform has a Slack app (its signing secret set)."""
    if not slack_signing_secret():
        raise NotFound("Slack is not configured on this deployd (DEPLOYD_SLACK_SIGNING_SECRET is not set)")


def bot_token(installation: SlackInstallation) -> str:
    return encryption.decrypt(
        SLACK_TOKEN_KEY, installation.bot_token_ciphertext, _context(installation.org_slug, installation.team_id)
    )


def install(org_slug: str, team_id: str, team_name: str, bot_user_id: str, bot_token: str) -> SlackInstallation:
    """Connect the workspace to the organization (replacing the workspace it had, keeping who may act when it
    is the same workspace again). Conflict when another organization has the workspace."""
    OrganizationRepository.get(org_slug)
    previous = SlackInstallationRepository.of_org(org_slug)
    installation = SlackInstallation(
        org_slug=org_slug,
        team_id=team_id,
        team_name=team_name,
        bot_user_id=bot_user_id,
        bot_token_ciphertext=encryption.encrypt(SLACK_TOKEN_KEY, bot_token, _context(org_slug, team_id)),
        allowed_user_ids=previous.allowed_user_ids if previous is not None and previous.team_id == team_id else None,
    )
    SlackInstallationRepository.save(installation, previous)
    logger.info("slack workspace connected", extra={"org_slug": org_slug, "team_id": team_id})
    return installation


def disconnect(org_slug: str) -> None:
    """Forget the organization's workspace and its token; nothing to do when none is connected."""
    installation = SlackInstallationRepository.of_org(org_slug)
    if installation is not None and SlackInstallationRepository.delete(installation):
        logger.info("slack workspace disconnected", extra={"org_slug": org_slug, "team_id": installation.team_id})


def installation_of(org_slug: str) -> SlackInstallation:
    installation = SlackInstallationRepository.of_org(org_slug)
    if installation is None:
        raise NotFound("no Slack workspace is connected to this organization")
    return installation


def set_allowed_users(org_slug: str, user_ids: list[str] | None) -> SlackInstallation:
    installation = installation_of(org_slug)
    if user_ids is not None and len(user_ids) > MAX_ALLOWED_USERS:
        raise InvalidInput(f"allowed_user_ids holds at most {MAX_ALLOWED_USERS} users", field="allowed_user_ids")
    unique = list(dict.fromkeys(user_ids)) if user_ids is not None else None
    if not SlackInstallationRepository.set_allowed_users(installation, unique):
        raise NotFound("no Slack workspace is connected to this organization")
    installation.allowed_user_ids = unique  # type: ignore[assignment]  # a list of str, as stored
    return installation


def may_act(installation: SlackInstallation, user_id: str) -> bool:
    return installation.allowed_user_ids is None or user_id in installation.allowed_user_ids


# The OAuth flow


def begin(org_slug: str, redirect_uri: str) -> str:
    """The "Add to Slack" URL for the organization, carrying a fresh single-use state valid 10 minutes."""
    require_configured()
    if not get_settings().slack_client_id:
        raise NotFound("Slack is not configured on this deployd (DEPLOYD_SLACK_CLIENT_ID is not set)")
    state = secrets.token_urlsafe(32)
    SlackOAuthStateRepository.create(state, org_slug)
    return slack_oauth.authorize_url(state, redirect_uri)


class Connected(NamedTuple):
    org_slug: str
    installation: SlackInstallation


def complete(code: str, state: str, redirect_uri: str) -> Connected:
    """Finish the flow Slack redirected back from: the state is used up first (a bad, used or expired one is
    InvalidInput and nothing is stored), then the code is exchanged and the installation stored."""
    if not state or not code:
        raise InvalidInput("the redirect carries no code or state; start again from deployd")
    org_slug = SlackOAuthStateRepository.consume(state)
    if org_slug is None:
        raise InvalidInput("this link is invalid, was already used or has expired; start again from deployd")
    grant = slack_oauth.exchange(code, redirect_uri)
    installation = install(org_slug, grant.team_id, grant.team_name, grant.bot_user_id, grant.bot_token)
    return Connected(org_slug, installation)
