"""A branch preview never has two builds running at once: a redeploy waits until the superseded build's
processes have stopped before its own build starts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import Api, fetch
from tests.support.git import GitRepo
from tests.support.polling import wait_until


def test_a_redeploy_starts_building_only_after_the_superseded_build_stopped(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], shared_dir: Path
) -> None:
    # Given a preview whose builds note how many other builds of it are running when they start
    api = org_api(plan="pro")
    repo = git_repo()
    repo.commit({"index.html": "v1"}, "v1")
    repo.git("checkout", "-q", "-b", "feature")
    marks = shared_dir  # builds write here too
    build = (
        # A build stopping takes a moment (here: a second to clean up after SIGTERM)
        f'trap "sleep 1; rm -f {marks}/running-$DEPLOYD_DEPLOYMENT_ID; exit 1" TERM; '
        # (written aside and renamed, so the test never reads the file before the count is in it)
        f"ls {marks} | grep -c running- > {marks}/count-$DEPLOYD_DEPLOYMENT_ID; "
        f"mv {marks}/count-$DEPLOYD_DEPLOYMENT_ID {marks}/others-$DEPLOYD_DEPLOYMENT_ID; "
        f"touch {marks}/running-$DEPLOYD_DEPLOYMENT_ID; "
        f"while [ ! -f {marks}/gate-$DEPLOYD_DEPLOYMENT_ID ]; do sleep 0.05; done; "
        f"mkdir -p dist && cp index.html dist/; rm -f {marks}/running-$DEPLOYD_DEPLOYMENT_ID"
    )
    project = api.create_project(repo.path, build_command=build, output_dir="dist")
    first = api.post(f"/projects/{project['id']}/previews", json={"branch": "feature"}).json()["data"]
    first_id = first["deployment"]["id"]
    wait_until(lambda: (marks / f"running-{first_id}").exists(), what="the first build to run")

    # When the branch is redeployed while that build is still running
    second = api.post(f"/projects/{project['id']}/previews", json={"branch": "feature"}).json()["data"]
    second_id = second["deployment"]["id"]

    # Then the first is cancelled, and the second started building only once the first had stopped
    wait_until(lambda: (marks / f"others-{second_id}").exists(), timeout=60, what="the second build to start")
    assert (marks / f"others-{second_id}").read_text().strip() == "0"
    assert api.deployment(project["id"], first_id)["status"] == "cancelled"
    (marks / f"gate-{second_id}").touch()
    api.wait_for_status(project["id"], second_id, "deployed")
    assert second["preview_url"] == first["preview_url"]
    assert fetch(second["preview_url"]).text == "v1"
