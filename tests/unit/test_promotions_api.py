"""The promotions' routes as the OpenAPI document states them: scope, query, answers and errors, and a promotion's
statuses, reasons and checks as the model has them."""

from __future__ import annotations

from typing import Any

from chalicelib.api import openapi_document as openapi
from chalicelib.models import promotion

PROMOTIONS = "/api/v1/public/projects/{project_id}/promotions"


def test_both_routes_are_documented_with_their_scope_query_answers_and_errors() -> None:
    # Given the OpenAPI document
    document: dict[str, Any] = openapi.document("http://127.0.0.1:8000")
    listing = document["paths"][PROMOTIONS]["get"]
    one = document["paths"][PROMOTIONS + "/{promotion_id}"]["get"]

    # Then the list takes environment, page and per_page with their bounds, and both read with deployments:read
    query = {p["name"]: p["schema"] for p in listing["parameters"] if p["in"] == "query"}
    assert set(query) == {"environment", "page", "per_page"}
    assert (query["environment"]["minLength"], query["environment"]["maxLength"]) == (1, 255)
    assert (query["per_page"]["maximum"], query["page"]["maximum"]) == (100, 1_000_000)
    assert listing["security"] == one["security"] == [{"apiKey": ["deployments:read"]}]
    assert {"200", "400", "404"} <= set(listing["responses"])
    assert {"200", "404"} <= set(one["responses"])
    # And a promotion states its statuses, reasons and checks
    schema = document["components"]["schemas"]["PromotionJson"]
    assert schema["properties"]["status"]["enum"] == list(promotion.STATUSES)
    assert schema["properties"]["reason"]["enum"] == list(promotion.REASONS)
    assert set(document["components"]["schemas"]["CheckJson"]["properties"]) == {
        "target",
        "url",
        "attempts",
        "status_code",
        "served_by_deployment_id",
        "ok",
        "error",
        "checked_at",
    }
