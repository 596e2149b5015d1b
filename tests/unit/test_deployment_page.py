"""Pagination arithmetic of listings (services/listing.py's Page), the same in every dialect."""

from __future__ import annotations

import pytest

from chalicelib.services.listing import Page, paginate


@pytest.mark.parametrize(
    "total, per_page, pages",
    [(0, 20, 0), (1, 20, 1), (3, 2, 2), (4, 2, 2), (5, 2, 3), (20, 20, 1), (21, 20, 2), (250, 100, 3)],
)
def test_total_pages_counts_the_pages_a_client_can_request(total: int, per_page: int, pages: int) -> None:
    # Given a page of a listing with `total` deployments in all
    page = Page(items=[], page=1, per_page=per_page, total=total)

    # Then the number of pages is what a client walking them would find
    assert page.total_pages == pages


@pytest.mark.parametrize("total, per_page, last", [(0, 20, 1), (1, 20, 1), (5, 2, 3), (250, 100, 3)])
def test_the_last_page_a_link_names_is_the_first_of_an_empty_listing(total: int, per_page: int, last: int) -> None:
    # Given a page of a listing with `total` items in all
    page = Page(items=[], page=1, per_page=per_page, total=total)

    # Then a "last" link points at a page that exists, page 1 when there is nothing at all
    assert page.last_page == last


def test_a_listing_held_in_memory_pages_every_item_once_and_counts_them_all() -> None:
    # Given seven items, three to a page
    items = ["a", "b", "c", "d", "e", "f", "g"]

    # When every page and the one past the end are taken
    pages = [paginate(items, number, 3) for number in (1, 2, 3, 4)]

    # Then each item is on exactly one page, in order, and every page knows the whole
    assert [p.items for p in pages] == [["a", "b", "c"], ["d", "e", "f"], ["g"], []]
    assert {(p.total, p.total_pages, p.per_page) for p in pages} == {(7, 3, 3)}


def test_a_page_presented_otherwise_keeps_its_place_in_the_listing() -> None:
    # Given the second page of five numbers, two to a page
    page = paginate([1, 2, 3, 4, 5], 2, 2)

    # When its items are presented as text
    shown = page.map(str)

    # Then only the items change
    assert (shown.items, shown.page, shown.per_page, shown.total) == (["3", "4"], 2, 2, 5)
