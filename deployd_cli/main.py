"""The `deployd` commands (click). Each one calls the native API through ApiClient and prints its answer:
`--json` gives the API's objects and nothing else; errors are one line on stderr (docs/cli.md)."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from deployd_cli import config, render
from deployd_cli.client import ApiClient, segment
from deployd_cli.errors import INTERRUPTED, CliError
from deployd_cli.watch import TAIL_LINES, LiveDisplay, LogFollower, LogPoll, PlainDisplay, exit_code, stamp, watch

F = TypeVar("F", bound=Callable[..., Any])

PROJECT_COLUMNS = [("id", "ID"), ("slug", "SLUG"), ("name", "NAME"), ("default_branch", "BRANCH"),
                   ("production_url", "URL")]  # fmt: skip
DEPLOYMENT_COLUMNS = [("id", "ID"), ("status", "STATUS"), ("branch", "BRANCH"), ("commit_sha", "COMMIT"),
                      ("is_active", "ACTIVE"), ("created_at", "CREATED"), ("deployment_url", "URL")]  # fmt: skip
PROMOTION_COLUMNS = [("id", "ID"), ("environment", "ENVIRONMENT"), ("reason", "REASON"), ("status", "STATUS"),
                     ("from_deployment_id", "FROM"), ("to_deployment_id", "TO"), ("created_at", "CREATED")]  # fmt: skip


def _notice(text: str) -> None:
    click.echo(f"deployd: {text}", err=True)


@dataclass(frozen=True)
class Session:
    """What every command gets: its output mode and its API client (made on first use, from the configuration)."""

    as_json: bool
    wait_on_limit: bool

    @functools.cached_property
    def client(self) -> ApiClient:
        return ApiClient(config.load(), wait_on_limit=self.wait_on_limit, notice=_notice)

    def project_id(self, ref: str) -> int:
        """A project named by its numeric id or its slug."""
        if ref.isdigit():
            return int(ref)
        for project in self.client.get("/projects"):
            if project["slug"] == ref:
                return int(project["id"])
        raise CliError(f"no project with slug {ref!r} in this organization (`deployd projects list` shows them)")

    def show(self, data: Any, human: Callable[[], None]) -> None:
        if self.as_json:
            render.print_json(data)
        else:
            human()


def api_command(group: click.Group, name: str, **attrs: Any) -> Callable[[F], F]:
    """A command of `group` taking --json and --wait-on-limit, its function called with a Session first."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def run(as_json: bool, wait_on_limit: bool, **kwargs: Any) -> Any:
            return function(Session(as_json, wait_on_limit), **kwargs)

        run = click.option("--json", "as_json", is_flag=True, help="Print the API's objects as JSON, nothing else.")(
            run
        )
        run = click.option(
            "--wait-on-limit", is_flag=True, help="When rate limited, wait for Retry-After and try again."
        )(run)
        group.command(name, **attrs)(run)
        return function

    return decorate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="deployd")
def cli() -> None:
    """deployd: deploy projects, watch their builds, roll back; a client of deployd's native API.

    Configure with `deployd login --api URL`, or DEPLOYD_API_URL and DEPLOYD_TOKEN (CI)."""


# Configuration


@api_command(cli, "login")
@click.option("--api", "api_url", help="The API's base URL, e.g. http://127.0.0.1:8000.")
@click.option("--token-stdin", is_flag=True, help="Read the API key from standard input instead of asking.")
def login(session: Session, api_url: str | None, token_stdin: bool) -> None:
    """Store the API URL and an organization's API key (checked first) in the user's config dir."""
    api_url = (api_url or config.load_api_url() or "").rstrip("/")
    if not api_url:
        raise click.UsageError("give the API's URL with --api URL")
    if token_stdin:
        token = sys.stdin.readline().strip()
    elif sys.stdin.isatty():
        token = click.prompt("API key", hide_input=True, err=True).strip()
    else:
        raise click.UsageError("no terminal to ask for the key on: pass it on standard input with --token-stdin")
    if not token:
        raise click.UsageError("the API key is empty")
    client = ApiClient(config.Credentials(api_url, token), wait_on_limit=session.wait_on_limit, notice=_notice)
    me = client.get("/whoami")
    path = config.save(api_url, token)
    session.show(me, lambda: click.echo(f"Logged in to {api_url} as organization {me['org']}; key saved in {path}"))


@api_command(cli, "logout")
def logout(session: Session) -> None:
    """Forget the stored API key."""
    removed = config.forget()
    session.show({"removed": removed}, lambda: click.echo("Logged out." if removed else "Not logged in."))


@api_command(cli, "whoami")
def whoami(session: Session) -> None:
    """The organization and the scopes of the key in use."""
    me = session.client.get("/whoami")
    session.show(
        me,
        lambda: render.print_fields(
            {"api": session.client.base, "organization": me["org"], "key": me["key_id"], "scopes": me["scopes"]}
        ),
    )


# Projects


@cli.group()
def projects() -> None:
    """List, create, show and delete projects."""


@api_command(projects, "list")
def projects_list(session: Session) -> None:
    items = session.client.get("/projects")
    session.show(items, lambda: render.print_table(items, PROJECT_COLUMNS, "No projects yet."))


@api_command(projects, "create")
@click.argument("name")
@click.option("--repo", "repo_url", required=True, help="The git repository to build (URL or path).")
@click.option("--branch", "default_branch", help="Default branch (main).")
@click.option("--build-command", help="Shell command that builds the site.")
@click.option("--output-dir", help="Directory the build writes the site to (.).")
@click.option("--slug", help="URL name (made from NAME by default).")
@click.option("--build-timeout", "build_timeout_seconds", type=int, help="Build time limit in seconds.")
@click.option("--health-check-path", help="Path a promotion GETs to verify a deployment before serving it (/).")
@click.option(
    "--auto-rollback/--no-auto-rollback",
    default=None,
    help="Refuse or revert a production deployment that fails its health check (on).",
)
def projects_create(session: Session, name: str, **fields: Any) -> None:
    body = {"name": name, **{k: v for k, v in fields.items() if v is not None}}
    project = session.client.post("/projects", body)
    session.show(project, lambda: render.print_fields(project))


@api_command(projects, "show")
@click.argument("project")
def projects_show(session: Session, project: str) -> None:
    item = session.client.get(f"/projects/{session.project_id(project)}")
    session.show(item, lambda: render.print_fields(item))


@api_command(projects, "delete")
@click.argument("project")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def projects_delete(session: Session, project: str, yes: bool) -> None:
    """Delete a project: its URLs stop serving."""
    pid = session.project_id(project)
    _confirm(yes, f"Delete project {project} ({pid})? Its URLs stop serving.")
    session.client.delete(f"/projects/{pid}")
    session.show({"id": pid, "deleted": True}, lambda: click.echo(f"Deleted project {pid}."))


def _confirm(yes: bool, question: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise click.UsageError("no terminal to confirm on: pass --yes")
    if not click.confirm(question, default=False, err=True):
        raise CliError("not confirmed; nothing changed")


# Deployments


@api_command(cli, "deploy")
@click.argument("project")
@click.option("--branch", help="Branch to deploy (the project's default).")
@click.option("--no-wait", is_flag=True, help="Print the queued deployment and return at once.")
def deploy(session: Session, project: str, branch: str | None, no_wait: bool) -> int:
    """Deploy PROJECT (id or slug) and follow it until it is live.

    Exit status: 0 deployed, 1 failed, 2 usage error, 3 cancelled, 130 stopped watching (it goes on)."""
    pid = session.project_id(project)
    built_here = session.client.get(f"/projects/{pid}")["build_command"] is not None
    deployment = session.client.post(f"/projects/{pid}/deployments", {"branch": branch} if branch else {})
    if no_wait or not built_here:
        if not built_here:  # a ledger: only its external deployer's status reports move the deployment
            did = deployment["id"]
            _notice(f"project {project} has no build command: deployment {did} moves only as its deployer reports")
        session.show(deployment, lambda: _print_queued(deployment))
        return 0
    return _follow_deployment(session, pid, deployment, project)


def _print_queued(deployment: dict[str, Any]) -> None:
    render.print_fields(deployment, ["id", "status", "branch", "commit_sha", "commit_message"])


def _follow_deployment(session: Session, pid: int, deployment: dict[str, Any], project: str) -> int:
    did = int(deployment["id"])
    follower = LogFollower(session.client, pid, did)
    label = f"{project} #{did} ({deployment.get('branch')})"
    started = time.monotonic()
    while True:
        try:
            last = _watch(session, follower, label, started)
            break
        except KeyboardInterrupt:
            if not _ask_to_cancel(did):
                _notice(f"stopped watching; deployment {did} goes on: deployd logs {project} {did} --follow")
                return INTERRUPTED
            session.client.post(f"/projects/{pid}/deployments/{did}/cancel")
            _notice(f"cancelling deployment {did}")
    final = session.client.get(f"/projects/{pid}/deployments/{did}")
    session.show(final, lambda: _print_outcome(final))
    if session.as_json and last.status == "failed":
        _print_tail(follower, final)
    return exit_code(last.status)


def _watch(session: Session, follower: LogFollower, label: str, started: float) -> LogPoll:
    if session.as_json:  # nothing but the final object on stdout
        return deque(follower.follow(), maxlen=1)[0]
    if render.is_terminal():
        return watch(follower, LiveDisplay(render.console(), label, started))
    return watch(follower, PlainDisplay())


def _ask_to_cancel(deployment_id: int) -> bool:
    """After Ctrl-C: cancel the deployment, or only stop watching? Without a terminal to ask on, stop watching."""
    if not sys.stdin.isatty():
        return False
    try:
        return click.confirm(
            f"\nCancel deployment {deployment_id}? (no: stop watching, it goes on)", default=False, err=True
        )
    except click.Abort:
        return False


def _print_outcome(deployment: dict[str, Any]) -> None:
    status = deployment["status"]
    did = deployment["id"]
    if status == "deployed":
        lines = [
            f"Deployed: {deployment.get('deployment_url')}",
            f"  build time: {render.cell(deployment.get('build_time_seconds'))} s",
            f"  deployment: {did}",
        ]
    elif status == "failed":
        lines = [f"Failed: {deployment.get('error_message') or 'the build failed'} (deployment {did})"]
    else:
        lines = [f"Deployment {did} {status}."]
    prefix = "" if render.is_terminal() else f"{stamp()} "  # a pipe gets timestamped lines throughout
    for line in lines:
        click.echo(prefix + line)


def _print_tail(follower: LogFollower, deployment: dict[str, Any]) -> None:
    """A failed build's last lines on stderr, for --json runs whose stdout holds only the objects."""
    click.echo(f"deployd: deployment {deployment['id']} failed; the log's last {TAIL_LINES} lines:", err=True)
    for line in follower.tail:
        click.echo(line, err=True)


@cli.group()
def deployments() -> None:
    """A project's deployments."""


@api_command(deployments, "list")
@click.argument("project")
@click.option("--page", type=int, help="Page number (1).")
@click.option("--per-page", type=int, help="Deployments a page, 1-100 (20).")
def deployments_list(session: Session, project: str, page: int | None, per_page: int | None) -> None:
    """Newest first."""
    pid = session.project_id(project)
    answer = session.client.request_page(
        "GET", f"/projects/{pid}/deployments", params={"page": page, "per_page": per_page}
    )
    assert answer is not None
    session.show(answer, lambda: render.print_table(answer["data"], DEPLOYMENT_COLUMNS, "No deployments yet."))


@api_command(deployments, "show")
@click.argument("project")
@click.argument("deployment", type=int)
def deployments_show(session: Session, project: str, deployment: int) -> None:
    item = session.client.get(f"/projects/{session.project_id(project)}/deployments/{deployment}")
    session.show(item, lambda: render.print_fields(item))


@api_command(cli, "logs")
@click.argument("project")
@click.argument("deployment", type=int)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines until the deployment ends.")
def logs(session: Session, project: str, deployment: int, follow: bool) -> int:
    """A deployment's build log. With --follow, its exit status is the deployment's (as `deploy`'s);
    with --follow --json, one JSON object a line, each holding the log written since the previous one."""
    pid = session.project_id(project)
    follower = LogFollower(session.client, pid, deployment)
    if not follow:
        answer = follower.poll()
        session.show(answer.data, lambda: click.echo(answer.text, nl=False))
        return 0
    try:
        for answer in follower.follow():
            if session.as_json:
                click.echo(json.dumps(answer.data, ensure_ascii=False))
            elif answer.text:
                click.echo(answer.text, nl=False)
    except KeyboardInterrupt:
        return INTERRUPTED
    return exit_code(answer.status)


@api_command(cli, "cancel")
@click.argument("project")
@click.argument("deployment", type=int)
def cancel(session: Session, project: str, deployment: int) -> None:
    """Cancel a queued or running deployment."""
    pid = session.project_id(project)
    item = session.client.post(f"/projects/{pid}/deployments/{deployment}/cancel")
    session.show(item, lambda: click.echo(f"Deployment {deployment} {item['status']}."))


@api_command(cli, "rollback")
@click.argument("project")
@click.argument("deployment", type=int, required=False)
def rollback(session: Session, project: str, deployment: int | None) -> None:
    """Serve an earlier deployment in production again (no rebuild). Without DEPLOYMENT: the newest deployed
    production deployment older than the one serving now."""
    pid = session.project_id(project)
    target = deployment if deployment is not None else _previous_production(session, pid)
    item = session.client.post(f"/projects/{pid}/deployments/{target}/rollback")
    session.show(item, lambda: click.echo(f"Production now serves deployment {target}: {item.get('deployment_url')}"))


def _previous_production(session: Session, pid: int) -> int:
    active = session.client.get(f"/projects/{pid}")["active_deployment_id"]
    page = 1
    while True:
        answer = session.client.request_page(
            "GET", f"/projects/{pid}/deployments", params={"page": page, "per_page": 100}
        )
        assert answer is not None
        for item in answer["data"]:
            older = active is None or item["id"] < active
            if older and item["status"] == "deployed" and item["environment"] == "production":
                return int(item["id"])
        if page >= answer["meta"]["total_pages"]:
            raise CliError("no earlier deployed production deployment to roll back to")
        page += 1


# Promotions


@cli.group()
def promotions() -> None:
    """Every change of what an environment serves (deploy, rollback, automatic revert) and its health checks."""


@api_command(promotions, "list")
@click.argument("project")
@click.option("--environment", help="Only this environment's (production, preview/<branch>, ...).")
@click.option("--page", type=int, help="Page number (1).")
@click.option("--per-page", type=int, help="Promotions a page, 1-100 (20).")
def promotions_list(
    session: Session, project: str, environment: str | None, page: int | None, per_page: int | None
) -> None:
    """Newest first."""
    pid = session.project_id(project)
    params = {"environment": environment, "page": page, "per_page": per_page}
    answer = session.client.request_page("GET", f"/projects/{pid}/promotions", params=params)
    assert answer is not None
    session.show(answer, lambda: render.print_table(answer["data"], PROMOTION_COLUMNS, "No promotions yet."))


@api_command(promotions, "show")
@click.argument("project")
@click.argument("promotion", type=int)
def promotions_show(session: Session, project: str, promotion: int) -> None:
    """A promotion and each of its health checks, one line a check."""
    item = session.client.get(f"/projects/{session.project_id(project)}/promotions/{promotion}")
    session.show(item, lambda: _print_promotion(item))


def _print_promotion(item: dict[str, Any]) -> None:
    render.print_fields(item, [name for name in item if name != "checks"])
    for check in item["checks"]:
        answer = f"HTTP {check['status_code']}" if check["status_code"] is not None else "no answer"
        served = check["served_by_deployment_id"]
        verdict = "ok" if check["ok"] else f"failed: {check['error'] or 'not the intended deployment'}"
        click.echo(
            f"check {check['target']}: GET {check['url']} -> {answer}, served by deployment {render.cell(served)}, "
            f"{check['attempts']} attempt(s), {verdict}"
        )


# Previews, webhooks, deploy hooks


@cli.group()
def previews() -> None:
    """A project's branch previews (pro and enterprise plans)."""


@api_command(previews, "list")
@click.argument("project")
def previews_list(session: Session, project: str) -> None:
    items = session.client.get(f"/projects/{session.project_id(project)}/previews")
    rows = [{**p, "status": (p.get("latest_deployment") or {}).get("status")} for p in items]
    columns = [("branch", "BRANCH"), ("status", "STATUS"), ("preview_url", "URL"), ("last_built_at", "BUILT")]
    session.show(items, lambda: render.print_table(rows, columns, "No previews."))


@api_command(previews, "create")
@click.argument("project")
@click.argument("branch")
def previews_create(session: Session, project: str, branch: str) -> None:
    """Build BRANCH as a preview (or rebuild it)."""
    item = session.client.post(f"/projects/{session.project_id(project)}/previews", {"branch": branch})
    session.show(
        item, lambda: click.echo(f"Preview of {branch}: {item['preview_url']} (deployment {item['deployment']['id']})")
    )


@api_command(previews, "delete")
@click.argument("project")
@click.argument("branch")
def previews_delete(session: Session, project: str, branch: str) -> None:
    session.client.delete(f"/projects/{session.project_id(project)}/previews/{segment(branch)}")
    session.show({"branch": branch, "deleted": True}, lambda: click.echo(f"Deleted the preview of {branch}."))


@cli.group()
def webhooks() -> None:
    """The organization's webhooks (signed Standard Webhooks messages)."""


WEBHOOK_COLUMNS = [("id", "ID"), ("url", "URL"), ("events", "EVENTS"), ("project_id", "PROJECT"), ("active", "ACTIVE")]


@api_command(webhooks, "list")
def webhooks_list(session: Session) -> None:
    items = session.client.get("/webhooks")
    session.show(items, lambda: render.print_table(items, WEBHOOK_COLUMNS, "No webhooks."))


@api_command(webhooks, "create")
@click.argument("url")
@click.option("--event", "events", multiple=True, help="An event type to send (repeatable; every event by default).")
@click.option("--project", help="Only this project's events (id or slug).")
@click.option("--description")
def webhooks_create(
    session: Session, url: str, events: tuple[str, ...], project: str | None, description: str | None
) -> None:
    """Subscribe URL; its signing secret is shown only now."""
    body: dict[str, Any] = {"url": url}
    if events:
        body["events"] = list(events)
    if project:
        body["project_id"] = session.project_id(project)
    if description:
        body["description"] = description
    item = session.client.post("/webhooks", body)
    session.show(item, lambda: render.print_fields(item))


@api_command(webhooks, "delete")
@click.argument("webhook", type=int)
def webhooks_delete(session: Session, webhook: int) -> None:
    session.client.delete(f"/webhooks/{webhook}")
    session.show({"id": webhook, "deleted": True}, lambda: click.echo(f"Deleted webhook {webhook}."))


@cli.group("deploy-hooks")
def deploy_hooks() -> None:
    """A project's deploy hooks: secret URLs that trigger a deployment."""


@api_command(deploy_hooks, "list")
@click.argument("project")
def deploy_hooks_list(session: Session, project: str) -> None:
    items = session.client.get(f"/projects/{session.project_id(project)}/deploy-hooks")
    columns = [("id", "ID"), ("name", "NAME"), ("branch", "BRANCH"), ("url", "URL"), ("created_at", "CREATED")]
    session.show(items, lambda: render.print_table(items, columns, "No deploy hooks."))


@api_command(deploy_hooks, "create")
@click.argument("project")
@click.argument("name")
@click.option("--branch", help="Branch it deploys (the project's default).")
def deploy_hooks_create(session: Session, project: str, name: str, branch: str | None) -> None:
    """Make a hook; its URL (which holds its secret) is shown only now."""
    body = {"name": name, **({"branch": branch} if branch else {})}
    item = session.client.post(f"/projects/{session.project_id(project)}/deploy-hooks", body)
    session.show(item, lambda: render.print_fields(item))


@api_command(deploy_hooks, "delete")
@click.argument("project")
@click.argument("hook", type=int)
def deploy_hooks_delete(session: Session, project: str, hook: int) -> None:
    session.client.delete(f"/projects/{session.project_id(project)}/deploy-hooks/{hook}")
    session.show({"id": hook, "deleted": True}, lambda: click.echo(f"Deleted deploy hook {hook}."))


def main() -> None:
    """The console script: errors are one line on stderr, never a traceback; the exit status is the command's."""
    try:
        result = cli.main(prog_name="deployd", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("deployd: aborted", err=True)
        sys.exit(INTERRUPTED)
    except CliError as exc:
        click.echo(f"deployd: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    except Exception as exc:  # a bug of the CLI's own: still one line
        click.echo(f"deployd: unexpected error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
