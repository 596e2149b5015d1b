"""A project, one of its deployments and one of its environments read in one BatchGetItem: what the API's reads of
a deployment need, keyed by the request's path alone, so they cost one round trip instead of one each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.models import Model

from chalicelib.models.base import batch_get
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import Environment
from chalicelib.models.project import Project


@dataclass(frozen=True)
class ProjectRead:
    """What was found of each key asked (None: not there, or not asked)."""

    project: Project | None
    deployment: Deployment | None
    environment: Environment | None


def read_together(project_id: int, deployment_id: int | None, environment: str | None) -> ProjectRead:
    """The project, and the deployment and the project's environment when named, strongly consistent as single
    reads are. Whose they are is the caller's to check (the project's organization, the deployment's project)."""
    asked = {Project.Meta.table_name: {"Keys": [{"id": {"N": str(project_id)}}], "ConsistentRead": True}}
    if deployment_id is not None:
        asked[Deployment.Meta.table_name] = {"Keys": [{"id": {"N": str(deployment_id)}}], "ConsistentRead": True}
    if environment is not None:
        key = {"project_id": {"N": str(project_id)}, "name": {"S": environment}}
        asked[Environment.Meta.table_name] = {"Keys": [key], "ConsistentRead": True}
    found = batch_get(asked)
    return ProjectRead(_one(Project, found), _one(Deployment, found), _one(Environment, found))


M = TypeVar("M", bound=Model)


def _one(model: type[M], found: dict[str, list[dict[str, Any]]]) -> M | None:
    items = found.get(model.Meta.table_name)
    return model.from_raw_data(items[0]) if items else None
