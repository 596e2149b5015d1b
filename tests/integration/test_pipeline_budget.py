"""One deployment stays within its budget of DynamoDB calls, trigger to deployed (bench/pipeline.py counts them;
`make bench` prints the same figures)."""

from __future__ import annotations

from pathlib import Path

from bench.pipeline import DYNAMODB_BUDGET, calls_per_deployment, dynamodb_calls
from chalicelib.local.stack import EmbeddedStack
from tests.support.git import GitRepo


def test_a_deployment_makes_no_more_dynamodb_calls_than_its_budget(stack: EmbeddedStack, tmp_path: Path) -> None:
    # Given a project with nothing to build
    repo = GitRepo.create(tmp_path / "repo", {"index.html": "<h1>budget</h1>\n"})

    # When deployments of it are triggered over HTTP, one at a time, each followed until its pipeline has ended
    calls = calls_per_deployment(stack.api_url, repo.path)

    # Then each was deployed making no more DynamoDB calls than the budget
    table = "\n".join(f"{name}: {n:.1f}" for name, n in sorted(calls.items()))
    assert 0 < dynamodb_calls(calls) <= DYNAMODB_BUDGET, table
