"""Listing for every dialect: one Page, and the one rule that decides how a project's deployments are read.

An unfiltered listing in the order of the project's numbering, over a history with no holes, is a fixed
range of sequence numbers: DynamoDB reads in proportion to the page. Deleted deployments (or numbers a
failed trigger reserved) leave holes, and a filter or another order needs every deployment: then the
history is walked, so every deployment lands on exactly one page, at a cost that grows with the history.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.project import Project

T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing of `total` items, `per_page` to a page."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def total_pages(self) -> int:
        """How many pages hold items: 0 for an empty listing."""
        return -(-self.total // self.per_page)

    @property
    def last_page(self) -> int:
        """The page a "last" link names: 1 even for an empty listing (GitHub and GitLab link it so)."""
        return max(1, self.total_pages)

    def map(self, present: Callable[[T], U]) -> Page[U]:
        return Page([present(item) for item in self.items], self.page, self.per_page, self.total)


def paginate(items: Sequence[T], page: int, per_page: int) -> Page[T]:
    """The page of a listing held whole in memory."""
    start = (page - 1) * per_page
    return Page(list(items[start : start + per_page]), page, per_page, len(items))


def _by_seq(deployment: Deployment) -> int:
    return deployment.seq


@dataclass(frozen=True)
class Order:
    """The sort hook: by `key`, largest first when `descending`. `numbered` says the key sorts deployments
    as their per-project sequence numbers do, so a page of an unfiltered listing is a range of numbers."""

    key: Callable[[Deployment], Any] = _by_seq
    descending: bool = True
    numbered: bool = True


NEWEST_FIRST = Order()


def deployments(
    project: Project,
    page: int,
    per_page: int,
    matches: Callable[[Deployment], bool] | None = None,
    order: Order = NEWEST_FIRST,
) -> Page[Deployment]:
    """One page of the project's deployments that `matches` keeps (every one when None), in `order`."""
    project_id, seq, count = project.id, project.deployment_seq, project.deployment_count
    skipped = (page - 1) * per_page
    if matches is None and order.numbered:
        if count == seq:
            rows = _number_range(project_id, seq, skipped, per_page, order.descending)
        else:
            history = Deployment.by_project.query(project_id, scan_index_forward=not order.descending)
            rows = list(itertools.islice(history, skipped, skipped + per_page))
        return Page(sorted(rows, key=order.key, reverse=order.descending), page, per_page, count)
    kept = [d for d in Deployment.by_project.query(project_id) if matches is None or matches(d)]
    kept.sort(key=order.key, reverse=order.descending)
    return paginate(kept, page, per_page)


def _number_range(project_id: int, seq: int, skipped: int, per_page: int, descending: bool) -> list[Deployment]:
    """The page's deployments of a history numbered 1..seq without holes: counted from the newest number
    when descending, from 1 otherwise."""
    newest = seq - skipped if descending else min(seq, skipped + per_page)
    size = per_page if descending else newest - skipped
    return DeploymentRepository.page(project_id, newest, size) if size > 0 else []
