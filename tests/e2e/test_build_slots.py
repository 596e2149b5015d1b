"""Per-organization build slots: excess deployments wait queued, in order, and start as slots free."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import Api
from tests.support.git import GitRepo
from tests.support.polling import wait_until


def _gated_per_deployment(gates: Path) -> str:
    """Each build marks itself running, waits for its own gate file, then builds and unmarks itself."""
    return (
        f"touch {gates}/running-$DEPLOYD_DEPLOYMENT_ID; "
        f"while [ ! -f {gates}/gate-$DEPLOYD_DEPLOYMENT_ID ]; do sleep 0.05; done; "
        f"mkdir -p dist && cp index.html dist/; rm {gates}/running-$DEPLOYD_DEPLOYMENT_ID"
    )


def test_pro_plan_runs_three_builds_at_once_and_starts_the_rest_in_order(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], shared_dir: Path
) -> None:
    # Given a pro organization (3 build slots) and five deployments triggered at once
    api = org_api(plan="pro")
    repo = git_repo()
    repo.commit({"index.html": "slots"}, "v1")
    gates = shared_dir  # builds write here too
    project = api.create_project(repo.path, build_command=_gated_per_deployment(gates), output_dir="dist")
    ids = [api.trigger(project["id"])["id"] for _ in range(5)]
    most_running = 0

    def statuses() -> dict[int, str]:
        # Builds mark themselves running on disk: one directory listing is an instant snapshot, where reading
        # five statuses one after another could see a build end and the next start as if they overlapped.
        nonlocal most_running
        most_running = max(most_running, len(list(gates.glob("running-*"))))
        return {d: api.deployment(project["id"], d)["status"] for d in ids}

    # Then the three oldest build and the other two wait queued
    wait_until(lambda: [statuses()[d] for d in ids[:3]] == ["building"] * 3, what="three builds running")
    assert [statuses()[d] for d in ids[3:]] == ["queued", "queued"]

    # When the newest queued one is cancelled, it frees nothing it did not hold
    assert api.post(f"/projects/{project['id']}/deployments/{ids[4]}/cancel").status_code == 200
    assert statuses()[ids[3]] == "queued"

    # When the first build finishes, the next in line starts
    (gates / f"gate-{ids[0]}").touch()
    wait_until(lambda: statuses()[ids[3]] == "building", what="the fourth build to start")

    # And once every gate opens, every remaining deployment is deployed, never more than three at once
    for deployment_id in ids:
        (gates / f"gate-{deployment_id}").touch()
    wait_until(
        lambda: [statuses()[d] for d in ids] == ["deployed"] * 4 + ["cancelled"], timeout=60, what="all deployed"
    )
    assert most_running <= 3


def test_one_organization_cannot_starve_another(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], shared_dir: Path
) -> None:
    # Given a free organization (1 slot) whose build holds its slot
    busy = org_api(plan="free")
    repo = git_repo("busy")
    repo.commit({"index.html": "busy"}, "v1")
    gates = shared_dir  # builds write here too
    busy_project = busy.create_project(repo.path, build_command=_gated_per_deployment(gates), output_dir="dist")
    first, second = (busy.trigger(busy_project["id"])["id"] for _ in range(2))
    busy.wait_for_status(busy_project["id"], first, "building")

    # When another organization deploys
    other = org_api(plan="free")
    other_repo = git_repo("other")
    other_repo.commit({"index.html": "other"}, "v1")
    other_project = other.create_project(other_repo.path, build_command="mkdir -p dist && cp index.html dist/")
    mine = other.trigger(other_project["id"])

    # Then it builds at once, while the busy organization's second deployment still waits its turn
    other.wait_for_status(other_project["id"], mine["id"], "deployed")
    assert busy.deployment(busy_project["id"], second)["status"] == "queued"
    for deployment_id in (first, second):
        (gates / f"gate-{deployment_id}").touch()
    busy.wait_for_status(busy_project["id"], second, "deployed", timeout=60)
