"""The live message of a deployment in a Slack channel: one item per (deployment, channel), claimed before the
message is posted, so concurrent events never post two messages for one deployment in one channel.

Whoever posts or edits the message holds the item's lease (a conditional write) for the length of its Slack call,
and records the event sequence it rendered when it lets go; a lease is only granted for a sequence newer than the
one recorded, so an older state never replaces a newer one in the channel.
"""

from __future__ import annotations

import time

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from chalicelib.infra.resources import SLACK_LIVE_MESSAGES
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import try_save, try_update

RETENTION_SECONDS = 30 * 24 * 3600  # past this a deployment's message is no longer edited (its item expires)


def channel_key(team_id: str, channel_id: str) -> str:
    return f"{team_id}:{channel_id}"


class SlackLiveMessage(Model):
    Meta = table_meta(SLACK_LIVE_MESSAGES.logical)

    deployment_id = IntegerAttribute(hash_key=True)
    channel = UnicodeAttribute(range_key=True)  # channel_key(team_id, channel_id)
    org_slug = UnicodeAttribute()
    team_id = UnicodeAttribute()
    channel_id = UnicodeAttribute()
    ts = UnicodeAttribute(null=True)  # Slack's id of the message once posted
    rendered_seq = IntegerAttribute(default=0)  # the event sequence the message shows; 0: not posted yet
    lease_holder = UnicodeAttribute(null=True)
    lease_until = IntegerAttribute(null=True)  # epoch seconds; a lease past it is free to take over
    # Slack's Retry-After for this message (epoch seconds): no call for it before then, whichever event asks
    not_before = NumberAttribute(null=True)
    created_at = TimestampAttribute(default_for_new=utc_now)
    expires_at = IntegerAttribute()  # the table's TTL attribute (epoch seconds)


class SlackLiveMessageRepository:
    @staticmethod
    def find(deployment_id: int, team_id: str, channel_id: str) -> SlackLiveMessage | None:
        try:
            return SlackLiveMessage.get(deployment_id, channel_key(team_id, channel_id), consistent_read=True)
        except DoesNotExist:
            return None

    @staticmethod
    def of_deployment(deployment_id: int) -> list[SlackLiveMessage]:
        """Every channel that has (or is getting) the deployment's live message."""
        return list(SlackLiveMessage.query(deployment_id, consistent_read=True))

    @staticmethod
    def claim(org_slug: str, deployment_id: int, team_id: str, channel_id: str) -> SlackLiveMessage:
        """The deployment's message in the channel, created unposted if nobody claimed it yet."""
        message = SlackLiveMessage(
            deployment_id=deployment_id,
            channel=channel_key(team_id, channel_id),
            org_slug=org_slug,
            team_id=team_id,
            channel_id=channel_id,
            rendered_seq=0,
            created_at=utc_now(),
            expires_at=int(time.time()) + RETENTION_SECONDS,
        )
        if try_save(message, SlackLiveMessage.channel.does_not_exist()):
            return message
        message.refresh(consistent_read=True)
        return message

    @staticmethod
    def lease(message: SlackLiveMessage, holder: str, sequence: int, seconds: int) -> bool:
        """Take the message for rendering `sequence`: only if it shows an older one, nobody holds it (or their
        lease ran out) and Slack's wait for it is over. False otherwise: someone else is rendering, Slack asked to
        wait (the stored `not_before`, which the caller's copy may not show yet), or the message is as new already."""
        now = time.time()
        free = SlackLiveMessage.lease_until.does_not_exist() | (SlackLiveMessage.lease_until < int(now))
        allowed = SlackLiveMessage.not_before.does_not_exist() | (SlackLiveMessage.not_before <= now)
        return try_update(
            message,
            [SlackLiveMessage.lease_holder.set(holder), SlackLiveMessage.lease_until.set(int(now) + seconds)],
            free & allowed & (SlackLiveMessage.rendered_seq < sequence),
        )

    @staticmethod
    def rendered(message: SlackLiveMessage, holder: str, sequence: int, ts: str) -> bool:
        """Record that the message (its ts) now shows `sequence`, and let go of the lease; only while `holder`
        still holds it and the stored sequence is older."""
        return try_update(
            message,
            [
                SlackLiveMessage.ts.set(ts),
                SlackLiveMessage.rendered_seq.set(sequence),
                SlackLiveMessage.lease_holder.remove(),
                SlackLiveMessage.lease_until.remove(),
                SlackLiveMessage.not_before.remove(),
            ],
            (SlackLiveMessage.lease_holder == holder) & (SlackLiveMessage.rendered_seq < sequence),
        )

    @staticmethod
    def release(message: SlackLiveMessage, holder: str, not_before: float | None = None) -> None:
        """Let go of the lease without recording anything (the Slack call failed); `not_before`: Slack asked to wait
        until then."""
        actions: list[Action] = [SlackLiveMessage.lease_holder.remove(), SlackLiveMessage.lease_until.remove()]
        if not_before is not None:
            actions.append(SlackLiveMessage.not_before.set(not_before))
        try_update(message, actions, SlackLiveMessage.lease_holder == holder)
