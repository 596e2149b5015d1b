"""Handing out an organization's build slots on behalf of a deployment takes the plan the deployment was recorded
with (services.caller_plan, models.deployment.org_plan): a plan never changes, so the organization is not read."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters import executions
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.registry import next_id
from chalicelib.models.slot_wait import SlotWait
from chalicelib.services import build_slots, caller_plan
from chalicelib.vocabulary import Status


def _queued(org_plan: str | None) -> Deployment:
    deployment = Deployment(
        id=next_id("deployment"),
        project_id=1,
        seq=1,
        org_slug="acme",
        org_plan=org_plan,
        environment="production",
        branch="main",
        commit_sha="a" * 40,
        status=Status.QUEUED,
        event_seq=1,
    )
    deployment.save()
    return deployment


def test_a_waiting_deployment_gets_a_slot_by_the_plan_it_was_recorded_with(
    tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment of an organization whose item cannot be read (none exists), recorded on the pro plan
    granted: list[tuple[str, Any]] = []
    monkeypatch.setattr(executions, "succeed", lambda token, output: granted.append((token, output)))
    deployment = _queued("pro")

    # When its pipeline asks for a slot
    build_slots.request(deployment.id, "token-1")

    # Then it is granted one at once, without reading the organization
    assert granted == [("token-1", {"slot": True})]
    assert DeploymentRepository.get(deployment.id).slot_held is True
    assert build_slots.running("acme") == 1 and list(SlotWait.scan()) == []


def test_the_plan_of_a_request_s_caller_is_what_its_deployments_record(tables: None) -> None:
    # Given the plan a request's API key carried, while the request runs
    with caller_plan.known("acme", "enterprise"):
        # Then it is known for that organization only, and a limit is taken from it
        assert caller_plan.of("acme") == "enterprise" and caller_plan.of("other") is None
        assert build_slots.slot_limit("acme") == build_slots.SLOTS_BY_PLAN["enterprise"]
    # And once the request is over, nothing is known any more
    assert caller_plan.of("acme") is None
