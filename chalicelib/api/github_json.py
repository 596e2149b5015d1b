"""GitHub's JSON for deployd's records: repositories, deployments, deployment statuses, environments and the
users that own or created them, with the URLs GitHub's clients follow.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import quote

from chalicelib.api.github_http import dialect
from chalicelib.api.http import public_api_url
from chalicelib.api.timestamps import github_time
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import Environment
from chalicelib.models.project import Project
from chalicelib.services import github as rules
from chalicelib.services.github import StatusView


def base_url() -> str:
    return f"{site_url()}/api/v3"


def site_url() -> str:
    return public_api_url(dialect.current_request)


def _node_id(kind: str, number: int | str) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


def _stable_id(text: str) -> int:
    """A numeric id for things deployd names only by slug (organizations, its own bot)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big")


def user_json(login: str, kind: str = "Organization") -> dict[str, Any]:
    base, site = base_url(), site_url()
    user = f"{base}/users/{login}"
    return {
        "name": None,
        "email": None,
        "login": login,
        "id": _stable_id(f"{kind}:{login}"),
        "node_id": _node_id(kind, login),
        "avatar_url": f"{site}/avatars/{login}",
        "gravatar_id": "",
        "url": user,
        "html_url": f"{site}/{login}",
        "followers_url": f"{user}/followers",
        "following_url": f"{user}/following{{/other_user}}",
        "gists_url": f"{user}/gists{{/gist_id}}",
        "starred_url": f"{user}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{user}/subscriptions",
        "organizations_url": f"{user}/orgs",
        "repos_url": f"{user}/repos",
        "events_url": f"{user}/events{{/privacy}}",
        "received_events_url": f"{user}/received_events",
        "type": kind,
        "site_admin": False,
    }


def _creator(project: Project, creator: str | None) -> dict[str, Any]:
    if creator == rules.DEPLOYD_CREATOR:
        return user_json("deployd[bot]", "Bot")
    return user_json(project.org_slug)


def repo_url(project: Project) -> str:
    return f"{base_url()}/repos/{project.org_slug}/{project.slug}"


def repository_json(project: Project) -> dict[str, Any]:
    url = repo_url(project)
    return {
        "id": project.id,
        "node_id": _node_id("Repository", project.id),
        "name": project.slug,
        "full_name": f"{project.org_slug}/{project.slug}",
        "owner": user_json(project.org_slug),
        "private": True,
        "visibility": "private",
        "description": project.name,
        "fork": False,
        "archived": False,
        "disabled": False,
        "url": url,
        "html_url": f"{site_url()}/{project.org_slug}/{project.slug}",
        "clone_url": project.repo_url,
        "deployments_url": f"{url}/deployments",
        "environments_url": f"{url}/environments",
        "default_branch": project.default_branch,
        "created_at": github_time(project.created_at),
        "updated_at": github_time(project.updated_at),
        "pushed_at": github_time(project.updated_at),
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
    }


def deployment_json(project: Project, d: Deployment) -> dict[str, Any]:
    url = f"{repo_url(project)}/deployments/{d.id}"
    payload: Any = d.payload if d.payload_is_text else json.loads(d.payload or "{}")
    return {
        "url": url,
        "id": d.id,
        "node_id": _node_id("Deployment", d.id),
        "sha": d.commit_sha,
        "ref": d.branch,
        "task": d.task,
        "payload": payload,
        "original_environment": d.original_environment or d.environment,
        "environment": d.environment,
        "description": d.description,
        "creator": _creator(project, d.triggered_by),
        "created_at": github_time(d.created_at),
        "updated_at": github_time(d.updated_at),
        "statuses_url": f"{url}/statuses",
        "repository_url": repo_url(project),
        "transient_environment": bool(d.transient_environment),
        "production_environment": bool(d.production_environment),
        "performed_via_github_app": None,
    }


def status_json(project: Project, view: StatusView) -> dict[str, Any]:
    s, d = view.status, view.deployment
    deployment_url = f"{repo_url(project)}/deployments/{d.id}"
    return {
        "url": f"{deployment_url}/statuses/{s.id}",
        "id": s.id,
        "node_id": _node_id("DeploymentStatus", s.id),
        "state": s.state,
        "creator": _creator(project, s.creator),
        "description": s.description or "",
        "environment": s.environment,
        "target_url": s.target_url or "",
        "created_at": github_time(s.created_at),
        "updated_at": github_time(s.updated_at),
        "deployment_url": deployment_url,
        "repository_url": repo_url(project),
        "environment_url": s.environment_url or "",
        "log_url": s.log_url or "",
        "performed_via_github_app": None,
    }


def environment_json(project: Project, e: Environment) -> dict[str, Any]:
    number = e.id if e.id is not None else 0
    rules_: list[dict[str, Any]] = []
    if e.wait_timer:
        rules_.append(
            {
                "id": number * 10 + 1,
                "node_id": _node_id("Gate", f"{number}:wait"),
                "type": "wait_timer",
                "wait_timer": e.wait_timer,
            }
        )
    if e.reviewers:
        rules_.append(
            {
                "id": number * 10 + 2,
                "node_id": _node_id("Gate", f"{number}:reviewers"),
                "type": "required_reviewers",
                "prevent_self_review": bool(e.prevent_self_review),
                "reviewers": [{"type": r["type"], "reviewer": {"id": r["id"]}} for r in json.loads(e.reviewers)],
            }
        )
    return {
        "id": number,
        "node_id": _node_id("Environment", number),
        "name": e.name,
        "url": f"{repo_url(project)}/environments/{quote(e.name, safe='')}",
        "html_url": (
            f"{site_url()}/{project.org_slug}/{project.slug}/deployments/activity_log"
            f"?environments_filter={quote(e.name, safe='')}"
        ),
        "created_at": github_time(e.created_at) or github_time(e.updated_at),
        "updated_at": github_time(e.updated_at) or github_time(e.created_at),
        "protection_rules": rules_,
        "deployment_branch_policy": json.loads(e.deployment_branch_policy) if e.deployment_branch_policy else None,
    }
