"""Slack's inbound half: requests verified, slash commands and buttons acknowledged within Slack's 3 seconds, and
their slow half done by the command worker, which answers through the request's response_url.

What the acknowledgement answers at once: a workspace no organization connected (how to connect it), a user the
organization does not allow, a command that does not parse, and `help`. Everything else goes on the command
queue. The worker checks the workspace and the user again (the installation may have changed in between) and
acts through the very services the native API uses, so the rules, rate limits and errors are the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from chalicelib.adapters import slack_command_queue, slack_responses
from chalicelib.aws import slack_signing_secret
from chalicelib.errors import Conflict, DomainError, InvalidInput, NotFound, RateLimited, Unauthenticated
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import PRODUCTION
from chalicelib.models.project import Project, ProjectRepository
from chalicelib.models.slack_installation import SlackInstallation, SlackInstallationRepository, SlackRequestLedger
from chalicelib.observability import logger
from chalicelib.services import deployments, previews, projects, rate_limits, slack_installations, slack_live
from chalicelib.services.integers import ascii_integer
from chalicelib.services.slack_live_blocks import escape, log_tail, short_sha, truncate
from chalicelib.vocabulary import Status

STATUS_DEPLOYMENTS = 5  # what `status` lists
PROJECTS_LISTED = 50  # what `projects` lists: an answer stays readable (and within Slack's message size)
SUBJECT_LIMIT = 80  # a commit's subject line in `status`
ROLLBACK_SEARCH = 100  # how many of the newest deployments `rollback` looks through for the previous one

NOT_CONNECTED = (
    "This Slack workspace is not connected to a deployd organization yet. An organization admin connects it: "
    "`POST /api/v1/public/integrations/slack` with an API key that has the `integrations:write` scope, then "
    "open the `install_url` it answers and pick this workspace (see deployd's docs/slack.md)."
)
NOT_ALLOWED = (
    "You are not allowed to act on this workspace's deployd organization. An organization admin can add you "
    "(`PATCH /api/v1/public/integrations/slack` with `allowed_user_ids`)."
)
USAGE: dict[str, str] = {
    "help": "help",
    "projects": "projects",
    "status": "status <project>",
    "deploy": "deploy <project> [branch]",
    "rollback": "rollback <project> [deployment-id]",
    "cancel": "cancel <project> <deployment-id>",
    "preview": "preview <project> <branch>",
    "subscribe": "subscribe <project | all>",
    "unsubscribe": "unsubscribe <project | all>",
}
_ARITY: dict[str, tuple[int, int]] = {
    "help": (0, 0),
    "projects": (0, 0),
    "status": (1, 1),
    "deploy": (1, 2),
    "rollback": (1, 2),
    "cancel": (2, 2),
    "preview": (2, 2),
    "subscribe": (1, 1),
    "unsubscribe": (1, 1),
}
_EXPLAINED = {
    "help": "this list",
    "projects": "the organization's projects and their production URLs",
    "status": "what production serves and the last 5 deployments",
    "deploy": "deploy the branch (default: the project's default branch) to production",
    "rollback": "serve an earlier deployment again (default: the one before the current)",
    "cancel": "cancel a deployment in progress",
    "preview": "the preview URL of a branch",
    "subscribe": "this channel gets a live message for every deployment of the project (or of all)",
    "unsubscribe": "stop that",
}


def help_text(command: str = "/deployd") -> str:
    lines = [f"`{command} {USAGE[name]}`: {_EXPLAINED[name]}" for name in USAGE]
    return "*deployd in Slack*\n" + "\n".join(lines)


# Verification


def verify(body: bytes, timestamp: str | None, signature: str | None) -> str:
    """Check a request's signature and timestamp (slack_sdk's SignatureVerifier: HMAC-SHA256 with the signing
    secret, at most 5 minutes old), then that this exact signature was not seen before within that window.
    Returns the request's id (a digest of its signature); Unauthenticated otherwise, and nothing is done."""
    from slack_sdk.signature import SignatureVerifier  # deferred: only /slack requests need it

    if not timestamp or not signature:
        raise Unauthenticated("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    if not SignatureVerifier(slack_signing_secret()).is_valid(body, timestamp, signature):
        raise Unauthenticated("invalid or stale Slack signature")
    if not SlackRequestLedger.first_sighting(signature):
        raise Unauthenticated("this request was already received (a replay)")
    return hashlib.sha256(signature.encode()).hexdigest()[:32]


# Acknowledgement (the API, within 3 seconds)


class Reply(NamedTuple):
    text: str
    blocks: list[dict[str, Any]] | None = None


class SlashCommand(NamedTuple):
    team_id: str
    user_id: str
    channel_id: str
    response_url: str
    text: str
    command: str = "/deployd"

    @staticmethod
    def from_form(form: Mapping[str, str]) -> SlashCommand:
        missing = [name for name in ("team_id", "user_id", "channel_id", "response_url") if not form.get(name)]
        if missing:
            raise InvalidInput(f"a slash command needs {', '.join(missing)}")
        return SlashCommand(
            team_id=form["team_id"],
            user_id=form["user_id"],
            channel_id=form["channel_id"],
            response_url=form["response_url"],
            text=form.get("text", ""),
            command=form.get("command") or "/deployd",
        )


def parse(text: str, command: str = "/deployd") -> tuple[str, list[str]]:
    """`deploy web main` -> ("deploy", ["web", "main"]); an empty text is `help`. InvalidInput with the usage."""
    words = text.split()
    if not words:
        return "help", []
    name, args = words[0].lower(), words[1:]
    if name not in _ARITY:
        raise InvalidInput(f"Unknown command `{escape(words[0])}`.\n{help_text(command)}")
    low, high = _ARITY[name]
    if not low <= len(args) <= high:
        raise InvalidInput(f"Usage: `{command} {USAGE[name]}`")
    return name, args


def acknowledge_command(command: SlashCommand, request_id: str) -> Reply | None:
    """What Slack shows at once (ephemeral); None: an empty acknowledgement, the answer follows from the worker."""
    installation = SlackInstallationRepository.of_team(command.team_id)
    if installation is None:
        return Reply(NOT_CONNECTED)
    if not slack_installations.may_act(installation, command.user_id):
        return Reply(NOT_ALLOWED)
    try:
        name, args = parse(command.text, command.command)
    except InvalidInput as exc:
        return Reply(exc.message)
    if name == "help":
        return Reply(help_text(command.command))
    slack_command_queue.enqueue(
        {
            "kind": "command",
            "id": request_id,
            "org_slug": installation.org_slug,
            "team_id": command.team_id,
            "user_id": command.user_id,
            "channel_id": command.channel_id,
            "response_url": command.response_url,
            "name": name,
            "args": args,
        }
    )
    return None


def acknowledge_action(payload: Mapping[str, Any], request_id: str) -> None:
    """A button of a live message: queued for the worker, which checks everything again. Anything else Slack
    may send (another interaction type, a button of no deployment) is acknowledged and ignored."""
    if payload.get("type") != "block_actions":
        return
    actions = payload.get("actions") or []
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    action_id, value = action.get("action_id"), str(action.get("value") or "")
    team, user = payload.get("team") or {}, payload.get("user") or {}
    response_url = payload.get("response_url")
    if action_id not in _ACTIONS or ascii_integer(value) is None or not response_url:
        logger.info("Slack interaction ignored", extra={"action_id": str(action_id)})
        return
    if not isinstance(team, dict) or not isinstance(user, dict) or not team.get("id") or not user.get("id"):
        raise InvalidInput("a block_actions payload names its team and user")
    channel = payload.get("channel") if isinstance(payload.get("channel"), dict) else {}
    slack_command_queue.enqueue(
        {
            "kind": "action",
            "id": request_id,
            "team_id": str(team["id"]),
            "user_id": str(user["id"]),
            "channel_id": str((channel or {}).get("id") or ""),
            "response_url": str(response_url),
            "name": str(action_id),
            "args": [value],
        }
    )


# The worker


class Actor(NamedTuple):
    """Who acts, from where: the organization's installation and the Slack user."""

    installation: SlackInstallation
    user_id: str
    channel_id: str

    @property
    def org_slug(self) -> str:
        return self.installation.org_slug

    @property
    def team_id(self) -> str:
        return self.installation.team_id

    @property
    def name(self) -> str:
        """`slack:<team>/<user>`: the deployment's triggered_by (and GitHub's creator) for what it triggers."""
        return f"slack:{self.team_id}/{self.user_id}"


def run(message: Mapping[str, Any]) -> None:
    """The command queue's worker: do a queued command or button once and answer through its response_url.

    A redelivered message (the worker's invocation failed after it began) does nothing: deploying twice would be
    worse than a lost answer."""
    if not SlackRequestLedger.first_work(str(message["id"])):
        logger.info("Slack request already handled", extra={"slack_request": message["id"]})
        return
    response_url = str(message["response_url"])
    try:
        reply = _work(message)
    except RateLimited as exc:
        reply = Reply(f"Rate limited: {exc.message}. Try again in {exc.retry_after} s.")
    except DomainError as exc:
        reply = Reply(exc.message)
    except Exception:
        logger.exception("Slack request failed", extra={"slack_request": message["id"]})
        reply = Reply("Something went wrong on deployd's side; the failure was logged. Try again in a moment.")
    if reply is not None:
        slack_responses.respond(response_url, reply.text, reply.blocks)


def _work(message: Mapping[str, Any]) -> Reply | None:
    installation = SlackInstallationRepository.of_team(str(message["team_id"]))
    if installation is None or (message.get("org_slug") not in (None, installation.org_slug)):
        return Reply(NOT_CONNECTED)
    user_id = str(message["user_id"])
    if not slack_installations.may_act(installation, user_id):
        return Reply(NOT_ALLOWED)
    actor = Actor(installation, user_id, str(message.get("channel_id") or ""))
    args = [str(arg) for arg in message.get("args") or []]
    handlers = _ACTIONS if message["kind"] == "action" else _COMMANDS
    return handlers[str(message["name"])](actor, args)


def _project(actor: Actor, ref: str) -> Project:
    """A project of the organization named by its slug (or its id)."""
    try:
        number = ascii_integer(ref)
        if number is not None:
            return ProjectRepository.get(actor.org_slug, number)
        return ProjectRepository.find_by_slug(actor.org_slug, ref)
    except NotFound as exc:
        raise NotFound(f"No project `{escape(ref)}` in this organization; `/deployd projects` lists them.") from exc


def _deployment_id(ref: str) -> int:
    number = ascii_integer(ref.lstrip("#"))
    if number is None:
        raise InvalidInput(f"`{escape(ref)}` is not a deployment id (a number, as in the live message: #42)")
    return number


def _line(d: Deployment, active_id: int | None) -> str:
    live = " (live)" if d.id == active_id else ""
    subject = truncate(escape((d.commit_message or "").strip().split("\n", 1)[0]), SUBJECT_LIMIT)
    return f"#{d.id} {d.status}{live}: `{escape(d.branch)}` {short_sha(d.commit_sha)} {subject}"


def _projects(actor: Actor, args: list[str]) -> Reply:
    views = projects.list_all(actor.org_slug)
    if not views:
        return Reply("This organization has no projects yet.")
    lines = [
        f"*{escape(v.project.slug)}*: <{v.production_url}|production>"
        + (f", serving #{v.active_deployment_id}" if v.active_deployment_id else ", nothing deployed yet")
        for v in views[:PROJECTS_LISTED]
    ]
    if len(views) > PROJECTS_LISTED:
        lines.append(f"… and {len(views) - PROJECTS_LISTED} more (the native API lists them all).")
    return Reply("\n".join(lines))


def _status(actor: Actor, args: list[str]) -> Reply:
    project = _project(actor, args[0])
    view = projects.get(actor.org_slug, project.id)
    recent = deployments.list_page(actor.org_slug, project.id, 1, STATUS_DEPLOYMENTS).items
    serving = (
        f"Production serves #{view.active_deployment_id} at {view.production_url}"
        if view.active_deployment_id
        else "Nothing is deployed to production yet."
    )
    lines = [_line(v.deployment, view.active_deployment_id) for v in recent] or ["No deployments yet."]
    return Reply(f"*{escape(project.slug)}*\n{serving}\nLast deployments:\n" + "\n".join(lines))


def _deploy(actor: Actor, args: list[str]) -> Reply:
    project = _project(actor, args[0])
    branch = args[1] if len(args) > 1 else None
    # Counted as the native trigger counts (its "triggers" bucket), and given back if the trigger is refused.
    state = rate_limits.admit(actor.org_slug, "triggers")
    try:
        view = deployments.trigger(actor.org_slug, project.id, branch, actor.name, actor.name)
    except DomainError:
        rate_limits.refund(actor.org_slug, state)
        raise
    d = view.deployment
    slack_live.announce(actor.org_slug, d.id, actor.team_id, actor.channel_id)
    return Reply(f"Deploying *{escape(project.slug)}* `{escape(d.branch)}` {short_sha(d.commit_sha)} as #{d.id}.")


def _previous_deployed(project: Project) -> Deployment:
    """The production deployment that went live before the one production serves now."""
    view = projects.get(project.org_slug, project.id)
    newest = deployments.list_page(project.org_slug, project.id, 1, ROLLBACK_SEARCH).items
    serving = next((v.deployment for v in newest if v.deployment.id == view.active_deployment_id), None)
    for candidate in (v.deployment for v in newest):
        if (
            candidate.status == Status.DEPLOYED
            and candidate.environment == PRODUCTION
            and candidate.artifact_prefix
            and candidate.id != view.active_deployment_id
            and (serving is None or candidate.seq < serving.seq)
        ):
            return candidate
    raise Conflict(f"Nothing to roll back to: *{escape(project.slug)}* has no earlier deployed production deployment.")


def _rollback(actor: Actor, args: list[str]) -> Reply:
    project = _project(actor, args[0])
    target_id = _deployment_id(args[1]) if len(args) > 1 else _previous_deployed(project).id
    return _roll_back_to(actor, project, target_id)


def _roll_back_to(actor: Actor, project: Project, deployment_id: int) -> Reply:
    view = deployments.rollback(actor.org_slug, project.id, deployment_id)
    url = view.deployment.deployment_url or projects.get(actor.org_slug, project.id).production_url
    return Reply(f"Rolled *{escape(project.slug)}* back to #{deployment_id}: production serves it again at {url}.")


def _cancel(actor: Actor, args: list[str]) -> Reply:
    project = _project(actor, args[0])
    return _cancel_deployment(actor, project, _deployment_id(args[1]))


def _cancel_deployment(actor: Actor, project: Project, deployment_id: int) -> Reply:
    current = deployments.view(actor.org_slug, project.id, deployment_id).deployment
    if current.is_terminal:
        return Reply(f"Deployment #{deployment_id} already ended: it is {current.status}.")
    try:
        deployments.cancel(actor.org_slug, project.id, deployment_id)
    except Conflict:  # it ended between the read and the cancel
        ended = deployments.view(actor.org_slug, project.id, deployment_id).deployment
        return Reply(f"Deployment #{deployment_id} already ended: it is {ended.status}.")
    return Reply(f"Cancelled deployment #{deployment_id} of *{escape(project.slug)}*.")


def _preview(actor: Actor, args: list[str]) -> Reply:
    project = _project(actor, args[0])
    branch = args[1]
    try:
        preview = previews.get(actor.org_slug, project.id, branch)
    except NotFound as exc:
        raise NotFound(f"*{escape(project.slug)}* has no preview of branch `{escape(branch)}`.") from exc
    latest = preview.latest
    state = f" (latest build #{latest.id}: {latest.status})" if latest is not None else ""
    return Reply(f"Preview of `{escape(branch)}`: {preview.url}{state}")


def _target(actor: Actor, ref: str) -> tuple[int | None, str]:
    if ref.lower() == "all":
        return None, "every project"
    project = _project(actor, ref)
    return project.id, f"*{escape(project.slug)}*"


def _subscribe(actor: Actor, args: list[str]) -> Reply:
    project_id, named = _target(actor, args[0])
    slack_live.subscribe(actor.org_slug, actor.team_id, actor.channel_id, project_id)
    return Reply(f"This channel now gets a live message for every deployment of {named}.")


def _unsubscribe(actor: Actor, args: list[str]) -> Reply:
    project_id, named = _target(actor, args[0])
    if not slack_live.unsubscribe(actor.org_slug, actor.team_id, actor.channel_id, project_id):
        return Reply(f"This channel was not subscribed to {named}.")
    return Reply(f"This channel no longer gets live messages for {named}.")


# Buttons: the deployment id is the value; the organization must own it.


def _owned(actor: Actor, args: list[str]) -> tuple[Project, int]:
    deployment_id = _deployment_id(args[0])
    deployment = DeploymentRepository.find(deployment_id)
    if deployment is None or deployment.org_slug != actor.org_slug:
        raise NotFound(f"Deployment #{deployment_id} is not one of this organization's.")
    return ProjectRepository.get(actor.org_slug, deployment.project_id), deployment_id


def _cancel_button(actor: Actor, args: list[str]) -> Reply:
    return _cancel_deployment(actor, *_owned(actor, args))


def _rollback_button(actor: Actor, args: list[str]) -> Reply:
    return _roll_back_to(actor, *_owned(actor, args))


def _logs_button(actor: Actor, args: list[str]) -> Reply:
    project, deployment_id = _owned(actor, args)
    found = deployments.logs(actor.org_slug, project.id, deployment_id)
    tail = log_tail(found.text)
    body = f"```\n{tail}\n```" if tail else "_The build log is empty so far._"
    return Reply(f"Build log of #{deployment_id} ({found.deployment.status}), last lines:\n{body}")


Handler = Callable[[Actor, list[str]], "Reply | None"]
_COMMANDS: dict[str, Handler] = {
    "projects": _projects,
    "status": _status,
    "deploy": _deploy,
    "rollback": _rollback,
    "cancel": _cancel,
    "preview": _preview,
    "subscribe": _subscribe,
    "unsubscribe": _unsubscribe,
}
_ACTIONS: dict[str, Handler] = {
    slack_live.CANCEL_ACTION: _cancel_button,
    slack_live.LOGS_ACTION: _logs_button,
    slack_live.ROLLBACK_ACTION: _rollback_button,
}
