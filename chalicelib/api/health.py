"""Liveness: answers without touching any AWS service, so it is cheap enough for load balancers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller
from chalicelib.api.http import json_response

if TYPE_CHECKING:
    from chalicelib.api.answers import Health

dialect = dialects.health


@dialect.route("/healthz", methods=["GET"], scope=None, answers={200: "Health"})
def healthz(caller: Caller) -> Response:
    """Liveness."""
    health: Health = {"status": "ok"}
    return json_response(200, health)
