"""`make run` keeps its data (docs/durability.md): a stack started with a data directory, stopped cleanly or killed,
starts again with every organization, key, project, deployment, build log and site it had; what was in flight
ends failed as interrupted; a snapshot it cannot read stops start-up with a message saying what to do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chalicelib.local.stack import free_port
from tests.e2e.conftest import ROOT, Api, RunningStack, create_org, fetch, gated_build, start_stack, stop_stack
from tests.support.git import GitRepo

# A change is on disk within this long of being made, however the stack ends (the promise).
CRASH_WINDOW_SECONDS = 5.0
INTERRUPTED = "interrupted: deployd restarted"


def start_kept(tmp_path: Path, data_dir: Path, ports: dict[str, str]) -> RunningStack:
    """`make run` on `data_dir`, on the same ports at every start (site URLs name the sites port)."""
    return start_stack(tmp_path, DEPLOYD_DATA_DIR=str(data_dir), DEPLOYD_SCHEDULE_INTERVAL_SECONDS="0", **ports)


def sigkill(stack: RunningStack) -> None:
    stack.process.send_signal(signal.SIGKILL)
    stack.process.wait()


def reconnect(stack: RunningStack, api: Api) -> Api:
    return Api(stack, api.org, api.token)


def production_url(api: Api, project_id: int) -> str:
    return str(api.get(f"/projects/{project_id}").json()["data"]["production_url"])


def site_says(url: str, text: str) -> bool:
    response = fetch(url)
    return response.status_code == 200 and text in response.text


def test_a_restarted_stack_finds_everything_and_ends_what_was_in_flight(tmp_path: Path, shared_dir: Path) -> None:
    # Given a stack keeping its data in a directory, an organization (free plan: one build slot) with a key and a
    # project, one deployment deployed and one stopped mid-build
    data_dir = tmp_path / "data"
    gate = shared_dir / "gate"
    repo = GitRepo.create(tmp_path / "repo", {"index.html": "<h1>first</h1>\n"})
    ports = {name: str(free_port()) for name in ("PORT", "DEPLOYD_SITES_PORT", "DEPLOYD_MOTO_PORT")}
    stack = start_kept(tmp_path, data_dir, ports)
    try:
        api = create_org(stack, plan="free")
        project = api.create_project(repo.url, build_command=gated_build(gate), output_dir="dist")
        gate.touch()
        first = api.trigger(project["id"])
        api.wait_for_status(project["id"], first["id"], "deployed")
        gate.unlink()
        repo.commit({"index.html": "<h1>second</h1>\n"})
        second = api.trigger(project["id"])
        api.wait_for_status(project["id"], second["id"], "building")
        site = production_url(api, project["id"])
        assert site_says(site, "first")

        # When it is stopped as Ctrl-C stops `make run` (SIGTERM), and started again on the same directory
        stop_stack(stack)
        assert stack.process.returncode == 0
        stack = start_kept(tmp_path, data_dir, ports)
        api = reconnect(stack, api)

        # Then the key authenticates and finds its project and both deployments: the first deployed with its log,
        # the second failed as interrupted; production still serves the first build
        assert api.get(f"/projects/{project['id']}").status_code == 200
        assert api.deployment(project["id"], first["id"])["status"] == "deployed"
        assert "build-started" in api.logs(project["id"], first["id"])
        interrupted = api.deployment(project["id"], second["id"])
        assert (interrupted["status"], interrupted["error_message"]) == ("failed", INTERRUPTED)
        assert site_says(site, "first")

        # And the interrupted build gave its slot back, and ids continue: a new deployment gets the next id and
        # builds at once on the free plan's only slot
        gate.touch()
        third = api.trigger(project["id"])
        assert third["id"] > second["id"]
        api.wait_for_status(project["id"], third["id"], "deployed")
        assert site_says(site, "second")

        # When a key is made and a deployment starts building after that restart, and the stack is killed
        # (SIGKILL) once the crash window has passed
        newer = stack.admin("POST", f"/orgs/{api.org}/keys", json={"name": "after the restart"})
        assert newer.status_code == 201
        gate.unlink()
        fourth = api.trigger(project["id"])
        api.wait_for_status(project["id"], fourth["id"], "building")
        time.sleep(CRASH_WINDOW_SECONDS)  # the promise under test: what is this old survives a kill
        sigkill(stack)
        stack = start_kept(tmp_path, data_dir, ports)

        # Then all of it is found again: both keys work, the third deployment is deployed and served, the fourth
        # ended as interrupted
        api = reconnect(stack, api)
        assert Api(stack, api.org, newer.json()["data"]["token"]).get("/projects").status_code == 200
        assert api.deployment(project["id"], third["id"])["status"] == "deployed"
        ended = api.deployment(project["id"], fourth["id"])
        assert (ended["status"], ended["error_message"]) == ("failed", INTERRUPTED)
        assert site_says(site, "second")
        listing = api.get(f"/projects/{project['id']}/deployments").json()
        assert [d["id"] for d in listing["data"]] == [fourth["id"], third["id"], second["id"], first["id"]]
    finally:
        gate.touch()  # a build the kill orphaned finishes instead of waiting forever
        if stack.process.poll() is None:
            stop_stack(stack)


def start_refused(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DEPLOYD_DATA_DIR": str(data_dir),
        "DEPLOYD_ADMIN_TOKEN": "unused",
        "PORT": str(free_port()),
        "DEPLOYD_SITES_PORT": str(free_port()),
    }
    return subprocess.run(
        [sys.executable, "-m", "chalicelib.local"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    "snapshot",
    [
        pytest.param(b'{"format": "deployd-snapshot", "version": 1, "tabl', id="corrupt"),
        pytest.param(b'{"format": "deployd-snapshot", "version": 999, "tables": {}, "buckets": {}}', id="incompatible"),
    ],
)
def test_a_snapshot_that_cannot_be_read_stops_start_up_with_what_to_do(tmp_path: Path, snapshot: bytes) -> None:
    # Given a data directory whose snapshot is cut short, or written by another version
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "snapshot.json").write_bytes(snapshot)

    # When `make run` starts on it
    result = start_refused(data_dir)

    # Then it does not start, says which file and the two ways out, and leaves the snapshot as it was
    assert result.returncode != 0
    assert str(data_dir / "snapshot.json") in result.stderr
    assert f"move the data directory {data_dir} away" in result.stderr
    assert "DEPLOYD_DATA_DIR=memory" in result.stderr
    assert "Traceback" not in result.stderr
    assert (data_dir / "snapshot.json").read_bytes() == snapshot
