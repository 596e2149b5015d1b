"""The routes table's stream mirrored into CloudFront's KeyValueStore (chalicelib.workers.route_stream)."""

from __future__ import annotations

from typing import Any

from chalicelib.functions import Entry
from chalicelib.workers import route_stream

blueprint = Entry(__name__)


@blueprint.lambda_function(name="route_sync")
def route_sync(event: dict, context: Any) -> dict:
    """The routes table's stream (keys only) mirrored into CloudFront's KeyValueStore."""
    return route_stream.consume(event, context)
