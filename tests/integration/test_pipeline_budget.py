"""What one deployment costs in AWS calls, trigger to deployed (bench/pipeline.py counts them; `make bench` prints
the same figures). Counted, never timed."""

from __future__ import annotations

import pytest

from bench.pipeline import DYNAMODB_BUDGET, calls_per_deployment, dynamodb_calls
from chalicelib.local.stack import EmbeddedStack
from tests.support.git import GitRepo


@pytest.fixture(scope="module")
def calls(stack: EmbeddedStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """The calls of one deployment of a project with nothing to build, triggered over HTTP while its
    organization's build slots are free, and followed until its pipeline has ended."""
    repo = GitRepo.create(tmp_path_factory.mktemp("budget") / "repo", {"index.html": "<h1>budget</h1>\n"})
    return calls_per_deployment(stack.api_url, repo.path)


def _table(calls: dict[str, float]) -> str:
    return "\n".join(f"{name}: {n:.1f}" for name, n in sorted(calls.items()))


def test_a_deployment_makes_no_more_dynamodb_calls_than_its_budget(calls: dict[str, float]) -> None:
    # Given a deployment followed from its trigger until its pipeline ended (the fixture)
    # Then it was deployed making no more DynamoDB calls than the budget
    assert 0 < dynamodb_calls(calls) <= DYNAMODB_BUDGET, _table(calls)


def test_going_live_in_production_reads_no_earlier_deployment(calls: dict[str, float]) -> None:
    # Given deployments to production, each after an earlier one went live there (the fixture)
    # Then the only batch reads were the build's, the activation's and the switch's own: production's earlier
    # deployments are never made inactive, so the switch does not read them (models.deployment.listed_live)
    assert calls.get("dynamodb.BatchGetItem") == 3, _table(calls)


def test_a_deployment_recorded_with_a_free_slot_does_not_wait_for_one(calls: dict[str, float]) -> None:
    # Given a deployment triggered while its organization's slots are free (the fixture)
    # Then its pipeline answered two tasks, the build and the activation, and never asked for a build slot; its
    # promotion answered its two (verify the candidate and switch, verify the live URL and finish)
    assert calls.get("stepfunctions.SendTaskSuccess") == 2 + 2, _table(calls)
    assert calls.get("sqs.SendMessage") == 2 + 2, _table(calls)


def test_the_pipeline_s_statuses_take_their_ids_at_the_trigger_and_a_quick_build_writes_its_log_once(
    calls: dict[str, float],
) -> None:
    # Given a deployment with nothing to build (the fixture)
    # Then its single writes were the trigger's four (the rate count, the project's sequence number, the deployment
    # id, and the ids of its three pipeline statuses at once), the build's four (building, uploading, its outcome,
    # the state machine's deploying) and the promotion's id: no status id at the claim or the switch, which use
    # those taken at the trigger (services.statuses.pipeline_report)
    assert calls.get("dynamodb.UpdateItem") == 4 + 4 + 1, _table(calls)
    # And S3 got the build's log once (the build ended within the log's first flush interval) and the site's file
    assert calls.get("s3.PutObject") == 2, _table(calls)
