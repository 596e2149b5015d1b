"""Listing deployments: newest first, page by page, reading from DynamoDB only what the page shows."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from pynamodb.connection.base import Connection
from pynamodb.connection.table import TableConnection
from pynamodb.exceptions import CancellationReason, TransactWriteError, VerboseClientError

from chalicelib.errors import Conflict, InvalidInput
from chalicelib.models.deployment import Deployment
from chalicelib.services import deployments, organizations


@pytest.fixture
def dynamodb_reads(monkeypatch) -> list[dict[str, Any]]:
    """Every Query deployd sends to the deployments table, with how many items DynamoDB read for it."""
    table = Deployment.Meta.table_name
    reads: list[dict[str, Any]] = []
    original = TableConnection.query

    def counting(self: TableConnection, *args: Any, **kwargs: Any) -> dict:
        response = original(self, *args, **kwargs)
        if self.table_name == table:
            reads.append({"index": kwargs.get("index_name"), "scanned": response.get("ScannedCount", 0)})
        return response

    monkeypatch.setattr(TableConnection, "query", counting)
    return reads


def test_pages_of_deployments_newest_first_with_reads_bounded_by_the_page(
    stack, org_factory, repo_factory, project_factory, ledger, dynamodb_reads
):
    # Given a project with 25 deployments
    org = org_factory()
    project = project_factory(org.slug, repo_factory()).project
    pid = int(project.id)
    ids = [int(ledger(project, "deployed" if i % 3 else "failed").id) for i in range(25)]
    newest_first = ids[::-1]
    dynamodb_reads.clear()

    # When a client pages through them ten at a time
    pages = {n: deployments.list_page(org.slug, pid, n, 10) for n in (1, 2, 3, 4)}

    # Then pages hold the newest ten, the next ten, the last five, then nothing
    assert [int(v.deployment.id) for v in pages[1].items] == newest_first[:10]
    assert [int(v.deployment.id) for v in pages[2].items] == newest_first[10:20]
    assert [int(v.deployment.id) for v in pages[3].items] == newest_first[20:]
    assert pages[4].items == []
    assert [int(v.deployment.seq) for v in pages[3].items] == [5, 4, 3, 2, 1]
    for page in pages.values():
        assert (page.total, page.total_pages, page.per_page) == (25, 3, 10)

    # And DynamoDB read no more items than each page shows: no scan, no skipping through earlier pages
    assert [r["index"] for r in dynamodb_reads] == [Deployment.by_project.Meta.index_name] * 3
    assert [r["scanned"] for r in dynamodb_reads] == [10, 10, 5]

    # And the API renders the same page with its meta
    token = organizations.create_key(org.slug, "ci", None).token
    response = requests.get(
        f"{stack.api_url}/api/v1/public/projects/{pid}/deployments",
        params={"page": 3, "per_page": 10},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200
    body = response.json()
    assert [d["id"] for d in body["data"]] == newest_first[20:]
    assert body["meta"] == {"page": 3, "per_page": 10, "total": 25, "total_pages": 3}


def test_page_arguments_out_of_range_are_refused(org_factory, repo_factory, project_factory):
    org = org_factory()
    pid = int(project_factory(org.slug, repo_factory()).project.id)
    for page, per_page, field in ((0, 10, "page"), (1, 0, "per_page"), (1, deployments.MAX_PER_PAGE + 1, "per_page")):
        with pytest.raises(InvalidInput) as caught:
            deployments.list_page(org.slug, pid, page, per_page)
        assert caught.value.field == field
    empty = deployments.list_page(org.slug, pid, 1, 10)
    assert (empty.items, empty.total, empty.total_pages) == ([], 0, 0)


def _transaction_conflict() -> TransactWriteError:
    """What DynamoDB answers when another transaction holds one of the items (e.g. two triggers at once),
    in the shape PynamoDB raises it."""
    error = VerboseClientError(
        {
            "Error": {
                "Code": "TransactionCanceledException",
                "Message": "Transaction cancelled [None, TransactionConflict]",
            }
        },
        "TransactWriteItems",
        cancellation_reasons=[
            None,
            CancellationReason(code="TransactionConflict", message="Transaction is ongoing for the item"),
        ],
    )
    return TransactWriteError("Failed to write transaction items", error)


def test_a_trigger_that_fails_midway_does_not_make_a_deployment_appear_on_two_pages(
    org_factory, repo_factory, project_factory, ledger, monkeypatch
):
    # Given a project with 12 deployments
    org = org_factory()
    project = project_factory(org.slug, repo_factory()).project
    pid = int(project.id)
    ids = [int(ledger(project, "deployed").id) for _ in range(12)]

    # When a trigger's write of the new deployment is cancelled by DynamoDB (TransactionConflict)
    table = Deployment.Meta.table_name
    original = Connection.transact_write_items

    def conflicting(self: Connection, **kwargs: Any) -> dict:
        if any(put.get("TableName") == table for put in kwargs["put_items"]):
            raise _transaction_conflict()
        return original(self, **kwargs)

    monkeypatch.setattr(Connection, "transact_write_items", conflicting)
    # (retried, then refused with a Conflict the API renders as 409, never a 500)
    with pytest.raises(Conflict):
        deployments.trigger(org.slug, pid, None, "integration-test")
    monkeypatch.setattr(Connection, "transact_write_items", original)
    # and twelve more deployments follow
    ids += [int(ledger(project, "deployed").id) for _ in range(12)]

    # Then paging through the 24 deployments shows each exactly once
    pages = [[int(v.deployment.id) for v in deployments.list_page(org.slug, pid, n, 10).items] for n in (1, 2, 3)]
    listed = [did for page in pages for did in page]
    twice = sorted({did for did in listed if listed.count(did) > 1})
    assert not twice, f"deployments {twice} are listed on two pages: {pages}"
    assert listed == ids[::-1]
    # The unused number does not shift deployments between pages: each is listed exactly once.
    assert [len(page) for page in pages] == [10, 10, 4]
