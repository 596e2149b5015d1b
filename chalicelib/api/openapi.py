"""GET /api/v1/openapi.json: the OpenAPI 3.1 document of deployd's own API. Only the route is declared here; the
document's machinery (chalicelib.api.openapi_document) loads with the first request for it, not at the API's cold
start."""

from __future__ import annotations

from chalice import Response

from chalicelib.api.dialect import Caller
from chalicelib.api.dialects import openapi as dialect
from chalicelib.api.http import json_response, public_api_url


@dialect.route("/openapi.json", methods=["GET"], scope=None, answers={200: dict})
def openapi_document(caller: Caller) -> Response:
    """This document."""
    from chalicelib.api.openapi_document import document

    return json_response(200, document(public_api_url(dialect.current_request)))
