"""The build sandbox of the embedded stack, attacked the way issue 9 attacked it: a build of one organization
tries to read the stack's secrets, another build's workspace, the local AWS endpoint, the admin API and another
organization's site; builds leave no process behind; stopping the stack ends its builds and removes their
workspaces; start-up removes the workspaces of a stack that died."""

from __future__ import annotations

import re
import secrets
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from chalicelib.infra.resources import SITES_BUCKET
from chalicelib.settings import get_settings
from tests.e2e.conftest import Api, RunningStack, create_org, fetch, gated_build, start_stack, stop_stack
from tests.support.git import GitRepo
from tests.support.polling import wait_until
from tests.support.processes import marked_sleep, processes_with

STATIC_BUILD = "mkdir -p dist && cp index.html dist/"

# Everything the attacker's build tries; each result is a line of its build log.
ATTACK = r"""
found=none
for f in /proc/[0-9]*/environ; do
  token=$(tr '\0' '\n' < "$f" 2>/dev/null | sed -n 's/^DEPLOYD_ADMIN_TOKEN=//p')
  if [ -n "$token" ]; then found=$token; fi
done
echo "processes visible: $(ls -d /proc/[0-9]* | wc -l)"
echo "admin token found: $found"
if cat "{victim}/src/secret.txt" 2>/dev/null; then echo "victim workspace: read"
else echo "victim workspace: refused"; fi
if ls /tmp/deployd-stack-*/ >/dev/null 2>&1; then echo "workspaces listed: yes"; else echo "workspaces listed: no"; fi
aws=http://127.0.0.1:{moto_port}
code() {{ curl -s -o /dev/null -w '%{{http_code}}' "$@"; }}
dynamo="-X POST -H X-Amz-Target:DynamoDB_20120810.Scan -H Content-Type:application/x-amz-json-1.0"
echo "aws unsigned scan: $(code $dynamo -d '{{"TableName": "{table}"}}' $aws/)"
echo "aws old key scan: $(code --aws-sigv4 aws:amz:us-east-1:dynamodb --user embedded:embedded $dynamo \
  -d '{{"TableName": "{table}"}}' $aws/)"
echo "aws old key deface: $(code --aws-sigv4 aws:amz:us-east-1:s3 --user embedded:embedded -X PUT \
  --data-binary defaced $aws/{bucket}/{victim_key})"
echo "aws unsigned deface: $(code -X PUT --data-binary defaced $aws/{bucket}/{victim_key})"
echo "moto reset: $(code -X POST $aws/moto-api/reset)"
echo "moto no-auth count: $(code -X POST -d 100 $aws/moto-api/reset-auth)"
echo "admin api: $(code -X POST -H "Authorization: Bearer $found" -H Content-Type:application/json \
  -d '{{"slug": "pwned", "plan": "pro"}}' {api}/api/v1/admin/orgs)"
mkdir -p dist && cp index.html dist/
"""


def _stack_directory(stack: RunningStack) -> Path:
    """The directory holding `stack`'s build workspaces: the one whose owner file names its process."""
    for directory in Path(tempfile.gettempdir()).glob("deployd-stack-*"):
        owner = directory / "owner"
        if owner.exists() and owner.read_text().split()[0] == str(stack.process.pid):
            return directory
    raise AssertionError(f"no build directory for the stack of pid {stack.process.pid}")


def _workspace(stack: RunningStack, deployment_id: int) -> Path:
    def found() -> Path | None:
        return next(iter(_stack_directory(stack).glob(f"deployd-build-{deployment_id}-*")), None)

    return Path(wait_until(found, what=f"the workspace of deployment {deployment_id}"))


def _any_workspace(deployment_id: int) -> Path:
    """The workspace of a running build, wherever deployd puts it (before the sandbox, right in the temp dir)."""

    def found() -> Path | None:
        temp = Path(tempfile.gettempdir())
        candidates = [
            *temp.glob(f"deployd-stack-*/deployd-build-{deployment_id}-*"),
            *temp.glob(f"deployd-build-{deployment_id}-*"),
        ]
        return max(candidates, key=lambda path: path.stat().st_mtime, default=None)

    return Path(wait_until(found, what=f"the workspace of deployment {deployment_id}"))


def _result(log: str, what: str) -> str:
    match = re.search(rf"^{re.escape(what)}: (.*)$", log, re.MULTILINE)
    assert match, f"the build log has no line '{what}':\n{log}"
    return match.group(1).strip()


@pytest.fixture(scope="module")
def guarded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack of its own with an admin token no file holds: the attacker could only find it in the stack."""
    running = start_stack(tmp_path_factory.mktemp("guarded"), DEPLOYD_ADMIN_TOKEN=f"adm_{secrets.token_urlsafe(24)}")
    yield running
    stop_stack(running)


def test_a_build_reaches_neither_the_stacks_secrets_nor_aws_nor_other_organizations(
    guarded_stack: RunningStack, git_repo: Callable[..., GitRepo], shared_dir: Path
) -> None:
    stack = guarded_stack
    # Given organization A with a live site, and a build of A running with a secret file in its workspace
    victim = create_org(stack)
    site_repo = git_repo("victim-site")
    site_repo.commit({"index.html": "<h1>organization A</h1>"}, "A's page")
    site = victim.create_project(site_repo.path, build_command=STATIC_BUILD, output_dir="dist")
    live = victim.wait_for_status(site["id"], victim.trigger(site["id"])["id"], "deployed")
    assert fetch(site["production_url"]).text == "<h1>organization A</h1>"
    private_repo = git_repo("victim-private")
    private_repo.commit({"index.html": "private", "secret.txt": "A's deploy key"}, "secret")
    gate = shared_dir / "gate"
    private = victim.create_project(private_repo.path, build_command=gated_build(gate), output_dir="dist")
    running = victim.trigger(private["id"])
    victim.wait_for_status(private["id"], running["id"], "building")
    victim_workspace = _any_workspace(running["id"])

    # When organization B's build attacks, knowing the victim's workspace and every address
    attacker = create_org(stack)
    attack_repo = git_repo("attacker")
    script = ATTACK.format(
        victim=victim_workspace,
        moto_port=stack.moto_port,
        table=get_settings().resource_name("deployments"),
        bucket=get_settings().resource_name(SITES_BUCKET.logical),
        victim_key=f"deployments/{live['id']}/index.html",
        api=stack.api,
    )
    attack_repo.commit({"attack.sh": script, "index.html": "<h1>organization B</h1>"}, "attack")
    project = attacker.create_project(attack_repo.path, build_command="sh attack.sh", output_dir="dist")
    attack = attacker.wait_for_status(project["id"], attacker.trigger(project["id"])["id"], "deployed", "failed")
    log = attacker.logs(project["id"], attack["id"])
    gate.touch()

    # Then the build saw only its own processes, and no environment held the admin token for it
    assert attack["status"] == "deployed", attack["error_message"]
    assert int(_result(log, "processes visible")) < 10, log
    assert _result(log, "admin token found") == "none"
    assert stack.admin_token not in log
    # And it could neither read the other build's workspace nor list the workspaces
    assert _result(log, "victim workspace") == "refused"
    assert "A's deploy key" not in log
    assert _result(log, "workspaces listed") == "no"
    # And the local AWS endpoint refused it unsigned, with the old fixed key, and on moto's control API
    for attempt in ("aws unsigned scan", "aws old key scan", "aws old key deface", "aws unsigned deface"):
        assert _result(log, attempt) in ("401", "403"), f"{attempt}: {_result(log, attempt)}"
    assert _result(log, "moto reset") == "403"
    assert _result(log, "moto no-auth count") == "403"
    # And the admin API refused it
    assert _result(log, "admin api") == "401"
    # And organization A's site, its running build and the stack are as they were
    assert fetch(site["production_url"]).text == "<h1>organization A</h1>"
    assert fetch(live["deployment_url"]).text == "<h1>organization A</h1>"
    assert victim.wait_for_status(private["id"], running["id"], "deployed")["status"] == "deployed"
    assert requests.get(f"{stack.api}/healthz", timeout=5).status_code == 200
    # (the organization the attacker tried to create does not exist: creating it now succeeds)
    assert stack.admin("POST", "/orgs", json={"slug": "pwned", "plan": "pro"}).status_code == 201


@pytest.mark.parametrize("ending", ["deployed", "cancelled", "timed out"])
def test_a_build_leaves_no_background_process_behind(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], ending: str
) -> None:
    # Given a build that starts a process in a new session and another through a double fork
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "<h1>x</h1>"}, "v1")
    detached, orphan = f"setsid-{uuid.uuid4().hex}", f"double-fork-{uuid.uuid4().hex}"
    background = f"setsid {marked_sleep(detached)} & ( {marked_sleep(orphan)} & ); "
    command = background + (STATIC_BUILD if ending == "deployed" else "sleep 300")
    project = api.create_project(
        repo.path, build_command=command, output_dir="dist", build_timeout_seconds=3 if ending == "timed out" else 60
    )

    # When the build is deployed, cancelled once its processes run, or stopped at its time limit
    deployment = api.trigger(project["id"])
    if ending == "cancelled":
        wait_until(lambda: processes_with(detached) and processes_with(orphan), what="the background processes")
        assert api.post(f"/projects/{project['id']}/deployments/{deployment['id']}/cancel").status_code == 200
    final = api.wait_for_status(project["id"], deployment["id"], "deployed", "failed", "cancelled", timeout=60)

    # Then it ended as expected, and neither background process still runs
    expected = {"deployed": "deployed", "cancelled": "cancelled", "timed out": "failed"}[ending]
    assert final["status"] == expected, final["error_message"]
    if ending == "timed out":
        assert "time limit" in final["error_message"]
    for marker in (detached, orphan):
        wait_until(lambda m=marker: not processes_with(m), timeout=10, what=f"{marker} to be gone")


def _running_build(stack: RunningStack, git_repo: Callable[..., GitRepo]) -> tuple[list[str], Path]:
    """A build on `stack` that runs until stopped, with a detached and an orphaned process: their markers, and
    its workspace."""
    api = create_org(stack)
    repo = git_repo(f"repo-{uuid.uuid4().hex[:6]}")
    repo.commit({"index.html": "x"}, "v1")
    markers = [f"shell-{uuid.uuid4().hex}", f"setsid-{uuid.uuid4().hex}", f"double-fork-{uuid.uuid4().hex}"]
    command = f": {markers[0]}; setsid {marked_sleep(markers[1])} & ( {marked_sleep(markers[2])} & ); sleep 300"
    project = api.create_project(repo.path, build_command=command)
    deployment = api.trigger(project["id"])
    api.wait_for_status(project["id"], deployment["id"], "building")
    wait_until(lambda: all(processes_with(m) for m in markers), what="the build's processes")
    return markers, _workspace(stack, deployment["id"])


def test_neither_a_killed_nor_a_stopped_stack_leaves_a_build_process_or_workspace_behind(
    stack: RunningStack, tmp_path: Path, git_repo: Callable[..., GitRepo]
) -> None:
    # Given a stack with a build running, with processes in the background
    doomed = start_stack(tmp_path)
    markers, workspace = _running_build(doomed, git_repo)
    stale = _stack_directory(doomed)

    # When the stack is killed outright (kill -9: no chance to clean up)
    doomed.process.kill()
    doomed.process.wait(timeout=30)

    # Then every process of its build dies with it; only its workspace is left
    for marker in markers:
        wait_until(lambda m=marker: not processes_with(m), timeout=10, what=f"{marker} to be gone")
    assert workspace.exists()

    # When a stack starts again
    again = start_stack(tmp_path)
    try:
        # Then the dead stack's directory is gone, while that of the stack still running (the session's) stays
        assert not stale.exists()
        assert _stack_directory(stack).exists()

        # Given a build running on the new stack
        markers, workspace = _running_build(again, git_repo)
        directory = _stack_directory(again)

        # When that stack is stopped as `make run` is, with SIGTERM
        again.process.send_signal(signal.SIGTERM)
        assert again.process.wait(timeout=30) == 0

        # Then every process of the build is gone, and so are its workspace and the stack's directory
        for marker in markers:
            wait_until(lambda m=marker: not processes_with(m), timeout=10, what=f"{marker} to be gone")
        assert not workspace.exists()
        assert not directory.exists()
    finally:
        if again.process.poll() is None:
            again.process.kill()
            again.process.wait(timeout=30)
