"""Liveness: answers without touching any AWS service, so it is cheap enough for load balancers."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import json_response

health = Blueprint(__name__)


@health.route("/healthz", methods=["GET"])
def healthz() -> Response:
    return json_response(200, {"status": "ok"})
