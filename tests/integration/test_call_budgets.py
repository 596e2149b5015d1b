"""Each API operation stays within its budget of AWS calls, counted through the real Chalice app (bench/api_calls.py
holds the operations and budgets; `make bench` prints the same table)."""

from __future__ import annotations

from pathlib import Path

from bench.api_calls import BUDGETS, measure_operations, table
from chalicelib.local.stack import EmbeddedStack


def test_every_api_operation_stays_within_its_budget_of_aws_calls(stack: EmbeddedStack, tmp_path: Path) -> None:
    # Given a tenant with two deployed deployments, when each operation of the table runs once
    results = measure_operations(tmp_path)

    # Then every one answered as a user expects, and made no more AWS calls (in all, and one after another) than
    # its budget
    assert [r.operation for r in results] == list(BUDGETS), table(results)
    assert all(r.status in (200, 201) for r in results), table(results)
    over = [r.operation for r in results if r.count > BUDGETS[r.operation].calls]
    assert not over, f"over budget: {over}\n{table(results)}"
    waiting = [r.operation for r in results if r.sequential > BUDGETS[r.operation].sequential]
    assert not waiting, f"more round trips in turn than budgeted: {waiting}\n{table(results)}"
