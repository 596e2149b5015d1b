"""A project, one of its deployments, one of its environments and one of its promotions read in one BatchGetItem:
what the API's reads of a deployment (or a promotion) need, keyed by the request's path alone, so they cost one
round trip instead of one each. The caller's API key can be read in the same round trip (`read_with_key`): its key
id is in the token, so admission and the view of a route that declares its reads wait for one read between them.

A promotion's model loads with the first read that names a promotion: the API's cold start (whose admission imports
this module) and its reads of a deployment never need it."""

# Annotations are evaluated, not postponed: every cold start makes this module's NamedTuples, and a field annotated
# by a string compiles that string when its class is made.
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from pynamodb.models import Model

from chalicelib.models.api_key import ApiKey
from chalicelib.models.base import batch_get
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import Environment
from chalicelib.models.project import Project

if TYPE_CHECKING:
    from chalicelib.models.promotion import Promotion

Found = dict[str, list[dict[str, Any]]]


class ProjectRead(NamedTuple):
    """What was found of each key asked (None: not there, or not asked)."""

    project: Project | None
    deployment: Deployment | None
    environment: Environment | None
    promotion: "Promotion | None" = None  # the model loads with a read that names a promotion


class ProjectKeys(NamedTuple):
    """The keys of a project, and of one of its deployments, environments and promotions when named."""

    project_id: int
    deployment_id: int | None = None
    environment: str | None = None
    promotion_id: int | None = None

    def asked(self) -> dict[str, dict[str, Any]]:
        """BatchGetItem's request items for these keys, strongly consistent as single reads are."""
        asked = {Project.Meta.table_name: _consistent({"id": {"N": str(self.project_id)}})}
        if self.deployment_id is not None:
            asked[Deployment.Meta.table_name] = _consistent({"id": {"N": str(self.deployment_id)}})
        if self.environment is not None:
            key = {"project_id": {"N": str(self.project_id)}, "name": {"S": self.environment}}
            asked[Environment.Meta.table_name] = _consistent(key)
        if self.promotion_id is not None:
            from chalicelib.models.promotion import Promotion

            key = {"project_id": {"N": str(self.project_id)}, "id": {"N": str(self.promotion_id)}}
            asked[Promotion.Meta.table_name] = _consistent(key)
        return asked

    def read(self, found: Found) -> ProjectRead:
        promotion = None
        if self.promotion_id is not None:
            from chalicelib.models.promotion import Promotion

            promotion = _one(Promotion, found)
        return ProjectRead(_one(Project, found), _one(Deployment, found), _one(Environment, found), promotion)


def read_together(
    project_id: int, deployment_id: int | None, environment: str | None, promotion_id: int | None = None
) -> ProjectRead:
    """The project, and the deployment, the project's environment and its promotion when named. Whose they are is
    the caller's to check (the project's organization, the deployment's project)."""
    keys = ProjectKeys(project_id, deployment_id, environment, promotion_id)
    return keys.read(batch_get(keys.asked()))


def read_with_key(key_id: str, keys: ProjectKeys) -> tuple[ApiKey | None, ProjectRead]:
    """API key `key_id` (None: there is none, a revoked key included) and `keys`' items, in one BatchGetItem. Nothing
    read here may be shown before the key is verified, and whose the items are is still the caller's to check."""
    found = batch_get({ApiKey.Meta.table_name: _consistent({"key_id": {"S": key_id}}), **keys.asked()})
    return _one(ApiKey, found), keys.read(found)


def _consistent(key: dict[str, Any]) -> dict[str, Any]:
    return {"Keys": [key], "ConsistentRead": True}


M = TypeVar("M", bound=Model)


def _one(model: type[M], found: Found) -> M | None:
    items = found.get(model.Meta.table_name)
    return model.from_raw_data(items[0]) if items else None
