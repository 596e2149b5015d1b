"""GitLab deployment listing: every filter, order_by and sort, and pagination past one page (headers and Link)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gitlab
import pytest
import requests

from tests.e2e.conftest import Api, RunningStack
from tests.support.git import GitRepo

# (environment, ref, tag, status) of the deployments the listing tests create, in order
HISTORY = [
    ("production", "main", False, "success"),
    ("staging", "main", False, "running"),
    ("production", "v1", True, "failed"),
    ("staging", "feature", False, "canceled"),
    ("production", "main", False, "created"),
    ("review", "main", False, "success"),
    ("production", "feature", False, "running"),
]


class Ledger:
    def __init__(self, stack: RunningStack, api: Api, project: Any, ids: list[int], slug: str) -> None:
        self.stack = stack
        self.api = api
        self.project = project
        self.ids = ids
        self.slug = slug

    def listed(self, **filters: Any) -> list[int]:
        return [d.id for d in self.project.deployments.list(get_all=True, **filters)]

    def at(self, *positions: int) -> list[int]:
        return [self.ids[p - 1] for p in positions]

    def raw(self, **params: Any) -> requests.Response:
        return requests.get(
            f"{self.stack.api}/api/v4/projects/{self.project.id}/deployments",
            params=params,
            headers={"PRIVATE-TOKEN": self.api.token},
            timeout=30,
        )


@pytest.fixture
def ledger(stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]) -> Ledger:
    """A ledger project with HISTORY recorded through python-gitlab, then deployment 2 moved to success."""
    api = org_api()
    repo = git_repo()
    repo.commit({"index.html": "v1"}, "v1")
    repo.git("tag", "v1")
    repo.git("checkout", "-q", "-b", "feature")
    repo.commit({"index.html": "feature"}, "feature")
    repo.git("checkout", "-q", "main")
    created = api.create_project(repo.path)
    project = gitlab.Gitlab(stack.api, private_token=api.token).projects.get(created["id"])
    ids = []
    for environment, ref, tag, status in HISTORY:
        sha = repo.git("rev-parse", ref)
        spec = {"environment": environment, "sha": sha, "ref": ref, "tag": tag, "status": status}
        ids.append(project.deployments.create(spec).id)
    second = project.deployments.get(ids[1])
    second.status = "success"
    second.save()
    return Ledger(stack, api, project, ids, created["slug"])


def test_order_by_and_sort(ledger: Ledger) -> None:
    # Default: by id, ascending (the reference's default)
    assert ledger.listed() == ledger.ids
    assert ledger.listed(sort="desc") == ledger.ids[::-1]
    assert ledger.listed(order_by="iid", sort="desc") == ledger.ids[::-1]
    assert [d.iid for d in ledger.project.deployments.list(get_all=True, order_by="iid")] == list(range(1, 8))
    assert ledger.listed(order_by="created_at") == ledger.ids
    assert ledger.listed(order_by="created_at", sort="desc") == ledger.ids[::-1]
    # Deployment 2 was updated last
    assert ledger.listed(order_by="updated_at") == ledger.at(1, 3, 4, 5, 6, 7, 2)
    assert ledger.listed(order_by="updated_at", sort="desc") == ledger.at(2, 7, 6, 5, 4, 3, 1)
    # By ref, then id
    assert ledger.listed(order_by="ref") == ledger.at(4, 7, 1, 2, 5, 6, 3)
    assert ledger.listed(order_by="ref", sort="desc") == ledger.at(3, 6, 5, 2, 1, 7, 4)


def test_filters(ledger: Ledger) -> None:
    assert ledger.listed(environment="staging") == ledger.at(2, 4)
    assert ledger.listed(environment="nowhere") == []
    assert ledger.listed(status="success") == ledger.at(1, 2, 6)
    assert ledger.listed(status="created") == ledger.at(5)
    assert ledger.listed(status="running") == ledger.at(7)
    assert ledger.listed(status="failed") == ledger.at(3)
    assert ledger.listed(status="canceled") == ledger.at(4)
    assert ledger.listed(status="blocked") == []
    assert ledger.listed(environment="production", status="running", sort="desc") == ledger.at(7)
    tagged = ledger.project.deployments.get(ledger.ids[2])
    assert tagged.ref == "v1" and tagged.status == "failed"

    # updated_after and updated_before are inclusive bounds on updated_at
    fourth = ledger.project.deployments.get(ledger.ids[3])
    assert ledger.listed(updated_after=fourth.updated_at) == ledger.at(2, 4, 5, 6, 7)
    assert ledger.listed(updated_before=fourth.updated_at) == ledger.at(1, 3, 4)
    assert ledger.listed(updated_after=fourth.updated_at, updated_before=fourth.updated_at) == ledger.at(4)
    assert ledger.listed(updated_after="2000-01-01", environment="review") == ledger.at(6)
    assert ledger.listed(updated_before="2000-01-01T00:00:00Z") == []


def test_pages_with_gitlab_headers_and_links(ledger: Ledger) -> None:
    # python-gitlab: one page, then every page through the Link header
    first = ledger.project.deployments.list(get_all=False, per_page=3)
    assert [d.id for d in first] == ledger.at(1, 2, 3)
    pages = ledger.project.deployments.list(iterator=True, per_page=3)
    assert pages.total == 7 and pages.total_pages == 3 and pages.per_page == 3 and pages.next_page == 2
    assert [d.id for d in pages] == ledger.ids
    desc = ledger.project.deployments.list(iterator=True, per_page=2, sort="desc")
    assert [d.id for d in desc] == ledger.ids[::-1]

    # The headers themselves, on a middle page
    middle = ledger.raw(per_page=3, page=2, sort="asc")
    assert middle.status_code == 200
    assert [d["id"] for d in middle.json()] == ledger.at(4, 5, 6)
    headers = middle.headers
    assert (headers["X-Total"], headers["X-Total-Pages"], headers["X-Page"], headers["X-Per-Page"]) == (
        "7",
        "3",
        "2",
        "3",
    )
    assert (headers["X-Next-Page"], headers["X-Prev-Page"]) == ("3", "1")
    assert set(middle.links) == {"next", "prev", "first", "last"}
    assert "sort=asc" in middle.links["next"]["url"] and "page=3" in middle.links["next"]["url"]

    # Following next reaches the last page, which has no next
    last = requests.get(middle.links["next"]["url"], headers={"PRIVATE-TOKEN": ledger.api.token}, timeout=30)
    assert [d["id"] for d in last.json()] == ledger.at(7)
    assert last.headers["X-Next-Page"] == "" and "next" not in last.links and last.links["prev"]

    # Past the end: an empty page; per_page over 100 is clamped to 100
    assert ledger.raw(page=9).json() == []
    clamped = ledger.raw(per_page=500)
    assert clamped.headers["X-Per-Page"] == "100" and len(clamped.json()) == 7

    # Filtered listings page the same way
    production = ledger.project.deployments.list(iterator=True, per_page=2, environment="production")
    assert production.total == 4 and [d.id for d in production] == ledger.at(1, 3, 5, 7)


def test_listing_after_a_delete_and_by_path(ledger: Ledger) -> None:
    # Given a deployment deleted from the middle of the history (a gap in the iids)
    gl = ledger.project.manager.gitlab
    gl.http_delete(f"/projects/{ledger.project.id}/deployments/{ledger.ids[3]}")

    # Then every page still reaches every remaining deployment, and the total counts them
    pages = ledger.project.deployments.list(iterator=True, per_page=3)
    assert pages.total == 6 and [d.id for d in pages] == ledger.at(1, 2, 3, 5, 6, 7)

    # And the project's URL-encoded path works for nested routes as well as its id
    by_path = gl.projects.get(f"{ledger.api.org}/{ledger.slug}", lazy=True)
    assert [d.id for d in by_path.deployments.list(get_all=True, sort="desc")] == ledger.at(7, 6, 5, 3, 2, 1)
    assert by_path.deployments.get(ledger.ids[0]).iid == 1
