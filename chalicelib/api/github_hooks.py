"""GitHub's repository webhooks routes (/repos/{owner}/{repo}/hooks): the hooks, their pings, their delivery log
and redelivery. Scopes: webhooks:read to read, webhooks:write for the rest."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalice import Response

from chalicelib.api.dialect import Caller
from chalicelib.api.github_http import REPO, dialect, link_header, paging, parse_body, parse_model, query_params
from chalicelib.api.github_json import repo_url, site_url
from chalicelib.api.http import json_response, path_id
from chalicelib.api.timestamps import github_time

if TYPE_CHECKING:
    from chalicelib.models.project import Project
    from chalicelib.models.webhook import Webhook
    from chalicelib.models.webhook_delivery import WebhookDelivery
    from chalicelib.services.github_hooks import HookView


HOOKS = REPO + "/hooks"
HOOK = HOOKS + "/{hook_id}"


def hook_json(project: Project, view: HookView) -> dict[str, Any]:
    from chalicelib.services import github_hooks, github_json

    return github_json.hook_json(
        site_url(), project, view.hook, github_hooks.insecure_ssl(view.hook), view.last_response
    )


def delivery_json(project: Project, hook: Webhook, d: WebhookDelivery) -> dict[str, Any]:
    """An item of GitHub's delivery log; `redelivery` when it was attempted more than once."""
    from chalicelib.models.webhook_delivery import github_delivery_number, github_guid

    last = d.attempts[-1] if d.attempts else None
    code = last.status_code if last else None
    if last is None:
        status = "pending"
    elif code is not None and 200 <= code < 300:
        status = "OK"
    else:
        status = last.error or f"Invalid HTTP Response: {code}"
    return {
        "id": github_delivery_number(hook.id, d.id),
        "guid": github_guid(hook.id, d.id),
        "delivered_at": github_time(last.at if last else d.created_at),
        "redelivery": len(d.attempts) > 1,
        "duration": (last.duration_ms / 1000) if last else 0,
        "status": status,
        "status_code": code or 0,
        "event": d.event_type,
        "action": None if d.event_type == "ping" else "created",
        "installation_id": None,
        "repository_id": project.id,
        "url": f"{repo_url(project)}/hooks/{hook.id}/deliveries/{github_delivery_number(hook.id, d.id)}",
    }


@dialect.route(HOOKS, methods=["POST"], scope="webhooks:write")
def create_hook(caller: Caller, owner: str, repo: str) -> Response:
    from chalicelib.services import github as rules
    from chalicelib.services import github_hooks
    from chalicelib.services.inputs import GithubHookCreate

    project = rules.repository(caller.principal, owner, repo)
    body = parse_model(GithubHookCreate, "Hook", parse_body(dialect.current_request))
    return json_response(201, hook_json(project, github_hooks.create(project, body, site_url())))


@dialect.route(HOOKS, methods=["GET"], scope="webhooks:read")
def list_hooks(caller: Caller, owner: str, repo: str) -> Response:
    from chalicelib.services import github as rules
    from chalicelib.services import github_hooks, listing

    project = rules.repository(caller.principal, owner, repo)
    query = query_params(dialect.current_request, "Hook")
    page, per_page = paging(query, "Hook")
    result = listing.paginate(github_hooks.list_hooks(project), page, per_page)
    headers = link_header(f"{repo_url(project)}/hooks", {}, result)
    return json_response(200, [hook_json(project, v) for v in result.items], headers)


@dialect.route(HOOK, methods=["GET"], scope="webhooks:read")
def get_hook(caller: Caller, owner: str, repo: str, hook_id: str) -> Response:
    from chalicelib.services import github as rules
    from chalicelib.services import github_hooks

    project = rules.repository(caller.principal, owner, repo)
    return json_response(200, hook_json(project, github_hooks.get(project, path_id(hook_id, "hook"))))


@dialect.route(HOOK, methods=["PATCH"], scope="webhooks:write")
def update_hook(caller: Caller, owner: str, repo: str, hook_id: str) -> Response:
    from chalicelib.services import github as rules
    from chalicelib.services import github_hooks
    from chalicelib.services.inputs import GithubHookUpdate

    project = rules.repository(caller.principal, owner, repo)
    number = path_id(hook_id, "hook")
    body = parse_model(GithubHookUpdate, "Hook", parse_body(dialect.current_request))
    return json_response(200, hook_json(project, github_hooks.update(project, number, body)))


@dialect.route(HOOK, methods=["DELETE"], scope="webhooks:write")
def delete_hook(caller: Caller, owner: str, repo: str, hook_id: str) -> Response:
    from chalicelib.services import github as rules
    from chalicelib.services import github_hooks

    project = rules.repository(caller.principal, owner, repo)
    github_hooks.delete(project, path_id(hook_id, "hook"))
    return json_response(204, None)


@dialect.route(HOOK + "/pings", methods=["POST"], scope="webhooks:write")
def ping_hook(caller: Caller, owner: str, repo: str, hook_id: str) -> Response:
    from chalicelib.services import github as rules
    from chalicelib.services import github_hooks

    project = rules.repository(caller.principal, owner, repo)
    github_hooks.ping(project, path_id(hook_id, "hook"), site_url())
    return json_response(204, None)


@dialect.route(HOOK + "/deliveries", methods=["GET"], scope="webhooks:read")
def list_hook_deliveries(caller: Caller, owner: str, repo: str, hook_id: str) -> Response:
    from chalicelib.services import github as rules
    from chalicelib.services import github_hooks, listing

    project = rules.repository(caller.principal, owner, repo)
    number = path_id(hook_id, "hook")
    query = query_params(dialect.current_request, "Hook")
    page, per_page = paging(query, "Hook")
    hook = github_hooks.get(project, number).hook
    result = listing.paginate(github_hooks.deliveries(project, number), page, per_page)
    headers = link_header(f"{repo_url(project)}/hooks/{number}/deliveries", {}, result)
    return json_response(200, [delivery_json(project, hook, d) for d in result.items], headers)


@dialect.route(HOOK + "/deliveries/{delivery_id}", methods=["GET"], scope="webhooks:read")
def get_hook_delivery(caller: Caller, owner: str, repo: str, hook_id: str, delivery_id: str) -> Response:
    """One delivery with the request it makes (headers as of its last attempt, and the payload)."""
    from chalicelib.services import github as rules
    from chalicelib.services import github_hooks, webhook_delivery

    project = rules.repository(caller.principal, owner, repo)
    number = path_id(hook_id, "hook")
    hook = github_hooks.get(project, number).hook
    found = github_hooks.delivery(project, number, path_id(delivery_id, "delivery"))
    at = found.attempts[-1].at if found.attempts else found.created_at
    request = {"headers": webhook_delivery.headers(hook, found, at), "payload": json.loads(found.body)}
    detail = {**delivery_json(project, hook, found), "request": request, "response": {"headers": {}, "payload": None}}
    return json_response(200, detail)


@dialect.route(HOOK + "/deliveries/{delivery_id}/attempts", methods=["POST"], scope="webhooks:write")
def redeliver_hook_delivery(caller: Caller, owner: str, repo: str, hook_id: str, delivery_id: str) -> Response:
    from chalicelib.services import github as rules
    from chalicelib.services import github_hooks

    project = rules.repository(caller.principal, owner, repo)
    github_hooks.redeliver(project, path_id(hook_id, "hook"), path_id(delivery_id, "delivery"))
    return json_response(202, {})
