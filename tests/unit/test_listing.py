"""The listing core (services/listing.py): a range of numbers when the history has no holes, a walk otherwise,
with the filter and sort hooks the dialects translate their parameters into. Rows live in moto's DynamoDB."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from pynamodb.connection.table import TableConnection

from chalicelib.models.deployment import Deployment
from chalicelib.models.project import Project
from chalicelib.services import listing
from chalicelib.services.listing import Order

_ids = itertools.count(500)


@pytest.fixture
def history(tables: None) -> Callable[..., Project]:
    """A project whose deployments are numbered 1..n; `holes` leaves those numbers unused, as a deleted
    deployment or a trigger that failed after reserving its number does."""

    def make(n: int, holes: tuple[int, ...] = (), branches: str = "main") -> Project:
        project = Project(
            id=next(_ids),
            org_slug="acme",
            slug="site",
            name="site",
            repo_url="https://example.com/site.git",
            default_branch="main",
            output_dir=".",
            build_timeout_seconds=600,
            deployment_seq=n,
            deployment_count=n - len(holes),
        )
        project.save()
        for seq in range(1, n + 1):
            if seq not in holes:
                Deployment(
                    id=next(_ids),
                    project_id=project.id,
                    seq=seq,
                    org_slug="acme",
                    environment="production" if seq % 2 else "staging",
                    branch=branches[seq % len(branches)],
                    commit_sha=f"{seq:040d}",
                    status="deployed",
                ).save()
        return project

    return make


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many items DynamoDB read for each Query of the deployments table."""
    reads: list[int] = []
    original = TableConnection.query

    def counting(self: TableConnection, *args: Any, **kwargs: Any) -> dict:
        response = original(self, *args, **kwargs)
        if self.table_name == Deployment.Meta.table_name:
            reads.append(response.get("ScannedCount", 0))
        return response

    monkeypatch.setattr(TableConnection, "query", counting)
    return reads


def _seqs(page: listing.Page[Deployment]) -> list[int]:
    return [int(d.seq) for d in page.items]


def test_a_history_without_holes_is_read_a_range_of_numbers_at_a_time(
    history: Callable[..., Project], scanned: list[int]
) -> None:
    # Given 25 deployments numbered without holes
    project = history(25)
    scanned.clear()

    # When the newest-first listing is paged ten at a time
    pages = [listing.deployments(project, number, 10) for number in (1, 2, 3, 4)]

    # Then the pages hold 25..16, 15..6, 5..1, then nothing, and each knows the whole
    assert [_seqs(p) for p in pages] == [list(range(25, 15, -1)), list(range(15, 5, -1)), [5, 4, 3, 2, 1], []]
    assert {(p.total, p.total_pages) for p in pages} == {(25, 3)}
    # And DynamoDB read only what each page shows (nothing at all past the end)
    assert scanned == [10, 10, 5]


def test_oldest_first_ranges_count_from_the_first_number(history: Callable[..., Project], scanned: list[int]) -> None:
    # Given 7 deployments numbered without holes
    project = history(7)
    scanned.clear()
    oldest_first = Order(descending=False)

    # When they are listed oldest first, three to a page
    pages = [listing.deployments(project, number, 3, order=oldest_first) for number in (1, 2, 3, 4)]

    # Then the pages are 1..3, 4..6, 7, nothing, read as ranges
    assert [_seqs(p) for p in pages] == [[1, 2, 3], [4, 5, 6], [7], []]
    assert scanned == [3, 3, 1]


@pytest.mark.parametrize("descending", [True, False])
def test_a_history_with_holes_is_walked_so_every_deployment_is_on_exactly_one_page(
    history: Callable[..., Project], descending: bool
) -> None:
    # Given 12 numbers of which 4 and 9 are unused (a deleted deployment, a failed trigger's reservation)
    project = history(12, holes=(4, 9))
    remaining = [seq for seq in range(1, 13) if seq not in (4, 9)]
    expected = remaining[::-1] if descending else remaining

    # When the listing is paged four at a time
    order = Order(descending=descending)
    pages = [listing.deployments(project, number, 4, order=order) for number in (1, 2, 3, 4)]

    # Then pages are full until the last, no deployment is on two pages, and the total counts the deployments
    assert [_seqs(p) for p in pages] == [expected[:4], expected[4:8], expected[8:], []]
    assert {(p.total, p.total_pages) for p in pages} == {(10, 3)}


def test_a_filter_keeps_only_what_it_matches_and_counts_only_that(history: Callable[..., Project]) -> None:
    # Given 9 deployments without holes, the odd-numbered ones in production
    project = history(9)

    # When only production is listed, two to a page
    def in_production(deployment: Deployment) -> bool:
        return deployment.environment == "production"

    pages = [listing.deployments(project, number, 2, matches=in_production) for number in (1, 2, 3, 4)]

    # Then the pages hold the production deployments newest first, and the total is theirs alone
    assert [_seqs(p) for p in pages] == [[9, 7], [5, 3], [1], []]
    assert {(p.total, p.total_pages) for p in pages} == {(5, 3)}


@pytest.mark.parametrize("descending", [True, False])
def test_another_order_sorts_the_whole_history_not_only_the_page(
    history: Callable[..., Project], descending: bool
) -> None:
    # Given 6 deployments of branches that do not follow their numbers (b, c, a, b, c, a)
    project = history(6, branches="abc")

    # When they are listed by branch, then number, three to a page
    by_branch = Order(key=lambda d: (d.branch, int(d.seq)), descending=descending, numbered=False)
    pages = [listing.deployments(project, number, 3, order=by_branch) for number in (1, 2)]

    # Then the order holds across pages: the first page is not merely the newest numbers sorted
    expected = [3, 6, 1, 4, 2, 5]  # a: 3, 6; b: 1, 4; c: 2, 5
    if descending:
        expected.reverse()
    assert [_seqs(p) for p in pages] == [expected[:3], expected[3:]]
    assert pages[0].total == 6


def test_a_numbered_order_by_another_key_reads_a_range_and_sorts_the_page_by_that_key(
    history: Callable[..., Project], scanned: list[int]
) -> None:
    # Given 5 deployments without holes, listed by id (which follows the numbering), oldest first
    project = history(5)
    scanned.clear()
    by_id = Order(key=lambda d: int(d.id), descending=False)

    # When the second page of two is read
    page = listing.deployments(project, 2, 2, order=by_id)

    # Then it holds numbers 3 and 4 in id order, read as a range of two
    assert _seqs(page) == [3, 4]
    assert [int(d.id) for d in page.items] == sorted(int(d.id) for d in page.items)
    assert scanned == [2]
