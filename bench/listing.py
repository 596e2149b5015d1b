"""Listing a page costs reads in proportion to the page, not to the project's history.

Runs an in-process embedded stack, seeds one project with SMALL deployments and one with LARGE, and
times `GET .../deployments?page=1&per_page=20` style listings through the service for both. The baseline,
measured in the same run, is the obvious alternative: query the project's whole history and slice.
Prints per-call times and the ratios; the paged listing should stay flat as history grows.
"""

from __future__ import annotations

import statistics
import time
import uuid

from chalicelib.local.stack import EmbeddedStack, StackConfig, free_port

SMALL, LARGE, PER_PAGE, ROUNDS = 20, 2000, 20, 30


def seed(org_slug: str, count: int) -> int:
    from chalicelib.models.deployment import Deployment
    from chalicelib.models.project import Project
    from chalicelib.models.registry import next_id
    from chalicelib.services import projects
    from chalicelib.services.inputs import ProjectCreate

    project = projects.create(org_slug, ProjectCreate(name=f"bench {count}", repo_url="/tmp/bench")).project
    with Deployment.batch_write() as batch:
        for seq in range(1, count + 1):
            batch.save(
                Deployment(
                    id=next_id("deployment"),
                    project_id=project.id,
                    seq=seq,
                    org_slug=org_slug,
                    environment="production",
                    branch="main",
                    commit_sha="0" * 40,
                    status="deployed",
                )
            )
    project.update(actions=[Project.deployment_seq.set(count), Project.deployment_count.set(count)])
    return int(project.id)


def timed(fn: object, rounds: int = ROUNDS) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    stack = EmbeddedStack(StackConfig(api_port=free_port(), sites_port=free_port(), build_workers=0))
    stack.start()
    try:
        from chalicelib.models.deployment import Deployment
        from chalicelib.services import deployments, organizations

        org = organizations.create(f"bench-{uuid.uuid4().hex[:6]}", None, "pro").slug
        small, large = seed(org, SMALL), seed(org, LARGE)

        def paged(project_id: int) -> object:
            return lambda: deployments.list_page(org, project_id, 1, PER_PAGE)

        def whole_history(project_id: int) -> object:
            def run() -> list[Deployment]:
                items = list(Deployment.by_project.query(project_id, scan_index_forward=False))
                return items[:PER_PAGE]

            return run

        paged_small, paged_large = timed(paged(small)), timed(paged(large))
        naive_small, naive_large = timed(whole_history(small), 5), timed(whole_history(large), 5)
        for size, paged_time, naive_time in ((SMALL, paged_small, naive_small), (LARGE, paged_large, naive_large)):
            print(
                f"page of {PER_PAGE}, history {size:>5}: paged {paged_time * 1000:7.2f} ms"
                f"   whole-history {naive_time * 1000:8.2f} ms"
            )
        print(f"paged listing, large/small history:        {paged_large / paged_small:6.2f}x  (flat is the goal)")
        print(f"whole-history baseline, large/small:       {naive_large / naive_small:6.2f}x")
        print(f"baseline / paged at {LARGE} deployments:     {naive_large / paged_large:6.2f}x")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
