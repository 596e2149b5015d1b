"""Live deployment messages in Slack: one message per deployment and channel, posted on the deployment's first
event the channel hears of (or when the `deploy` command announces it) and edited in place on every later one.

The deployments table's stream calls `notify` with each change's events; it puts one notification per channel on
the Slack queue, whose worker calls `deliver`. A channel hears of a deployment when it is subscribed to its
project (or to all of them), or when the message was announced there. Rendering always shows the deployment as it
is when read; the message's lease and recorded sequence (models.slack_live_message) make sure one poster posts and
an older state never replaces a newer one. Slack's temporary refusals come back through the queue after the wait
Slack asked for; an uninstalled app disconnects the organization's installation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from enum import StrEnum
from typing import Any, NamedTuple

from chalicelib.adapters import slack_api, slack_queue
from chalicelib.adapters.slack_api import Outcome, SlackResult
from chalicelib.adapters.slack_queue import Notification
from chalicelib.errors import NotFound
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.project import ProjectRepository
from chalicelib.models.slack_installation import SlackInstallation, SlackInstallationRepository
from chalicelib.models.slack_live_message import SlackLiveMessage, SlackLiveMessageRepository
from chalicelib.models.slack_subscription import SlackSubscription, SlackSubscriptionRepository
from chalicelib.observability import logger
from chalicelib.services import slack_installations
from chalicelib.services.deployments.queries import log_text
from chalicelib.services.events import Event
from chalicelib.services.slack_live_blocks import CANCEL_ACTION as CANCEL_ACTION
from chalicelib.services.slack_live_blocks import LOGS_ACTION as LOGS_ACTION
from chalicelib.services.slack_live_blocks import ROLLBACK_ACTION as ROLLBACK_ACTION
from chalicelib.services.slack_live_blocks import LiveView, render
from chalicelib.vocabulary import Status

LEASE_SECONDS = 30  # longer than a Slack call may take (10 s, and one reconnection)
BUSY_RETRY_SECONDS = 1  # someone else is posting or editing the message: look again shortly
# Waits before the next try of a call Slack did not answer or answered 5xx without a Retry-After; then it gives up.
RETRY_DELAYS_SECONDS = (2, 10, 60, 300, 900)


class Step(StrEnum):
    """What one rendering attempt came to, beyond Slack's own outcomes."""

    CURRENT = "current"  # the message already shows this state or a newer one
    GONE = "gone"  # the deployment no longer exists


class Later(NamedTuple):
    """Not now: another worker holds the message, or Slack asked to wait; the notification comes back then."""

    seconds: float


def announce(org_slug: str, deployment_id: int, team_id: str, channel_id: str) -> None:
    """Post the deployment's live message in the channel now, unless it is there already; every later event of
    the deployment edits it. A Slack failure that may pass is retried through the queue."""
    deployment = DeploymentRepository.find(deployment_id)
    if deployment is None or deployment.org_slug != org_slug:
        raise NotFound(f"deployment {deployment_id} not found")
    installation = _installation(org_slug, team_id)
    if installation is None:
        logger.info("announce skipped: no Slack installation", extra={"deployment_id": deployment_id})
        return
    message = SlackLiveMessageRepository.claim(org_slug, deployment_id, team_id, channel_id)
    notification = Notification(org_slug, deployment_id, team_id, channel_id, deployment.event_seq or 1)
    _follow_up(notification, _render(installation, message))


def deliver(notification: Notification) -> None:
    """The Slack queue's worker: bring the deployment's message in the channel up to date (post it if the
    channel has none yet)."""
    n = notification
    installation = _installation(n.org_slug, n.team_id)
    if installation is None:
        logger.info("Slack notification dropped: the workspace is not connected", extra={"team_id": n.team_id})
        return
    message = SlackLiveMessageRepository.find(n.deployment_id, n.team_id, n.channel_id)
    if message is not None and message.rendered_seq >= n.sequence:
        return  # it shows this event or a newer one already (a late or repeated notification)
    if message is None:
        message = SlackLiveMessageRepository.claim(n.org_slug, n.deployment_id, n.team_id, n.channel_id)
    _follow_up(n, _render(installation, message))


def notify(events: Iterable[Event], subscribed: dict[str, list[SlackSubscription]] | None = None) -> int:
    """The stream's call: one notification per channel that shows (or wants) each changed deployment's message;
    the number enqueued. A change's several events (a status change and a promotion) make one notification.
    `subscribed`: the organizations' subscriptions already read, by organization, kept for the rest of a batch of
    records (an invocation of the stream's consumer): each organization's are read once per batch."""
    latest: dict[int, Event] = {}
    for event in events:
        seen = latest.get(event.deployment.id)
        if seen is None or event.sequence > seen.sequence:
            latest[event.deployment.id] = event
    enqueued = 0
    subscribed = {} if subscribed is None else subscribed
    for event in latest.values():
        d = event.deployment
        channels = {(m.team_id, m.channel_id) for m in SlackLiveMessageRepository.of_deployment(d.id)}
        if d.org_slug not in subscribed:
            subscribed[d.org_slug] = SlackSubscriptionRepository.of_org(d.org_slug)
        channels |= {(s.team_id, s.channel_id) for s in subscribed[d.org_slug] if s.wants(d.project_id)}
        for team_id, channel_id in sorted(channels):
            slack_queue.enqueue(Notification(d.org_slug, d.id, team_id, channel_id, event.sequence))
            enqueued += 1
    return enqueued


def subscribe(org_slug: str, team_id: str, channel_id: str, project_id: int | None) -> None:
    """The channel gets the live message of every deployment of the project (None: of every project) from now on.
    Subscribing again changes nothing."""
    if project_id is not None:
        ProjectRepository.get(org_slug, project_id)  # NotFound for a project of another organization
    SlackSubscriptionRepository.add(org_slug, team_id, channel_id, project_id)


def unsubscribe(org_slug: str, team_id: str, channel_id: str, project_id: int | None) -> bool:
    """False when the channel was not subscribed to that project (or to all projects, for None)."""
    return SlackSubscriptionRepository.remove(org_slug, team_id, channel_id, project_id)


def subscriptions(org_slug: str) -> list[dict[str, Any]]:
    """The subscribed channels of the organization's connected workspace: [{"channel_id", "project_id" (None:
    every project)}]; those of a workspace it connected before are kept (they come back if it reconnects that
    workspace) but not listed, nor sent anything."""
    installation = SlackInstallationRepository.of_org(org_slug)
    if installation is None:
        return []
    found = SlackSubscriptionRepository.of_org(org_slug)
    return [
        {"channel_id": s.channel_id, "project_id": s.project_id} for s in found if s.team_id == installation.team_id
    ]


def _installation(org_slug: str, team_id: str) -> SlackInstallation | None:
    """The organization's installation in that workspace; None when it is not (or no longer) connected there."""
    installation = SlackInstallationRepository.of_org(org_slug)
    return installation if installation is not None and installation.team_id == team_id else None


def _render(installation: SlackInstallation, message: SlackLiveMessage) -> SlackResult | Step | Later:
    """Post or edit the message to show the deployment as it is now, under the message's lease."""
    deployment = DeploymentRepository.find(message.deployment_id)
    if deployment is None:
        return Step.GONE
    sequence = deployment.event_seq or 1
    if message.rendered_seq >= sequence:
        return Step.CURRENT
    waiting = (message.not_before or 0) - time.time()
    if waiting > 0:
        return Later(waiting)  # Slack's Retry-After holds for every event of the message
    holder = uuid.uuid4().hex
    if not SlackLiveMessageRepository.lease(message, holder, sequence, LEASE_SECONDS):
        message.refresh(consistent_read=True)
        if message.rendered_seq >= sequence:
            return Step.CURRENT
        # Refused while another holder's call was answered with a Retry-After: wait for it, as if read in time
        return Later(max((message.not_before or 0) - time.time(), BUSY_RETRY_SECONDS))
    try:
        try:
            view = _view(deployment)
        except NotFound:  # the project was deleted meanwhile, and its deployments with it
            SlackLiveMessageRepository.release(message, holder)
            return Step.GONE
        text, blocks = render(view)
        token = slack_installations.bot_token(installation)
        if message.ts is None:
            result = slack_api.post_message(token, message.channel_id, text, blocks)
        else:
            result = slack_api.update_message(token, message.channel_id, message.ts, text, blocks)
    except BaseException:
        SlackLiveMessageRepository.release(message, holder)
        raise
    if not result.ok:
        wait = result.retry_after
        SlackLiveMessageRepository.release(message, holder, time.time() + wait if wait is not None else None)
        return result
    ts = result.ts or message.ts or ""
    if not SlackLiveMessageRepository.rendered(message, holder, sequence, ts):
        logger.warning("live message lease lost during its Slack call", extra={"deployment_id": deployment.id})
    return result


def _view(deployment: Deployment) -> LiveView:
    project = ProjectRepository.get_by_id(deployment.project_id)
    log = log_text(deployment) if deployment.status == Status.FAILED else None
    return LiveView(deployment, project.name, project.slug, log)


def _follow_up(notification: Notification, result: SlackResult | Step | Later) -> None:
    """Act on what rendering came to: retry later, disconnect an uninstalled app, or give up on the channel."""
    n = notification
    extra = {"deployment_id": n.deployment_id, "team_id": n.team_id, "channel_id": n.channel_id}
    if isinstance(result, Later):
        slack_queue.enqueue(n, result.seconds)
        return
    if not isinstance(result, SlackResult) or result.ok:
        return
    if result.outcome == Outcome.RETRY:
        if n.attempt >= len(RETRY_DELAYS_SECONDS):
            logger.error("Slack live message given up", extra={**extra, "error_message": result.error})
            return
        delay = result.retry_after if result.retry_after is not None else RETRY_DELAYS_SECONDS[n.attempt]
        logger.info("Slack call retried", extra={**extra, "error_message": result.error, "delay_seconds": delay})
        slack_queue.enqueue(
            Notification(n.org_slug, n.deployment_id, n.team_id, n.channel_id, n.sequence, n.attempt + 1), delay
        )
    elif result.outcome == Outcome.UNINSTALLED:
        logger.warning("Slack app uninstalled: disconnecting", extra={**extra, "error_message": result.error})
        slack_installations.disconnect(n.org_slug)
    else:
        logger.warning("Slack refused the live message", extra={**extra, "error_message": result.error})
