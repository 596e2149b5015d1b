"""The deployments table's stream fanned out to webhooks (chalicelib.workers.deployment_stream)."""

from __future__ import annotations

from typing import Any

from chalicelib.functions import Entry
from chalicelib.workers import deployment_stream

blueprint = Entry(__name__)


@blueprint.lambda_function(name="deployment_events")
def deployment_events(event: dict, context: Any) -> dict:
    """The deployments table's stream (old and new images): each change's events fanned out to webhooks."""
    return deployment_stream.consume(event, context)
