"""The native API's deploy hooks under /api/v1/public/projects/{id}/deploy-hooks: make, list and delete them.

A hook's URL holds its secret, so it is shown whole only in the answer that made the hook; lists mask it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller, Many, One
from chalicelib.api.http import json_response, path_id, public_api_url
from chalicelib.api.timestamps import iso

if TYPE_CHECKING:
    from chalicelib.api.answers import DeployHookJson
    from chalicelib.models.deploy_hook import DeployHook
    from chalicelib.services.inputs import DeployHookCreate

dialect = dialects.native


def deploy_hook_json(hook: DeployHook, secret: str | None = None) -> DeployHookJson:
    from chalicelib.services import deploy_hooks

    return {
        "id": hook.id,
        "name": hook.name,
        "branch": hook.branch,
        "url": deploy_hooks.hook_url(public_api_url(dialect.current_request), secret),
        "created_at": iso(hook.created_at),
    }


@dialect.route(
    "/projects/{project_id}/deploy-hooks",
    methods=["POST"],
    scope="deployments:write",
    one_time=("url",),
    answers={201: One("DeployHookJson")},
    errors=(409,),
)
def create_deploy_hook(caller: Caller, project_id: str, body: DeployHookCreate) -> Response:
    """Make a deploy hook: a URL that deploys a branch when called; its URL is shown whole in this answer only."""
    from chalicelib.services import deploy_hooks

    pid = path_id(project_id, "project")
    issued = deploy_hooks.create(caller.principal.org_slug, pid, body)
    return json_response(201, {"data": deploy_hook_json(issued.hook, issued.secret)})


@dialect.route(
    "/projects/{project_id}/deploy-hooks",
    methods=["GET"],
    scope="deployments:write",
    answers={200: Many("DeployHookJson", "Total")},
)
def list_deploy_hooks(caller: Caller, project_id: str) -> Response:
    """List a project's deploy hooks, their URLs masked."""
    from chalicelib.services import deploy_hooks

    hooks = deploy_hooks.list_all(caller.principal.org_slug, path_id(project_id, "project"))
    items = [deploy_hook_json(hook) for hook in hooks]
    return json_response(200, {"data": items, "meta": {"total": len(items)}})


@dialect.route(
    "/projects/{project_id}/deploy-hooks/{hook_id}", methods=["DELETE"], scope="deployments:write", answers={204: None}
)
def delete_deploy_hook(caller: Caller, project_id: str, hook_id: str) -> Response:
    """Delete a deploy hook; its URL deploys nothing from then on."""
    from chalicelib.services import deploy_hooks

    deploy_hooks.delete(caller.principal.org_slug, path_id(project_id, "project"), path_id(hook_id, "deploy hook"))
    return json_response(204, None)
