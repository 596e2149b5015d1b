"""The promotions API on the embedded stack: what real deployments and a real rollback recorded is what the list and
a promotion answer, health checks included."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import Api
from tests.support.git import GitRepo
from tests.support.polling import wait_until


def test_a_rollback_is_listed_as_the_promotion_its_answer_names_after_the_deploys_it_follows(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given a project checked at /health.txt, and two deployed versions whose builds both publish it
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "version one", "health.txt": "ok"}, "v1")
    project = api.create_project(
        repo.path,
        build_command="mkdir -p dist && cp index.html health.txt dist/",
        output_dir="dist",
        health_check_path="/health.txt",
    )
    pid = project["id"]
    first = api.trigger(pid)["id"]
    api.wait_for_status(pid, first, "deployed")
    repo.commit({"index.html": "version two"}, "v2")
    second = api.trigger(pid)["id"]
    api.wait_for_status(pid, second, "deployed")

    # When production is rolled back to the first
    rollback = api.post(f"/projects/{pid}/deployments/{first}/rollback")
    assert rollback.status_code == 200, rollback.text
    named = rollback.json()["data"]["promotion"]

    # Then the promotion its answer names ends succeeded: a rollback from the second to the first, both checks of
    # /health.txt answered by the first (its own URL, then production's)
    def ended() -> dict[str, Any] | None:
        promotion = api.get(f"/projects/{pid}/promotions/{named['id']}").json()["data"]
        return promotion if promotion["finished_at"] is not None else None

    promotion = wait_until(ended, timeout=30, what=f"promotion {named['id']} to end")
    assert (promotion["reason"], promotion["status"], promotion["environment"]) == (
        "rollback",
        "succeeded",
        "production",
    )
    assert (promotion["from_deployment_id"], promotion["to_deployment_id"]) == (second, first)
    assert [c["target"] for c in promotion["checks"]] == ["candidate", "live"]
    for check in promotion["checks"]:
        assert check["url"].endswith("/health.txt"), check
        assert (check["ok"], check["status_code"], check["served_by_deployment_id"]) == (True, 200, first), check

    # And production's promotions list it first, then the deploys it follows, the first from nothing
    listing = api.get(f"/projects/{pid}/promotions", params={"environment": "production"}).json()
    assert listing["data"][0] == promotion
    assert [(p["reason"], p["from_deployment_id"], p["to_deployment_id"]) for p in listing["data"]] == [
        ("rollback", second, first),
        ("deploy", first, second),
        ("deploy", None, first),
    ]
    assert listing["meta"] == {"page": 1, "per_page": 20, "total": 3, "total_pages": 1}
