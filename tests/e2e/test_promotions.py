"""Promotions on the embedded stack (issue 16): every change of what production serves is verified before and after
it switches; a build with nothing at the health-check path never takes over; rollbacks and deploys that arrive
together run one at a time, each from what the previous one left."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from chalicelib.infra.resources import PROMOTIONS
from chalicelib.models.promotion import Promotion
from chalicelib.settings import get_settings
from tests.e2e.conftest import Api, RunningStack, fetch, gated_build
from tests.support.git import GitRepo
from tests.support.polling import wait_until

SITE_BUILD = "mkdir -p dist && cp -r site/. dist/"


def _promotions(stack: RunningStack, project_id: int) -> list[Promotion]:
    """The project's promotions as stored, oldest first (read from the stack's own tables)."""
    found = stack.aws_client("dynamodb").query(
        TableName=get_settings().resource_name(PROMOTIONS.logical),
        KeyConditionExpression="project_id = :p",
        ExpressionAttributeValues={":p": {"N": str(project_id)}},
        ConsistentRead=True,
    )
    return [Promotion.from_raw_data(item) for item in found["Items"]]


def _ended(stack: RunningStack, project_id: int, count: int) -> list[Promotion]:
    def all_ended() -> list[Promotion] | None:
        promotions = _promotions(stack, project_id)
        return promotions if len(promotions) >= count and all(p.has_ended for p in promotions) else None

    return list(wait_until(all_ended, timeout=60, interval=0.05, what=f"{count} promotions to end"))


class ProductionPoller(threading.Thread):
    """GETs the production URL every 50 ms until stopped; keeps (status, serving deployment id) of every answer."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.seen = url, []  # type: list[tuple[int | str, str | None]]
        self._stop_polling = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        while not self._stop_polling.wait(0.05):
            try:
                answer = session.get(self.url, timeout=5)
                self.seen.append((answer.status_code, answer.headers.get("X-Deployd-Deployment-Id")))
            except requests.RequestException as exc:
                self.seen.append((type(exc).__name__, None))

    def stop(self) -> list[tuple[int | str, str | None]]:
        self._stop_polling.set()
        self.join(timeout=10)
        return self.seen


def test_a_build_with_nothing_at_the_health_check_path_is_refused_while_production_serves_on(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], shared_dir: Path
) -> None:
    # Given production serving a first build, and a second commit that drops the homepage
    api = org_api()
    repo = git_repo()
    repo.commit({"site/index.html": "version one"}, "v1")
    gate = shared_dir / "gate"
    project = api.create_project(repo.path, build_command=gated_build(gate, SITE_BUILD), output_dir="dist")
    pid = project["id"]
    gate.touch()
    first = api.wait_for_status(pid, api.trigger(pid)["id"], "deployed")
    gate.unlink()
    (repo.path / "site" / "index.html").unlink()
    repo.commit({"site/about.html": "about us"}, "v2 without a homepage")

    # When the second is deployed, production polled every 50 ms from before its build ends until its promotion ends
    second = api.trigger(pid)
    poller = ProductionPoller(project["production_url"])
    poller.start()
    gate.touch()
    refused = api.wait_for_status(pid, second["id"], "deployed", "failed")
    promotions = _ended(stack, pid, 2)
    seen = poller.stop()

    # Then production answered every poll with the first build: never a failure, never the second
    assert len(seen) >= 5, seen
    assert set(seen) == {(200, str(first["id"]))}, [s for s in seen if s != (200, str(first["id"]))]
    # And the second is deployed at its own URL only, saying why it is not served
    assert (refused["status"], refused["is_active"]) == ("deployed", False)
    assert refused["error_message"] == (
        f"not promoted: GET / on its deployment URL answered 404 (3 attempts); production still serves deployment "
        f"{first['id']}"
    )
    assert fetch(refused["deployment_url"] + "about.html").text == "about us"
    # And its promotion was rejected after the candidate's check, with nothing switched
    promotion = promotions[-1]
    assert (promotion.reason, promotion.status, promotion.from_deployment_id, promotion.to_deployment_id) == (
        "deploy",
        "rejected",
        first["id"],
        second["id"],
    )
    assert promotion.switched_at is None
    assert [(c.target, c.status_code, c.attempts, c.ok) for c in promotion.checks] == [("candidate", 404, 3, False)]
    # And the GitHub dialect shows the refusal as the deployment's latest status
    statuses = api.github("GET", f"/repos/{api.org}/{project['slug']}/deployments/{second['id']}/statuses").json()
    assert statuses[0]["state"] == "failure" and statuses[0]["description"].startswith("not promoted: GET /")


def test_a_good_deployment_is_verified_before_and_after_its_switch_and_a_rollback_is_a_promotion_too(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given two deployed builds of a project
    api = org_api()
    repo = git_repo()
    repo.commit({"site/index.html": "version one"}, "v1")
    project = api.create_project(repo.path, build_command=SITE_BUILD, output_dir="dist")
    pid = project["id"]
    first = api.wait_for_status(pid, api.trigger(pid)["id"], "deployed")
    repo.commit({"site/index.html": "version two"}, "v2")
    second = api.wait_for_status(pid, api.trigger(pid)["id"], "deployed")
    deploys = _ended(stack, pid, 2)

    # Then each deploy's promotion checked its candidate URL, switched, checked the live URL, and succeeded
    assert [(p.reason, p.status, p.from_deployment_id, p.to_deployment_id) for p in deploys] == [
        ("deploy", "succeeded", None, first["id"]),
        ("deploy", "succeeded", first["id"], second["id"]),
    ]
    checks = [(c.target, c.status_code, c.served_by, c.ok) for c in deploys[1].checks]
    assert checks == [("candidate", 200, second["id"], True), ("live", 200, second["id"], True)]
    assert deploys[1].checks[1].url == project["production_url"]
    assert deploys[1].switched_at is not None and deploys[1].finished_at >= deploys[1].switched_at

    # When production is rolled back to the first
    began = time.monotonic()
    response = api.post(f"/projects/{pid}/deployments/{first['id']}/rollback")
    answered = time.monotonic() - began

    # Then the answer names its promotion, and production serves the first build as soon as it answered
    assert response.status_code == 200, response.text
    body = response.json()["data"]
    assert (body["id"], body["is_active"]) == (first["id"], True)
    assert body["promotion"]["status"] in ("switching", "succeeded")
    served = fetch(project["production_url"])
    assert (served.text, served.headers["X-Deployd-Deployment-Id"]) == ("version one", str(first["id"]))
    assert answered < 5, answered
    # And it is recorded as a promotion with reason rollback, verified like any other
    rollback = _ended(stack, pid, 3)[-1]
    assert rollback.id == body["promotion"]["id"]
    assert (rollback.reason, rollback.status, rollback.triggered_by) == ("rollback", "succeeded", "api")
    assert (rollback.from_deployment_id, rollback.to_deployment_id) == (second["id"], first["id"])
    assert [(c.target, c.ok) for c in rollback.checks] == [("candidate", True), ("live", True)]


def test_concurrent_rollbacks_and_deploys_run_one_at_a_time_each_from_what_the_last_one_left(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given three deployed builds, the newest serving production
    api = org_api(plan="enterprise")
    repo = git_repo()
    repo.commit({"site/index.html": "v0"}, "v0")
    project = api.create_project(repo.path, build_command=SITE_BUILD, output_dir="dist")
    pid = project["id"]
    built = [api.wait_for_status(pid, api.trigger(pid)["id"], "deployed")["id"] for _ in range(3)]
    before = _ended(stack, pid, 3)

    # When five rollbacks (to the two older builds) and five deploys are asked for at the same instant
    start = threading.Barrier(10)

    def rollback(target: int) -> requests.Response:
        start.wait()
        return api.post(f"/projects/{pid}/deployments/{target}/rollback")

    def deploy(_: int) -> requests.Response:
        start.wait()
        return api.post(f"/projects/{pid}/deployments", json={})

    with ThreadPoolExecutor(max_workers=10) as pool:
        rollbacks = [pool.submit(rollback, built[n % 2]) for n in range(5)]
        deploys = [pool.submit(deploy, n) for n in range(5)]
        rolled = [f.result() for f in rollbacks]
        triggered = [f.result() for f in deploys]

    # Then each deploy was accepted, and each rollback ran or was refused because a deployment was in progress
    assert [r.status_code for r in triggered] == [201] * 5, [r.text for r in triggered]
    assert {r.status_code for r in rolled} <= {200, 409}, [r.text for r in rolled]
    refusals = [r.json()["error"]["message"] for r in rolled if r.status_code == 409]
    assert all("in progress" in m or "already the active deployment" in m for m in refusals), refusals
    new_ids = [r.json()["data"]["id"] for r in triggered]
    for deployment_id in new_ids:
        api.wait_for_status(pid, deployment_id, "deployed", "failed", timeout=120)
    accepted = sum(1 for r in rolled if r.status_code == 200)
    assert accepted >= 1, [r.text for r in rolled]
    promotions = _ended(stack, pid, len(before) + accepted + 1)

    # And the promotions that switched, in the order they switched, each switched from what the previous one left
    switched = sorted((p for p in promotions if p.switched_at is not None), key=lambda p: p.switched_at)
    assert [p.reason for p in promotions].count("rollback") == accepted
    for previous, following in zip(switched, switched[1:], strict=False):
        assert following.from_deployment_id == previous.to_deployment_id, (previous.id, following.id)
    assert all(p.status == "succeeded" for p in switched)
    # And exactly one deployment is active: the last switched to, the one production serves
    listing = api.get(f"/projects/{pid}/deployments", params={"per_page": 100}).json()["data"]
    active = [d["id"] for d in listing if d["is_active"]]
    assert active == [switched[-1].to_deployment_id]
    assert fetch(project["production_url"]).headers["X-Deployd-Deployment-Id"] == str(active[0])
    # And the newest deploy (the listing's first: newest by the project's numbering) is what production serves: no
    # deploy was lost behind a rollback
    assert listing[0]["id"] in new_ids and active[0] == listing[0]["id"]
