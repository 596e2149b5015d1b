"""PynamoDB models, one per file, each with the repository that wraps it."""

from __future__ import annotations

from pynamodb.models import Model


def all_models() -> list[type[Model]]:
    from chalicelib.models.api_key import ApiKey
    from chalicelib.models.deploy_hook import DeployHook
    from chalicelib.models.deployment import Deployment
    from chalicelib.models.deployment_status import DeploymentStatus
    from chalicelib.models.environment import Environment
    from chalicelib.models.idempotency_claim import IdempotencyClaim
    from chalicelib.models.organization import Organization
    from chalicelib.models.project import Project
    from chalicelib.models.promotion import Promotion
    from chalicelib.models.registry import RegistryEntry
    from chalicelib.models.route import Route
    from chalicelib.models.route_mirror_marker import RouteMirrorMarker
    from chalicelib.models.slack_installation import SlackInstallation
    from chalicelib.models.slack_live_message import SlackLiveMessage
    from chalicelib.models.slack_subscription import SlackSubscription
    from chalicelib.models.slot_wait import SlotWait
    from chalicelib.models.webhook import Webhook
    from chalicelib.models.webhook_delivery import WebhookDelivery

    return [
        ApiKey,
        DeployHook,
        Deployment,
        DeploymentStatus,
        Environment,
        IdempotencyClaim,
        Organization,
        Project,
        Promotion,
        RegistryEntry,
        Route,
        RouteMirrorMarker,
        SlackInstallation,
        SlackLiveMessage,
        SlackSubscription,
        SlotWait,
        Webhook,
        WebhookDelivery,
    ]


def reset_connections() -> None:
    """Forget cached DynamoDB connections, so the next call resolves its endpoint afresh (tests, embedded stack)."""
    from chalicelib.models import base

    for model in all_models():
        model._connection = None
    base._connection.cache_clear()
