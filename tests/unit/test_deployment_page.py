"""Pagination arithmetic of deployment listings."""

from __future__ import annotations

import pytest

from chalicelib.services.deployments import DeploymentPage


@pytest.mark.parametrize(
    "total, per_page, pages",
    [(0, 20, 0), (1, 20, 1), (3, 2, 2), (4, 2, 2), (5, 2, 3), (20, 20, 1), (21, 20, 2), (250, 100, 3)],
)
def test_total_pages_counts_the_pages_a_client_can_request(total: int, per_page: int, pages: int) -> None:
    # Given a page of a listing with `total` deployments in all
    page = DeploymentPage(items=[], page=1, per_page=per_page, total=total)

    # Then the number of pages is what a client walking them would find
    assert page.total_pages == pages
