"""The native API's promotions under /api/v1/public/projects/{id}/promotions: every change of what an environment
serves (a deployment's activation, a rollback, an automatic revert) and the checks that verified it, newest first.

Read with the deployments' scope and in their rate-limit bucket: a promotion is part of a deployment's story. The
project (and the promotion) are read in the same round trip as the caller's key (`reads=`)."""

from __future__ import annotations

from typing import Any

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller, Many, One
from chalicelib.api.http import int_param, json_response, paged, path_id
from chalicelib.models.project_reads import ProjectKeys
from chalicelib.services.integers import ascii_integer

dialect = dialects.native


def _project(params: dict[str, str]) -> ProjectKeys | None:
    """A page of promotions reads its project with the caller's key (then queries the promotions)."""
    project_id = ascii_integer(params["project_id"])
    return ProjectKeys(project_id) if project_id is not None else None


def _project_and_promotion(params: dict[str, str]) -> ProjectKeys | None:
    """One promotion is read with its project and the caller's key: the whole request is one read."""
    project_id, promotion_id = ascii_integer(params["project_id"]), ascii_integer(params["promotion_id"])
    if project_id is None or promotion_id is None:
        return None  # the view answers 404 for the id that names nothing
    return ProjectKeys(project_id, promotion_id=promotion_id)


@dialect.route(
    "/projects/{project_id}/promotions",
    methods=["GET"],
    scope="deployments:read",
    query="PromotionQuery",
    answers={200: Many("PromotionJson", "Paged")},
    reads=_project,
)
def list_promotions(caller: Caller, project_id: str) -> Response:
    """List a project's promotions, newest first; `environment` keeps one environment's (production,
    preview/<branch>, ...)."""
    from chalicelib.services import promotion_queries
    from chalicelib.services.native_json import promotion_json

    query: Any = dialect.current_request.query_params or {}
    page = promotion_queries.page(
        caller.principal.org_slug,
        path_id(project_id, "project"),
        query.get("environment"),
        int_param(query.get("page"), "page", 1),
        int_param(query.get("per_page"), "per_page", promotion_queries.DEFAULT_PER_PAGE),
        caller.read,
    )
    return json_response(200, {"data": [promotion_json(p) for p in page.items], "meta": paged(page)})


@dialect.route(
    "/projects/{project_id}/promotions/{promotion_id}",
    methods=["GET"],
    scope="deployments:read",
    answers={200: One("PromotionJson")},
    reads=_project_and_promotion,
    reads_all=True,
)
def get_promotion(caller: Caller, project_id: str, promotion_id: str) -> Response:
    """Get a promotion: what it switched, why, how it ended and each check's result."""
    from chalicelib.services import promotion_queries
    from chalicelib.services.native_json import promotion_json

    promotion = promotion_queries.get(
        caller.principal.org_slug, path_id(project_id, "project"), path_id(promotion_id, "promotion"), caller.read
    )
    return json_response(200, {"data": promotion_json(promotion)})
