"""The native API's JSON for a deployment: one rendering for GET /deployments/{id} and the native webhook body,
so a receiver sees exactly what the API returns. Its type, `DeploymentJson`, is what the OpenAPI document
describes (chalicelib.api.answers has the other answers' types)."""

from __future__ import annotations

from typing import Annotated, Any

from typing_extensions import TypedDict  # pydantic reads only this one on Python 3.11

from chalicelib.services.deployments.queries import DeploymentView
from chalicelib.services.timestamps import iso
from chalicelib.vocabulary import Status


class JsonSchema:
    """Metadata of an annotated type adding JSON Schema keywords (a format, an enumeration, bounds) to the schema
    pydantic derives for it. It validates nothing: the types it annotates describe answers, and the requests'
    models state their own limits."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(core_schema), **self.keywords}


# ISO 8601 in UTC with an explicit offset (chalicelib.services.timestamps.iso).
Timestamp = Annotated[str, JsonSchema(format="date-time")]
DeploymentStatus = Annotated[str, JsonSchema(enum=[str(status) for status in Status])]


class DeploymentJson(TypedDict):
    id: int
    project_id: int
    commit_sha: str
    commit_message: str | None
    commit_author: str | None
    branch: str
    environment: str
    status: DeploymentStatus
    triggered_by: str | None
    is_active: bool
    deployment_url: str | None
    build_time_seconds: int | None
    error_message: str | None
    created_at: Timestamp
    updated_at: Timestamp
    deployed_at: Timestamp | None


def deployment_json(view: DeploymentView) -> DeploymentJson:
    d = view.deployment
    return {
        "id": d.id,
        "project_id": d.project_id,
        "commit_sha": d.commit_sha,
        "commit_message": d.commit_message,
        "commit_author": d.commit_author,
        "branch": d.branch,
        "environment": d.environment,
        "status": d.status,
        # Through what it was triggered (api, slack:<team>/<user>, schedule, github, gitlab, mintlify,
        # deploy_hook:<name>); null for deployments recorded before deployd kept it.
        "triggered_by": d.triggered_by,
        "is_active": view.is_active,
        "deployment_url": d.deployment_url,
        "build_time_seconds": d.build_time_seconds,
        "error_message": d.error_message,
        "created_at": iso(d.created_at),
        "updated_at": iso(d.updated_at),
        "deployed_at": iso(d.deployed_at),
    }
