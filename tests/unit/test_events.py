"""The event stream: every write that moves a deployment (a transition, an end, going live, a rollback, an
external report, the state machine's own updateItem writes) becomes its events, numbered per deployment, read
from the deployments table's stream in moto exactly as the stream consumer reads them."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.aws import client
from chalicelib.infra.resources import DEPLOYMENTS
from chalicelib.infra.state_machine import pipeline_definition
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import Environment
from chalicelib.models.organization import OrganizationRepository
from chalicelib.models.project import Project
from chalicelib.services.deployments import activation, external, terminal
from chalicelib.services.events import Event, events_of
from chalicelib.settings import get_settings
from chalicelib.vocabulary import EventType, Status
from tests.support.promotions import run_promotions_inline

_ids = itertools.count(7000)


class Stream:
    """The deployments table's stream, read from where the previous read stopped."""

    def __init__(self) -> None:
        self._streams = client("dynamodbstreams")
        table = client("dynamodb").describe_table(TableName=get_settings().resource_name(DEPLOYMENTS.logical))
        self._arn = table["Table"]["LatestStreamArn"]
        description = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]
        self._shard = description["Shards"][0]["ShardId"]
        self._after: str | None = None
        self.records()  # start at the end

    def records(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self._arn, "ShardId": self._shard}
            if self._after is None:
                kwargs["ShardIteratorType"] = "TRIM_HORIZON"
            else:
                kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=self._after)
            iterator = self._streams.get_shard_iterator(**kwargs)["ShardIterator"]
            batch = self._streams.get_records(ShardIterator=iterator)["Records"]
            if not batch:
                return found
            found += batch
            self._after = batch[-1]["dynamodb"]["SequenceNumber"]

    def events(self) -> list[Event]:
        return [
            event
            for record in self.records()
            for event in events_of(record["dynamodb"].get("OldImage"), record["dynamodb"].get("NewImage"))
        ]


def _summary(events: list[Event]) -> list[tuple[str, int, str, str | None]]:
    return [(e.type.value, e.sequence, e.deployment.status, e.previous_status) for e in events]


@pytest.fixture
def stream(tables: None) -> Stream:
    return Stream()


@pytest.fixture
def deployment_factory(tables: None) -> Callable[..., Deployment]:
    """A deployment row as `deployments.create` records it (event_seq 1), of a project of organization acme,
    in flight in its environment when it is not terminal."""
    OrganizationRepository.create("acme", "Acme", "pro")

    def make(status: Status = Status.QUEUED, *, seq: int = 1, managed: bool = True, **fields: Any) -> Deployment:
        project = Project.get(fields.pop("project_id")) if "project_id" in fields else _project()
        fields.setdefault("event_seq", 1)
        deployment = Deployment(
            id=next(_ids),
            project_id=project.id,
            seq=seq,
            org_slug="acme",
            environment="production",
            branch="main",
            commit_sha="a" * 40,
            status=status,
            managed=managed,
            artifact_prefix=f"deployments/{seq}/",
            **fields,
        )
        deployment.save()
        in_flight = {deployment.id} if not deployment.is_terminal and managed else None
        environment = Environment.get(project.id, "production") if _has_environment(project.id) else None
        if environment is None:
            Environment(project_id=project.id, name="production", id=project.id, in_flight=in_flight).save()
        elif in_flight:
            environment.update(actions=[Environment.in_flight.add(in_flight)])
        return deployment

    return make


def _project() -> Project:
    project = Project(
        id=next(_ids),
        org_slug="acme",
        slug=f"site-{next(_ids)}",
        name="Site",
        repo_url="https://example.com/site.git",
        default_branch="main",
        build_command="true",
        output_dir=".",
        build_timeout_seconds=600,
        deployment_seq=9,
        deployment_count=1,
    )
    project.save()
    return project


def _has_environment(project_id: int) -> bool:
    return Environment.count(project_id) > 0


def test_a_new_deployment_is_its_created_event_numbered_1(
    deployment_factory: Callable[..., Deployment], stream: Stream
) -> None:
    # When a deployment is recorded
    deployment = deployment_factory()
    # Then its stream record is one created event, sequence 1, carrying the deployment
    (event,) = stream.events()
    assert (event.type, event.sequence, event.deployment.id) == (EventType.CREATED, 1, deployment.id)
    assert event.previous_status is None
    assert event.occurred_at == deployment.created_at


def test_every_status_move_of_a_build_is_one_status_changed_event_with_the_next_sequence(
    deployment_factory: Callable[..., Deployment], stream: Stream
) -> None:
    # Given a queued deployment
    deployment = deployment_factory()
    stream.records()
    # When the worker moves it through the pipeline, and a write that changes no status happens in between
    for leaving, to in [
        (Status.QUEUED, Status.CLONING),
        (Status.CLONING, Status.BUILDING),
        (Status.BUILDING, Status.UPLOADING),
    ]:
        assert DeploymentRepository.transition(deployment, (leaving,), to)
        deployment.update(actions=[Deployment.build_id.set(f"build:{to}")])
    # Then each move is one status_changed event naming the status it left, numbered 2, 3, 4
    assert _summary(stream.events()) == [
        ("deployment.status_changed", 2, "cloning", "queued"),
        ("deployment.status_changed", 3, "building", "cloning"),
        ("deployment.status_changed", 4, "uploading", "building"),
    ]


def test_a_move_that_loses_its_race_writes_no_event(
    deployment_factory: Callable[..., Deployment], stream: Stream
) -> None:
    # Given a deployment that was cancelled
    deployment = deployment_factory(Status.CANCELLED)
    stream.records()
    # When a late worker tries to claim it
    assert not DeploymentRepository.transition(deployment, (Status.QUEUED,), Status.CLONING)
    # Then nothing happened, so nothing is told
    assert stream.events() == []


def _update_item_of(state: str, **values: str) -> dict[str, Any]:
    """The state machine's own updateItem of `state`, with its JSONPath values filled in, as Step Functions
    sends it to DynamoDB."""
    parameters = dict(pipeline_definition(heartbeat_seconds=30)["States"][state]["Parameters"])
    names = parameters.get("ExpressionAttributeNames")
    filled = {}
    for placeholder, value in parameters["ExpressionAttributeValues"].items():
        ((kind, raw),) = value.items()
        filled[placeholder] = {kind.removesuffix(".$"): values.get(placeholder, raw)}
    request = {
        "TableName": get_settings().resource_name(DEPLOYMENTS.logical),
        "Key": {"id": {"N": values[":id"]}},
        "UpdateExpression": parameters["UpdateExpression"],
        "ConditionExpression": parameters["ConditionExpression"],
        "ExpressionAttributeValues": filled,
    }
    if names:
        request["ExpressionAttributeNames"] = names
    return request


def test_the_state_machines_own_writes_are_events_too(
    deployment_factory: Callable[..., Deployment], stream: Stream
) -> None:
    # Given one deployment uploading and one building (event_seq 4 and 3 after their moves)
    uploading = deployment_factory(Status.UPLOADING, event_seq=4)
    building = deployment_factory(Status.BUILDING, event_seq=3)
    stream.records()
    now = "2026-11-29T16:00:00.000Z"
    # When the state machine marks the first deploying and fails the second (its MarkDeploying, MarkFailed)
    dynamodb = client("dynamodb")
    dynamodb.update_item(**_update_item_of("MarkDeploying", **{":id": str(uploading.id), ":now": now}))
    dynamodb.update_item(
        **_update_item_of("MarkFailed", **{":id": str(building.id), ":now": now, ":message": "no heartbeat"})
    )
    # Then each is a status_changed event with its next sequence
    assert _summary(stream.events()) == [
        ("deployment.status_changed", 5, "deploying", "uploading"),
        ("deployment.status_changed", 4, "failed", "building"),
    ]


def test_going_live_is_status_changed_then_promoted_and_an_older_build_is_not_promoted(
    deployment_factory: Callable[..., Deployment], stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_promotions_inline(monkeypatch)
    # Given a newer and an older deployment of one project, both deploying
    older = deployment_factory(Status.DEPLOYING, seq=1, event_seq=5)
    newer = deployment_factory(Status.DEPLOYING, seq=2, event_seq=5, project_id=older.project_id)
    stream.records()
    # When the newer goes live first, then the older
    assert activation.activate(newer)
    assert activation.activate(older)
    # Then the newer is deployed (6) and promoted to production (7); the older is only deployed (6)
    events = stream.events()
    assert [(e.deployment.id, *s) for e, s in zip(events, _summary(events), strict=True)] == [
        (newer.id, "deployment.status_changed", 6, "deployed", "deploying"),
        (newer.id, "deployment.promoted", 7, "deployed", None),
        (older.id, "deployment.status_changed", 6, "deployed", "deploying"),
    ]
    promoted = events[1]
    assert promoted.deployment.promoted_environment == "production"
    assert promoted.occurred_at == promoted.deployment.promoted_at


def test_a_rollback_promotes_its_target_without_a_status_change(
    deployment_factory: Callable[..., Deployment], stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_promotions_inline(monkeypatch)
    # Given two deployed builds of a project, the newer one live
    older = deployment_factory(Status.DEPLOYING, seq=1, event_seq=5)
    newer = deployment_factory(Status.DEPLOYING, seq=2, event_seq=5, project_id=older.project_id)
    assert activation.activate(older) and activation.activate(newer)
    stream.records()
    # When production rolls back to the older one
    activation.rollback("acme", older.project_id, older.id)
    # Then the older one is promoted again, with its next sequence, and nothing else is told
    assert _summary(stream.events()) == [("deployment.promoted", 8, "deployed", None)]


def test_a_refused_candidate_is_deployed_without_a_promotion_and_a_reverted_one_promotes_the_previous_again(
    deployment_factory: Callable[..., Deployment], stream: Stream, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given production serving a first build, and two later builds deploying
    run_promotions_inline(monkeypatch)
    live = deployment_factory(Status.DEPLOYING, seq=1, event_seq=5)
    assert activation.activate(live)
    refused = deployment_factory(Status.DEPLOYING, seq=2, event_seq=5, project_id=live.project_id)
    reverted = deployment_factory(Status.DEPLOYING, seq=3, event_seq=5, project_id=live.project_id)
    stream.records()

    # When the first of them answers 404 at its own URL, and the second is healthy there but not once production
    # serves it
    def refused_answers(url: str, expected: int) -> tuple[int, int]:
        return (404, expected) if expected == refused.id else (200, expected)

    run_promotions_inline(monkeypatch, refused_answers)
    assert activation.activate(refused)

    def reverted_answers(url: str, expected: int) -> tuple[int, int]:
        return (200, expected) if f"/d{expected}--" in url else (503, expected)

    run_promotions_inline(monkeypatch, reverted_answers)
    assert activation.activate(reverted)

    # Then the refused one is only deployed; the reverted one went live, and the first was promoted back
    events = stream.events()
    assert [(e.deployment.id, *s) for e, s in zip(events, _summary(events), strict=True)] == [
        (refused.id, "deployment.status_changed", 6, "deployed", "deploying"),
        (reverted.id, "deployment.status_changed", 6, "deployed", "deploying"),
        (reverted.id, "deployment.promoted", 7, "deployed", None),
        (live.id, "deployment.promoted", 8, "deployed", None),
    ]


def test_a_cancel_and_a_failure_are_status_changed_events(
    deployment_factory: Callable[..., Deployment], stream: Stream
) -> None:
    # Given a queued and a building deployment
    queued = deployment_factory(Status.QUEUED)
    building = deployment_factory(Status.BUILDING, event_seq=3)
    stream.records()
    # When one is cancelled and the other's build fails
    terminal.cancel("acme", queued.project_id, queued.id)
    assert terminal.record_failure(building, "exit 1", cause="build")
    # Then each is told once, with the status it left
    assert _summary(stream.events()) == [
        ("deployment.status_changed", 2, "cancelled", "queued"),
        ("deployment.status_changed", 4, "failed", "building"),
    ]


def test_an_external_deployer_reporting_success_is_status_changed_then_promoted(
    deployment_factory: Callable[..., Deployment], stream: Stream
) -> None:
    # Given a deployment of a project deployd does not build
    deployment = deployment_factory(Status.QUEUED, managed=False)
    stream.records()
    # When its deployer reports it in progress (twice), then deployed
    external.set_external_status(deployment, Status.DEPLOYING)
    external.set_external_status(deployment, Status.DEPLOYING)
    external.set_external_status(deployment, Status.DEPLOYED)
    # Then: two status changes (a repeated report is none, and takes no number), then the promotion of the
    # environment it now serves
    assert _summary(stream.events()) == [
        ("deployment.status_changed", 2, "deploying", "queued"),
        ("deployment.status_changed", 3, "deployed", "deploying"),
        ("deployment.promoted", 4, "deployed", None),
    ]


def test_records_without_an_event_are_none() -> None:
    # Given a deployment image from before deployments counted events, and one whose write changed no status
    legacy = Deployment(
        id=1,
        project_id=1,
        seq=1,
        org_slug="a",
        environment="production",
        branch="main",
        commit_sha="a" * 40,
        status="queued",
    ).serialize()
    counted = Deployment(
        id=2,
        project_id=1,
        seq=1,
        org_slug="a",
        environment="production",
        branch="main",
        commit_sha="a" * 40,
        status="queued",
        event_seq=1,
    ).serialize()
    with_url = {**counted, "deployment_url": {"S": "https://x.example/"}}
    # Then neither is an event, nor is a deleted deployment
    assert events_of(None, legacy) == []
    assert events_of(counted, with_url) == []
    assert events_of(counted, None) == []
