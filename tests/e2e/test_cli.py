"""The `deployd` command line run as a user runs it: a subprocess against the embedded stack, its output read from
a pipe (CI) or a terminal (a pty), its --json output parsed, its exit status checked."""

from __future__ import annotations

import json
import os
import pty
import signal
import stat
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fcntl import ioctl
from pathlib import Path
from typing import Any

import pytest

from chalicelib.local.stack import free_port
from tests.e2e.conftest import ROOT, Api, RunningStack, fetch, gated_build
from tests.support.git import GitRepo
from tests.support.polling import wait_until

SITE = {"index.html": "<h1>hello from the cli</h1>"}
# Prints numbered lines over about two seconds, so `deploy` reads the log over several polls.
CHATTY_BUILD = "for i in 1 2 3 4 5 6; do echo out-$i; sleep 0.3; done; mkdir -p dist && cp index.html dist/"


@dataclass
class Cli:
    """Runs `deployd` (python -m deployd_cli, the console script's module) with a config dir of its own."""

    home: Path
    env: dict[str, str]
    started: list[subprocess.Popen[Any]] = field(default_factory=list)  # ended at teardown if a test failed early

    def run(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deployd_cli", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**self.env, **env},
            timeout=120,
        )

    def json(self, *args: str, **env: str) -> Any:
        done = self.run(*args, "--json", **env)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYD_")}
    env.update({"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path), "NO_COLOR": "1"})
    runner = Cli(tmp_path, env)
    yield runner
    for process in runner.started:
        if process.poll() is None:
            process.kill()
            process.wait()


class Terminal:
    """`deployd` on a pseudo-terminal: everything it writes is collected; `type` answers its prompts."""

    def __init__(self, cli: Cli, *args: str, **env: str) -> None:
        self.master, slave = pty.openpty()
        ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "deployd_cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env={**cli.env, "TERM": "xterm-256color", **env},
            start_new_session=True,
        )
        cli.started.append(self.process)
        os.close(slave)
        self.output = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 4096)
            except OSError:  # EIO: the process closed the terminal
                return
            if not chunk:
                return
            self.output += chunk

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def wait_for(self, fragment: str, timeout: float = 60) -> None:
        wait_until(lambda: fragment in self.text, timeout, what=f"{fragment!r} on the terminal; got {self.text!r}")

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self, timeout: float = 60) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        os.close(self.master)
        return code


def _login(cli: Cli, stack: RunningStack, api: Api) -> None:
    done = cli.run("login", "--api", stack.api, "--token-stdin", stdin=api.token + "\n")
    assert done.returncode == 0, done.stderr


def test_a_pipeline_logs_in_manages_a_project_and_deploys_with_plain_timestamped_lines(
    cli: Cli, stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given an organization's key, given to `deployd login` on standard input
    api = org_api(plan="pro")
    _login(cli, stack, api)

    # Then the key is stored readable by its owner only, and whoami names the organization and the scopes
    config = cli.home / "config" / "deployd" / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    me = cli.json("whoami")
    assert me["org"] == api.org and "deployments:write" in me["scopes"]

    # When a project is created, listed and shown
    repo = git_repo()
    repo.commit(SITE)
    project = cli.json("projects", "create", "Cli Site", "--repo", repo.url, "--build-command", CHATTY_BUILD,
                       "--output-dir", "dist")  # fmt: skip
    listed = cli.run("projects", "list")
    assert listed.returncode == 0
    assert listed.stdout.split("\n")[0].split("\t")[:2] == [str(project["id"]), project["slug"]]
    assert cli.json("projects", "show", project["slug"])["id"] == project["id"]

    # And deployed from a pipe (CI)
    first = cli.run("deploy", project["slug"])

    # Then it waits until the site is live: plain timestamped lines, every log line once, then the URL and id
    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert all(line[:4].isdigit() and line[19] == "Z" for line in lines if "status:" in line or "out-" in line)
    for n in range(1, 7):
        assert sum(line.endswith(f" out-{n}") for line in lines) == 1, first.stdout
    statuses = [line.split("status: ")[1] for line in lines if "status: " in line]
    assert statuses[-1] == "deployed" and "building" in statuses
    assert "\x1b[" not in first.stdout  # no colour, no spinner
    deployment = cli.json("deployments", "list", project["slug"])["data"][0]
    assert f"Deployed: {deployment['deployment_url']}" in first.stdout
    assert f"deployment: {deployment['id']}" in first.stdout
    assert "hello from the cli" in fetch(deployment["deployment_url"]).text

    # And a second deploy with --json prints only the final object; rollback without an id goes back to the first
    second = cli.json("deploy", str(project["id"]))
    assert second["status"] == "deployed" and second["id"] != deployment["id"]
    rolled = cli.json("rollback", project["slug"])
    assert rolled["id"] == deployment["id"] and rolled["is_active"] is True

    # And logs reads a finished deployment whole, --follow too (each line once), and as the API's object
    log = cli.run("logs", project["slug"], str(deployment["id"]), "--follow")
    assert log.returncode == 0 and log.stdout.count("out-3\n") == 1
    assert "out-6" in cli.json("logs", project["slug"], str(deployment["id"]))["build_logs"]
    followed = cli.run("logs", project["slug"], str(deployment["id"]), "--follow", "--json")
    assert [json.loads(line)["status"] for line in followed.stdout.splitlines()] == ["deployed"]

    # And previews, deploy hooks and webhooks are listed, created and deleted
    repo.git("branch", "feature/cli")
    preview = cli.json("previews", "create", project["slug"], "feature/cli")
    assert preview["branch"] == "feature/cli"
    assert [p["branch"] for p in cli.json("previews", "list", project["slug"])] == ["feature/cli"]
    hook = cli.json("deploy-hooks", "create", project["slug"], "nightly")
    assert hook["url"].startswith(stack.api)
    assert [h["name"] for h in cli.json("deploy-hooks", "list", project["slug"])] == ["nightly"]
    webhook = cli.json("webhooks", "create", "https://example.com/hook", "--event", "deployment.status_changed")
    assert webhook["secret"].startswith("whsec_")
    assert [w["id"] for w in cli.json("webhooks", "list")] == [webhook["id"]]
    api.wait_for_status(project["id"], preview["deployment"]["id"], "deployed", "failed")
    assert cli.run("previews", "delete", project["slug"], "feature/cli").returncode == 0
    assert cli.run("deploy-hooks", "delete", project["slug"], str(hook["id"])).returncode == 0
    assert cli.run("webhooks", "delete", str(webhook["id"])).returncode == 0
    assert cli.json("previews", "list", project["slug"]) == []
    assert cli.json("deploy-hooks", "list", project["slug"]) == []
    assert cli.json("webhooks", "list") == []

    # And the project is deleted (confirmed by --yes, as a pipe has no terminal to ask on)
    assert cli.run("projects", "delete", project["slug"]).returncode == 2
    assert cli.run("projects", "delete", project["slug"], "--yes").returncode == 0
    assert cli.json("projects", "list") == []


def test_failures_are_one_line_with_their_own_exit_status(
    cli: Cli,
    stack: RunningStack,
    org_api: Callable[..., Api],
    git_repo: Callable[..., GitRepo],
) -> None:
    # Given a logged-in CLI and a project whose build fails after printing
    api = org_api()
    _login(cli, stack, api)
    repo = git_repo()
    repo.commit(SITE)
    project = api.create_project(repo.path, build_command="echo compiling; echo 'error: missing semicolon'; exit 4")

    # When it is deployed with --json
    failed = cli.run("deploy", str(project["id"]), "--json")

    # Then it exits 1, stdout is the failed deployment, and stderr shows the log's tail
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["status"] == "failed"
    assert "error: missing semicolon" in failed.stderr

    # And without --json the streamed log ends with the failure, then the reason
    plain = cli.run("deploy", str(project["id"]))
    assert plain.returncode == 1
    assert plain.stdout.index("error: missing semicolon") < plain.stdout.index("Failed: ")

    # And a project without a build command (a ledger) is not waited for: its deployment is queued for its deployer
    ledger = api.create_project(repo.path)
    queued = cli.run("deploy", str(ledger["id"]), "--json")
    assert queued.returncode == 0 and json.loads(queued.stdout)["status"] == "queued"
    assert "no build command" in queued.stderr

    # And a usage error exits 2, an API error is one line with its status and message
    assert cli.run("deploy").returncode == 2
    missing = cli.run("deployments", "show", str(project["id"]), "999999")
    assert missing.returncode == 1
    assert missing.stderr.startswith("deployd: HTTP 404: deployment 999999 not found")
    assert len(missing.stderr.splitlines()) == 1

    # And connection refused, a bad URL and a revoked key each say so, never with a traceback
    refused = cli.run("whoami", DEPLOYD_API_URL=f"http://127.0.0.1:{free_port()}")
    assert "connection refused" in refused.stderr and refused.returncode == 1
    bad_url = cli.run("whoami", DEPLOYD_API_URL="127.0.0.1:8000")
    assert "invalid API URL" in bad_url.stderr
    key_id = cli.json("whoami")["key_id"]
    assert stack.admin("DELETE", f"/orgs/{api.org}/keys/{key_id}").status_code == 204
    revoked = cli.run("projects", "list")
    assert revoked.stderr.startswith("deployd: HTTP 401: ") and "revoked" in revoked.stderr
    for done in (refused, bad_url, revoked):
        assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_on_a_terminal_deploy_shows_a_live_status_and_ctrl_c_can_cancel(
    cli: Cli,
    stack: RunningStack,
    org_api: Callable[..., Api],
    git_repo: Callable[..., GitRepo],
    shared_dir: Path,
) -> None:
    # Given a project whose build waits for a gate that never opens, and the CLI configured by environment (CI)
    api = org_api()
    repo = git_repo()
    repo.commit(SITE)
    project = api.create_project(repo.path, build_command=gated_build(shared_dir / "gate"), output_dir="dist")
    env = {"DEPLOYD_API_URL": stack.api, "DEPLOYD_TOKEN": api.token}

    # When it is deployed on a terminal
    terminal = Terminal(cli, "deploy", str(project["id"]), **env)

    # Then the live line shows the stages and the build's output streams
    terminal.wait_for("build-started")
    terminal.wait_for("building")
    assert "queued" in terminal.text and "deploying" in terminal.text

    # When Ctrl-C is pressed and the question answered "y"
    os.kill(terminal.process.pid, signal.SIGINT)
    terminal.wait_for("Cancel deployment")
    terminal.type("y\n")

    # Then the deployment is cancelled and the CLI exits 3
    assert terminal.finish() == 3, terminal.text
    deployment = api.get(f"/projects/{project['id']}/deployments").json()["data"][0]
    assert deployment["status"] == "cancelled"

    # And when a second deploy is interrupted and the question answered "n", it stops watching, the build goes on
    terminal = Terminal(cli, "deploy", str(project["id"]), **env)
    terminal.wait_for("build-started")
    os.kill(terminal.process.pid, signal.SIGINT)
    terminal.wait_for("Cancel deployment")
    terminal.type("n\n")
    assert terminal.finish() == 130, terminal.text
    assert "goes on" in terminal.text
    second = api.get(f"/projects/{project['id']}/deployments").json()["data"][0]
    assert second["status"] == "building"

    # And `logs --follow` streams it until `deployd cancel` ends it, then exits 3
    follower = subprocess.Popen(
        [sys.executable, "-m", "deployd_cli", "logs", str(project["id"]), str(second["id"]), "--follow"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**cli.env, **env},
    )
    cli.started.append(follower)
    cancelled = cli.run("cancel", str(project["id"]), str(second["id"]), "--json", **env)
    assert json.loads(cancelled.stdout)["status"] == "cancelled"
    out, _ = follower.communicate(timeout=60)
    assert follower.returncode == 3
    assert out.count("\nbuild-started\n") == 1, out


def test_login_on_a_terminal_asks_for_the_key_without_echo(
    cli: Cli, stack: RunningStack, org_api: Callable[..., Api]
) -> None:
    # Given an organization's key
    api = org_api()

    # When `deployd login` asks for it on a terminal and it is typed
    terminal = Terminal(cli, "login", "--api", stack.api)
    terminal.wait_for("API key")
    terminal.type(api.token + "\n")

    # Then it is kept (whoami works with it) and was never shown
    assert terminal.finish() == 0, terminal.text
    assert f"as organization {api.org}" in terminal.text
    assert api.token not in terminal.text
    assert cli.json("whoami")["org"] == api.org
