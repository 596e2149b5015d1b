"""Handing out an organization's build slots on behalf of a deployment takes the plan the deployment was recorded
with (services.caller_plan, models.deployment.org_plan): a plan never changes, so the organization is not read."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters import executions
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.registry import RegistryEntry, next_id
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


@pytest.fixture
def grants(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool | None]]:
    """Every grant tried (the deployment, and True granted / False refused: every slot taken / None: gone)."""
    tried: list[tuple[int, bool | None]] = []
    grant = build_slots._grant

    def counted(org_slug: str, wait: SlotWait, limit: int) -> bool | None:
        tried.append((wait.deployment_id, outcome := grant(org_slug, wait, limit)))
        return outcome

    monkeypatch.setattr(build_slots, "_grant", counted)
    monkeypatch.setattr(executions, "succeed", lambda token, output: None)
    return tried


def _all_slots_taken(plan: str) -> None:
    RegistryEntry(name="build-slots#acme", value=build_slots.SLOTS_BY_PLAN[plan]).save()


def test_with_every_slot_taken_a_request_joins_the_line_and_tries_no_grant(
    tables: None, grants: list[tuple[int, bool | None]]
) -> None:
    _all_slots_taken("pro")
    waiting = _queued("pro")
    build_slots.request(waiting.id, "token-1")
    assert grants == []
    assert [w.deployment_id for w in SlotWait.scan()] == [waiting.id]
    assert DeploymentRepository.get(waiting.id).slot_held is None


def test_a_slot_given_back_goes_to_the_oldest_waiter_and_the_dispatch_stops_there(
    tables: None, grants: list[tuple[int, bool | None]]
) -> None:
    # Given every slot of a pro organization taken and two deployments waiting in line
    _all_slots_taken("pro")
    first, second = _queued("pro"), _queued("pro")
    build_slots.request(first.id, "token-1")
    build_slots.request(second.id, "token-2")
    # When a build holding a slot ends and gives it back
    ended = _queued("pro")
    ended.update(actions=[Deployment.status.set(Status.FAILED), Deployment.slot_held.set(True)])
    build_slots.release(ended)
    # Then the oldest waiter gets it with one grant, not a second one refused because the slots are full
    assert grants == [(first.id, True)]
    assert DeploymentRepository.get(first.id).slot_held is True
    assert [w.deployment_id for w in SlotWait.scan()] == [second.id]
    assert build_slots.running("acme") == build_slots.SLOTS_BY_PLAN["pro"]


def test_a_deployment_recorded_without_its_plan_reads_its_organization_once_per_slot_request(
    tables: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.models.organization import OrganizationRepository
    from chalicelib.services import organizations

    # Given a pro organization, and a deployment recorded before deployments carried their plan
    organizations.create("acme", None, "pro")
    granted: list[str] = []
    monkeypatch.setattr(executions, "succeed", lambda token, output: granted.append(token))
    read: list[str] = []
    own_get = OrganizationRepository.get
    monkeypatch.setattr(OrganizationRepository, "get", lambda slug: read.append(slug) or own_get(slug))
    deployment = _queued(None)

    # When its pipeline asks for a slot
    build_slots.request(deployment.id, "token-1")

    # Then it is granted one by the organization's plan, read once
    assert granted == ["token-1"] and read == ["acme"]
