"""`triggered_by`: through what a deployment was triggered, kept apart from GitHub's `creator`, shown natively."""

from __future__ import annotations

from chalicelib.models.deployment import Deployment
from chalicelib.services.deployments import DeploymentView
from chalicelib.services.native_json import deployment_json


def _item(**fields: str) -> dict:
    return Deployment(
        id=1,
        project_id=1,
        seq=1,
        org_slug="a",
        environment="production",
        branch="main",
        commit_sha="a" * 40,
        status="queued",
        **fields,
    ).serialize()


def test_a_deployment_recorded_before_triggered_by_shows_null_and_keeps_its_creator() -> None:
    # Given an item as deployd stored it before: only the creator, under the name `triggered_by`
    legacy = _item()
    legacy["triggered_by"] = {"S": "api-key:abc123"}
    # When it is read and shown by the native API
    deployment = Deployment.from_raw_data(legacy)
    shown = deployment_json(DeploymentView(deployment, False))
    # Then the creator is still GitHub's creator, and triggered_by is null rather than a guess
    assert deployment.creator == "api-key:abc123"
    assert shown["triggered_by"] is None


def test_a_new_deployment_stores_both_apart() -> None:
    stored = _item(creator="api-key:abc123", triggered_by="slack:T0123/U0456")
    assert stored["triggered_by"] == {"S": "api-key:abc123"} and stored["trigger"] == {"S": "slack:T0123/U0456"}
    shown = deployment_json(DeploymentView(Deployment.from_raw_data(stored), True))
    assert shown["triggered_by"] == "slack:T0123/U0456"
