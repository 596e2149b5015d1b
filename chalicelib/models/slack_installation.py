"""The Slack workspace an organization connected (one per organization, one organization per workspace), and
the single-use OAuth states that connect one.

A workspace belongs to at most one organization: a claim in the registry (`slack-team#<team id>`) is written in
the same transaction as the installation, so two organizations racing to connect one workspace cannot both win.
"""

from __future__ import annotations

import hashlib
import time

from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from chalicelib.errors import ConditionFailed, Conflict
from chalicelib.infra.resources import SLACK_INSTALLATIONS
from chalicelib.models.attributes import TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import transact, try_delete, try_save, try_update, unchanged
from chalicelib.models.registry import RegistryEntry


class InstallationsByTeam(GlobalSecondaryIndex["SlackInstallation"]):
    class Meta:
        index_name = SLACK_INSTALLATIONS.indexes[0].name
        projection = AllProjection()

    team_id = UnicodeAttribute(hash_key=True)


class SlackInstallation(Model):
    Meta = table_meta(SLACK_INSTALLATIONS.logical)

    org_slug = UnicodeAttribute(hash_key=True)
    team_id = UnicodeAttribute()
    team_name = UnicodeAttribute()
    bot_user_id = UnicodeAttribute()
    # The bot token, encrypted with the catalogue's KMS key (services.slack_installations.bot_token reads it).
    bot_token_ciphertext = UnicodeAttribute()
    # Who may act from Slack; None: everyone in the workspace.
    allowed_user_ids = ListAttribute(of=UnicodeAttribute, null=True)
    installed_at = TimestampAttribute(default_for_new=utc_now)
    updated_at = TimestampAttribute(default_for_new=utc_now)

    by_team = InstallationsByTeam()


def team_claim_name(team_id: str) -> str:
    return f"slack-team#{team_id}"


class SlackInstallationRepository:
    @staticmethod
    def of_org(org_slug: str) -> SlackInstallation | None:
        try:
            return SlackInstallation.get(org_slug, consistent_read=True)
        except DoesNotExist:
            return None

    @staticmethod
    def of_team(team_id: str) -> SlackInstallation | None:
        """The installation of a workspace. The index is eventually consistent (a workspace that just moved to
        another organization may still show under the old one too), so each hit is read again by key."""
        for hit in SlackInstallation.by_team.query(team_id):
            installation = SlackInstallationRepository.of_org(hit.org_slug)
            if installation is not None and installation.team_id == team_id:
                return installation
        return None

    @staticmethod
    def save(installation: SlackInstallation, previous: SlackInstallation | None) -> None:
        """Store the organization's installation in place of `previous` (None: it had none), claiming its workspace.

        Conflict when another organization holds the workspace, or the organization's installation changed since
        `previous` was read."""
        org = installation.org_slug
        claim = RegistryEntry(name=team_claim_name(installation.team_id))

        def write(tx: TransactWrite) -> None:
            tx.save(installation, condition=unchanged(SlackInstallation.team_id, previous and previous.team_id))
            tx.update(
                claim,
                actions=[RegistryEntry.owner.set(org)],
                condition=RegistryEntry.owner.does_not_exist() | (RegistryEntry.owner == org),
            )
            if previous is not None and previous.team_id != installation.team_id:
                tx.delete(RegistryEntry(name=team_claim_name(previous.team_id)), condition=RegistryEntry.owner == org)

        try:
            transact(write)
        except ConditionFailed as exc:
            if 1 in exc.failed:
                raise Conflict(
                    f"Slack workspace {installation.team_id} is connected to another organization; "
                    "disconnect it there first"
                ) from exc
            raise Conflict("the organization's Slack installation changed concurrently; retry") from exc

    @staticmethod
    def set_allowed_users(installation: SlackInstallation, user_ids: list[str] | None) -> bool:
        """False when the installation is gone or was replaced by another workspace's meanwhile."""
        actions = [
            SlackInstallation.allowed_user_ids.set(user_ids)  # type: ignore[arg-type]  # a list of str, as stored
            if user_ids is not None
            else SlackInstallation.allowed_user_ids.remove(),
            SlackInstallation.updated_at.set(utc_now()),
        ]
        return try_update(installation, actions, SlackInstallation.team_id == installation.team_id)

    @staticmethod
    def delete(installation: SlackInstallation) -> bool:
        """Remove the installation and release its workspace; False when it was already gone or replaced."""
        org = installation.org_slug

        def write(tx: TransactWrite) -> None:
            tx.delete(installation, condition=SlackInstallation.team_id == installation.team_id)
            tx.delete(RegistryEntry(name=team_claim_name(installation.team_id)), condition=RegistryEntry.owner == org)

        try:
            transact(write)
        except ConditionFailed:
            return False
        return True


# OAuth states: what an "Add to Slack" link carries through Slack and back. Only a digest of the state is stored,
# so the table never holds a usable one.
OAUTH_STATE_SECONDS = 600


def _state_name(state: str) -> str:
    return "slack-oauth-state#" + hashlib.sha256(state.encode()).hexdigest()


class SlackOAuthStateRepository:
    @staticmethod
    def create(state: str, org_slug: str, now: float | None = None) -> None:
        """Remember `state` for `org_slug` for OAUTH_STATE_SECONDS."""
        expires = int((now if now is not None else time.time()) + OAUTH_STATE_SECONDS)
        entry = RegistryEntry(name=_state_name(state), owner=org_slug, expires_at=expires)
        if not try_save(entry, RegistryEntry.name.does_not_exist()):
            raise RuntimeError("an OAuth state was drawn twice")

    @staticmethod
    def consume(state: str, now: float | None = None) -> str | None:
        """The organization `state` was made for, deleting it so it is never accepted again; None when it is
        unknown, used or expired. The delete is conditional: of two redirects with one state only one wins."""
        name = _state_name(state)
        try:
            entry = RegistryEntry.get(name, consistent_read=True)
        except DoesNotExist:
            return None
        moment = int(now if now is not None else time.time())
        if entry.owner is None or entry.expires_at is None:
            return None
        still_valid = (RegistryEntry.owner == entry.owner) & (RegistryEntry.expires_at > moment)
        if not try_delete(RegistryEntry(name=name), still_valid):
            return None
        return entry.owner


# Seen request signatures: Slack's signature covers the timestamp and the body, so a captured request replays
# with a valid signature for as long as its timestamp is fresh (5 minutes); each signature is accepted once.
REPLAY_WINDOW_SECONDS = 300


class SlackRequestLedger:
    @staticmethod
    def first_sighting(signature: str, now: float | None = None) -> bool:
        """Record `signature` as seen; False when it was already seen within the window (a replay)."""
        moment = int(now if now is not None else time.time())
        # Kept a little past the window: a request as old as the window allows may arrive just before it ends.
        entry = RegistryEntry(
            name="slack-signature#" + hashlib.sha256(signature.encode()).hexdigest(),
            expires_at=moment + 2 * REPLAY_WINDOW_SECONDS,
        )
        # TTL deletes lazily: an entry past its expiry still exists, and no longer counts.
        unseen = RegistryEntry.name.does_not_exist() | (RegistryEntry.expires_at < moment)
        return try_save(entry, unseen)

    @staticmethod
    def first_work(request_id: str) -> bool:
        """Claim the slow half of a request for one worker; False when a delivery of it was already claimed."""
        entry = RegistryEntry(name=f"slack-work#{request_id}", expires_at=int(time.time()) + 24 * 3600)
        return try_save(entry, RegistryEntry.name.does_not_exist())
