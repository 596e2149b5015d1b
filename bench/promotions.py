"""What a promotion costs on the embedded stack (`make run`'s stack, in this process), issue 16:

- Rollback -> production serves it: a project with two deployed builds is rolled back ROUNDS times over HTTP,
  alternating between the two; each round is the time from sending the request until a GET of the production URL
  is answered by the target (polled as soon as the answer arrives). The floor, measured in the same run and
  alternating with the rollbacks, is the bare switch: the rollback's switch transaction written directly (the
  target promoted, the environment and its route pointed at it) and one GET of production that sees it.
- Switch -> verified: each of those promotions' switched_at -> finished_at (the live check and the promotion's
  end, hand-off between the flow's steps included). The floor: one bare GET of production's health-check path,
  the least a live check can be.

Goal (issue 16): rollback request -> production serves the older build <= 1 s.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.pipeline import _tenant, _trigger, _wait_until_deployed, measure

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "9"))
GOAL_SECONDS = 1.0


def _served_by(session: Any, url: str) -> str | None:
    return session.get(url, timeout=10).headers.get("X-Deployd-Deployment-Id")


def _bare_switch(project: Any, target: Any) -> None:
    """The switch a rollback's promotion makes, written directly: the same transaction, nothing around it."""
    from pynamodb.transactions import TransactWrite

    from chalicelib.models.attributes import utc_now
    from chalicelib.models.conditional import transact
    from chalicelib.models.deployment import Deployment, promotion
    from chalicelib.models.environment import Environment, serving
    from chalicelib.services.deployments.activation import environment_route

    now = utc_now()
    route = environment_route(project, target)

    def switch(tx: TransactWrite) -> None:
        tx.update(Deployment(id=target.id), actions=promotion(target.environment, now))
        tx.update(
            Environment(project_id=project.id, name=target.environment),
            actions=[*serving(target.id, target.seq), Environment.updated_at.set(now)],
        )
        if route is not None:
            tx.save(route)

    transact(switch)


def rollbacks(api_url: str, repo: Path) -> list[str]:
    import requests

    from chalicelib.models.deployment import DeploymentRepository
    from chalicelib.models.project import ProjectRepository
    from chalicelib.models.promotion import PromotionRepository
    from chalicelib.services import projects

    tenant = _tenant("pro", repo, 2)
    session = requests.Session()
    measured, floored = tenant.project_ids
    # Two builds of each project: the measured one is rolled back through the API, the floor's switched directly.
    builds = {pid: [] for pid in tenant.project_ids}  # type: dict[int, list[int]]
    for pid in tenant.project_ids:
        for _ in range(2):
            deployment_id = _trigger(session, api_url, tenant, pid)
            _wait_until_deployed([deployment_id])
            builds[pid].append(deployment_id)
    time.sleep(0.5)  # the second builds' promotions finish their live checks
    production = projects.get(tenant.slug, measured).production_url
    floor_project = ProjectRepository.get(tenant.slug, floored)
    floor_production = projects.get(tenant.slug, floored).production_url
    floor_targets = [DeploymentRepository.get(i) for i in builds[floored]]
    health_url = floor_production + floor_project.health_check_path.lstrip("/")

    served: list[float] = []
    verified: list[float] = []
    switch_floors: list[float] = []
    get_floors: list[float] = []
    for round_number in range(ROUNDS):
        target = builds[measured][round_number % 2]
        began = time.perf_counter()
        answer = session.post(
            f"{api_url}/api/v1/public/projects/{measured}/deployments/{target}/rollback",
            headers=tenant.headers,
            json={},
            timeout=60,
        )
        if answer.status_code != 200:
            raise RuntimeError(f"rollback answered {answer.status_code}: {answer.text}")
        while _served_by(session, production) != str(target):
            if time.perf_counter() - began > 30:
                raise RuntimeError(f"production never served deployment {target}")
        served.append(time.perf_counter() - began)
        promotion_id = int(answer.json()["data"]["promotion"]["id"])
        promotion = PromotionRepository.get(measured, promotion_id)
        while not promotion.has_ended:
            time.sleep(0.01)
            promotion = PromotionRepository.get(measured, promotion_id)
        if promotion.switched_at is None or promotion.finished_at is None:
            raise RuntimeError(f"promotion {promotion_id} ended {promotion.status}: {promotion.error_message}")
        verified.append((promotion.finished_at - promotion.switched_at).total_seconds())

        floor_target = floor_targets[round_number % 2]
        began = time.perf_counter()
        _bare_switch(floor_project, floor_target)
        while _served_by(session, floor_production) != str(floor_target.id):
            pass
        switch_floors.append(time.perf_counter() - began)
        began = time.perf_counter()
        session.get(health_url, timeout=10)
        get_floors.append(time.perf_counter() - began)

    rollback, rollback_floor = statistics.median(served), statistics.median(switch_floors)
    live, live_floor = statistics.median(verified), statistics.median(get_floors)
    verdict = "met" if rollback <= GOAL_SECONDS else "NOT met"
    return [
        f"promotions, median of {ROUNDS}:",
        f"  rollback request -> production serves the older build: {rollback:.3f} s "
        f"(goal <= {GOAL_SECONDS:.1f} s: {verdict}); floor (the bare switch transaction + a GET that sees it) "
        f"{rollback_floor:.3f} s: {rollback / rollback_floor:.2f}x",
        f"  switch -> verified (the live check and the promotion's end): {live:.3f} s; floor (one bare GET of "
        f"the health-check path) {live_floor:.4f} s: {live / live_floor:.1f}x",
    ]


def main() -> None:
    """`python -m bench.promotions`."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    with contextlib.redirect_stdout(sys.stderr):
        figures = measure([rollbacks])
    print("\n".join(figures))


if __name__ == "__main__":
    main()
