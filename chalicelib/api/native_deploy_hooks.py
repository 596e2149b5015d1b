"""The native API's deploy hooks under /api/v1/public/projects/{id}/deploy-hooks: make, list and delete them.

A hook's URL holds its secret, so it is shown whole only in the answer that made the hook; lists mask it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller
from chalicelib.api.http import json_body, json_response, parse, path_id, public_api_url
from chalicelib.api.timestamps import iso

if TYPE_CHECKING:
    from chalicelib.models.deploy_hook import DeployHook


dialect = dialects.native


def deploy_hook_json(hook: DeployHook, secret: str | None = None) -> dict[str, Any]:
    from chalicelib.services import deploy_hooks

    return {
        "id": hook.id,
        "name": hook.name,
        "branch": hook.branch,
        "url": deploy_hooks.hook_url(public_api_url(dialect.current_request), secret),
        "created_at": iso(hook.created_at),
    }


@dialect.route("/projects/{project_id}/deploy-hooks", methods=["POST"], scope="deployments:write", one_time=("url",))
def create_deploy_hook(caller: Caller, project_id: str) -> Response:
    from chalicelib.services import deploy_hooks
    from chalicelib.services.inputs import DeployHookCreate

    pid = path_id(project_id, "project")
    body = parse(DeployHookCreate, json_body(dialect.current_request))
    issued = deploy_hooks.create(caller.principal.org_slug, pid, body)
    return json_response(201, {"data": deploy_hook_json(issued.hook, issued.secret)})


@dialect.route("/projects/{project_id}/deploy-hooks", methods=["GET"], scope="deployments:write")
def list_deploy_hooks(caller: Caller, project_id: str) -> Response:
    from chalicelib.services import deploy_hooks

    hooks = deploy_hooks.list_all(caller.principal.org_slug, path_id(project_id, "project"))
    items = [deploy_hook_json(hook) for hook in hooks]
    return json_response(200, {"data": items, "meta": {"total": len(items)}})


@dialect.route("/projects/{project_id}/deploy-hooks/{hook_id}", methods=["DELETE"], scope="deployments:write")
def delete_deploy_hook(caller: Caller, project_id: str, hook_id: str) -> Response:
    from chalicelib.services import deploy_hooks

    deploy_hooks.delete(caller.principal.org_slug, path_id(project_id, "project"), path_id(hook_id, "deploy hook"))
    return json_response(204, None)
