"""GitHub's JSON for deployd's records: repositories, deployments, deployment statuses, environments and the
users that own or created them, with the URLs GitHub's clients follow. `site` is the public base URL of the API
(the GitHub dialect lives under {site}/api/v3): the routes pass the request's, the webhook fan-out the configured
one, so a payload and a GET show the same URLs.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import quote

from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import Environment
from chalicelib.models.project import Project
from chalicelib.models.webhook import Webhook
from chalicelib.services import github as rules
from chalicelib.services.github import StatusView
from chalicelib.services.timestamps import github_time


def _node_id(kind: str, number: int | str) -> str:
    return base64.b64encode(f"{kind}:{number}".encode()).decode()


def _stable_id(text: str) -> int:
    """A numeric id for things deployd names only by slug (organizations, its own bot)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big")


def user_json(site: str, login: str, kind: str = "Organization") -> dict[str, Any]:
    base = f"{site}/api/v3"
    path = quote(login, safe="")  # a bot's login has brackets, which GitHub's URLs percent-encode
    user = f"{base}/users/{path}"
    return {
        "name": None,
        "email": None,
        "login": login,
        "id": _stable_id(f"{kind}:{login}"),
        "node_id": _node_id(kind, login),
        "avatar_url": f"{site}/avatars/{path}",
        "gravatar_id": "",
        "url": user,
        "html_url": f"{site}/{path}",
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


def creator_json(site: str, project: Project, creator: str | None) -> dict[str, Any]:
    if creator == rules.DEPLOYD_CREATOR:
        return user_json(site, "deployd[bot]", "Bot")
    return user_json(site, project.org_slug)


def repo_url(site: str, project: Project) -> str:
    return f"{site}/api/v3/repos/{project.org_slug}/{project.slug}"


def repository_json(site: str, project: Project) -> dict[str, Any]:
    url = repo_url(site, project)
    return {
        "id": project.id,
        "node_id": _node_id("Repository", project.id),
        "name": project.slug,
        "full_name": f"{project.org_slug}/{project.slug}",
        "owner": user_json(site, project.org_slug),
        "private": True,
        "visibility": "private",
        "description": project.name,
        "fork": False,
        "archived": False,
        "disabled": False,
        "url": url,
        "html_url": f"{site}/{project.org_slug}/{project.slug}",
        "clone_url": project.repo_url,
        "deployments_url": f"{url}/deployments",
        "environments_url": f"{url}/environments",
        "default_branch": project.default_branch,
        "created_at": github_time(project.created_at),
        "updated_at": github_time(project.updated_at),
        "pushed_at": github_time(project.updated_at),
        "permissions": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
    }


def deployment_json(site: str, project: Project, d: Deployment) -> dict[str, Any]:
    url = f"{repo_url(site, project)}/deployments/{d.id}"
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
        "creator": creator_json(site, project, d.creator),
        "created_at": github_time(d.created_at),
        "updated_at": github_time(d.updated_at),
        "statuses_url": f"{url}/statuses",
        "repository_url": repo_url(site, project),
        "transient_environment": bool(d.transient_environment),
        "production_environment": bool(d.production_environment),
        "performed_via_github_app": None,
    }


def status_json(site: str, project: Project, view: StatusView) -> dict[str, Any]:
    s, d = view.status, view.deployment
    deployment_url = f"{repo_url(site, project)}/deployments/{d.id}"
    return {
        "url": f"{deployment_url}/statuses/{s.id}",
        "id": s.id,
        "node_id": _node_id("DeploymentStatus", s.id),
        "state": s.state,
        "creator": creator_json(site, project, s.creator),
        "description": s.description or "",
        "environment": s.environment,
        "target_url": s.target_url or "",
        "created_at": github_time(s.created_at),
        "updated_at": github_time(s.updated_at),
        "deployment_url": deployment_url,
        "repository_url": repo_url(site, project),
        "environment_url": s.environment_url or "",
        "log_url": s.log_url or "",
        "performed_via_github_app": None,
    }


def environment_json(site: str, project: Project, e: Environment) -> dict[str, Any]:
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
        "url": f"{repo_url(site, project)}/environments/{quote(e.name, safe='')}",
        "html_url": (
            f"{site}/{project.org_slug}/{project.slug}/deployments/activity_log"
            f"?environments_filter={quote(e.name, safe='')}"
        ),
        "created_at": github_time(e.created_at) or github_time(e.updated_at),
        "updated_at": github_time(e.updated_at) or github_time(e.created_at),
        "protection_rules": rules_,
        "deployment_branch_policy": json.loads(e.deployment_branch_policy) if e.deployment_branch_policy else None,
    }


def hook_json(
    site: str, project: Project, hook: Webhook, insecure_ssl: str, last_response: dict[str, Any]
) -> dict[str, Any]:
    """GitHub's "Get a repository webhook": the secret is never shown, only whether there is one."""
    url = f"{repo_url(site, project)}/hooks/{hook.id}"
    config: dict[str, Any] = {"content_type": "json", "insecure_ssl": insecure_ssl, "url": hook.url}
    if hook.secret:
        config["secret"] = "********"
    return {
        "type": "Repository",
        "id": hook.id,
        "name": "web",
        "active": bool(hook.active),
        "events": list(hook.events),
        "config": config,
        "updated_at": github_time(hook.updated_at),
        "created_at": github_time(hook.created_at),
        "url": url,
        "test_url": f"{url}/test",
        "ping_url": f"{url}/pings",
        "deliveries_url": f"{url}/deliveries",
        "last_response": last_response,
    }


def webhook_user(user: dict[str, Any]) -> dict[str, Any]:
    """A user as a webhook payload has it: without the name and email GitHub's REST answers give as null."""
    return {k: v for k, v in user.items() if not (k in ("name", "email") and v is None)}


def webhook_repository_json(site: str, project: Project) -> dict[str, Any]:
    """The repository as GitHub's webhook payloads carry it: every field of its full form, the URLs of the
    resources deployd does not have included (they answer 404), counts zero."""
    rest = repository_json(site, project)
    url, html = rest["url"], rest["html_url"]
    clone = project.repo_url if "://" in (project.repo_url or "") else f"{html}.git"
    templated = {
        "keys_url": "keys{/key_id}",
        "collaborators_url": "collaborators{/collaborator}",
        "issue_events_url": "issues/events{/number}",
        "assignees_url": "assignees{/user}",
        "branches_url": "branches{/branch}",
        "blobs_url": "git/blobs{/sha}",
        "git_tags_url": "git/tags{/sha}",
        "git_refs_url": "git/refs{/sha}",
        "trees_url": "git/trees{/sha}",
        "statuses_url": "statuses/{sha}",
        "commits_url": "commits{/sha}",
        "git_commits_url": "git/commits{/sha}",
        "comments_url": "comments{/number}",
        "issue_comment_url": "issues/comments{/number}",
        "contents_url": "contents/{+path}",
        "compare_url": "compare/{base}...{head}",
        "archive_url": "{archive_format}{/ref}",
        "issues_url": "issues{/number}",
        "pulls_url": "pulls{/number}",
        "milestones_url": "milestones{/number}",
        "notifications_url": "notifications{?since,all,participating}",
        "labels_url": "labels{/name}",
        "releases_url": "releases{/id}",
    }
    plain = ("forks", "teams", "hooks", "events", "tags", "languages", "stargazers", "contributors")
    return {
        **{k: rest[k] for k in ("id", "node_id", "name", "full_name", "private")},
        "owner": webhook_user(rest["owner"]),
        "html_url": html,
        "description": rest["description"],
        "fork": False,
        "url": url,
        **{f"{name}_url": f"{url}/{name}" for name in plain},
        **{key: f"{url}/{path}" for key, path in templated.items()},
        "subscribers_url": f"{url}/subscribers",
        "subscription_url": f"{url}/subscription",
        "merges_url": f"{url}/merges",
        "downloads_url": f"{url}/downloads",
        "deployments_url": rest["deployments_url"],
        "created_at": rest["created_at"],
        "updated_at": rest["updated_at"],
        "pushed_at": rest["pushed_at"],
        "git_url": clone,
        "ssh_url": clone,
        "clone_url": clone,
        "svn_url": html,
        "homepage": None,
        "size": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "language": None,
        "has_issues": False,
        "has_projects": False,
        "has_downloads": False,
        "has_wiki": False,
        "has_pages": False,
        "forks_count": 0,
        "mirror_url": None,
        "archived": False,
        "disabled": False,
        "open_issues_count": 0,
        "license": None,
        "forks": 0,
        "open_issues": 0,
        "watchers": 0,
        "default_branch": rest["default_branch"],
        "is_template": False,
        "web_commit_signoff_required": False,
        "topics": [],
        "visibility": "private",
        "custom_properties": {},
    }
