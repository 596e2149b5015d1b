"""Slack channels subscribed to an organization's deployments: a channel gets the live message of every deployment
of one project, or of all its projects. One item per (workspace, channel, project or all)."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.infra.resources import SLACK_SUBSCRIPTIONS
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import try_delete, try_save

ALL_PROJECTS = "all"


def target(team_id: str, channel_id: str, project_id: int | None) -> str:
    return f"{team_id}:{channel_id}:{ALL_PROJECTS if project_id is None else project_id}"


class SlackSubscription(Model):
    Meta = table_meta(SLACK_SUBSCRIPTIONS.logical)

    org_slug = UnicodeAttribute(hash_key=True)
    target = UnicodeAttribute(range_key=True)  # target(team_id, channel_id, project_id)
    team_id = UnicodeAttribute()
    channel_id = UnicodeAttribute()
    project_id = IntegerAttribute(null=True)  # None: every project of the organization
    created_at = TimestampAttribute(default_for_new=utc_now)

    def wants(self, project_id: int) -> bool:
        return self.project_id is None or self.project_id == project_id


class SlackSubscriptionRepository:
    @staticmethod
    def of_org(org_slug: str) -> list[SlackSubscription]:
        """The organization's subscriptions, by workspace, then channel."""
        return list(SlackSubscription.query(org_slug, consistent_read=True))

    @staticmethod
    def add(org_slug: str, team_id: str, channel_id: str, project_id: int | None) -> bool:
        """Subscribe the channel; False when it already was (nothing changes)."""
        subscription = SlackSubscription(
            org_slug=org_slug,
            target=target(team_id, channel_id, project_id),
            team_id=team_id,
            channel_id=channel_id,
            project_id=project_id,
            created_at=utc_now(),
        )
        return try_save(subscription, SlackSubscription.target.does_not_exist())

    @staticmethod
    def remove(org_slug: str, team_id: str, channel_id: str, project_id: int | None) -> bool:
        """Unsubscribe the channel; False when it was not subscribed."""
        item = SlackSubscription(org_slug=org_slug, target=target(team_id, channel_id, project_id))
        return try_delete(item, SlackSubscription.target.exists())
