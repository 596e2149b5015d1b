"""The routes table mirrored into CloudFront's KeyValueStore: the stream consumer (route_sync), the mirror's
compare-and-set on the store's ETag, and the scheduled reconcile.

moto has no KeyValueStore data plane, so the store is FakeKeyValueStore below, faithful where the mirror
depends on it: every call is validated against botocore's own model of the service, every write needs the
current ETag and changes it, a stale ETag raises the service's ConflictException, ListKeys pages (10 by
default, at most 50), and errors are the client's own ClientError classes with the documented codes. The
routes table is moto's DynamoDB, created from the resource catalogue.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError
from botocore.validate import validate_parameters

from chalicelib.adapters import key_value_store, sites
from chalicelib.models.route import Route
from chalicelib.services import route_mirror
from chalicelib.workers import route_stream, scheduler

KVS_ARN = "arn:aws:cloudfront::123456789012:key-value-store/9c8b2d1e-0000-4000-8000-5a1b2c3d4e5f"

_MODEL_CLIENT = botocore.session.get_session().create_client(
    "cloudfront-keyvaluestore", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
)
STREAM_LABEL = "2026-01-01T00:00:00.000"
_sequence_numbers = itertools.count(4_000_000_000_000_000_000)


class FakeKeyValueStore:
    """The data plane of one CloudFront KeyValueStore (boto3 client `cloudfront-keyvaluestore`)."""

    def __init__(self, arn: str) -> None:
        self.arn = arn
        self.data: dict[str, str] = {}
        self.version = 1
        self.calls: list[str] = []
        self.conflicts = 0
        self.failing_keys: set[str] = set()  # writes naming one of these fail with InternalServerException
        # Runs once, at the start of the next write (before its ETag is checked): another writer's turn.
        self.before_write: Callable[[], None] | None = None

    @property
    def etag(self) -> str:
        return f"KV{self.version:012d}"

    # ---- the service's rules ----

    def _call(self, operation: str, params: dict[str, Any]) -> None:
        validate_parameters(params, _MODEL_CLIENT.meta.service_model.operation_model(operation).input_shape)
        self.calls.append(operation)
        if params["KvsARN"] != self.arn:
            raise self._error(operation, "ResourceNotFoundException", "Resource was not found.", 404)

    def _error(self, operation: str, code: str, message: str, status: int) -> ClientError:
        response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        exception_class = getattr(_MODEL_CLIENT.exceptions, code)
        error: ClientError = exception_class(response, operation)
        return error

    def _write(self, operation: str, params: dict[str, Any], keys: list[str]) -> None:
        hook, self.before_write = self.before_write, None
        if hook is not None:
            hook()
        if params["IfMatch"] != self.etag:
            self.conflicts += 1
            raise self._error(operation, "ConflictException", "Pre-condition failed: ETag mismatch.", 409)
        if self.failing_keys & set(keys):
            raise self._error(operation, "InternalServerException", "Internal server error.", 500)

    def _check_sizes(self, operation: str, key: str, value: str | None = None) -> None:
        if len(key.encode()) > 512 or (value is not None and len(value.encode()) > 1024):
            raise self._error(operation, "ValidationException", "Key or value too large.", 400)

    def _written(self) -> dict[str, Any]:
        self.version += 1
        return {"ETag": self.etag, "ItemCount": len(self.data), "TotalSizeInBytes": self._size()}

    def _size(self) -> int:
        return sum(len(k.encode()) + len(v.encode()) for k, v in self.data.items())

    # ---- the client's methods ----

    def describe_key_value_store(self, **params: Any) -> dict[str, Any]:
        self._call("DescribeKeyValueStore", params)
        return {"KvsARN": self.arn, "ETag": self.etag, "ItemCount": len(self.data), "Status": "READY"}

    def get_key(self, **params: Any) -> dict[str, Any]:
        self._call("GetKey", params)
        if params["Key"] not in self.data:
            raise self._error("GetKey", "ResourceNotFoundException", "Key not found.", 404)
        return {"Key": params["Key"], "Value": self.data[params["Key"]], "ItemCount": len(self.data)}

    def list_keys(self, **params: Any) -> dict[str, Any]:
        self._call("ListKeys", params)
        size = params.get("MaxResults", 10)
        if not 1 <= size <= 50:
            raise self._error("ListKeys", "ValidationException", "MaxResults must be 1 to 50.", 400)
        keys = sorted(self.data)
        start = int(params.get("NextToken", "0"))
        page = keys[start : start + size]
        response: dict[str, Any] = {"Items": [{"Key": k, "Value": self.data[k]} for k in page]}
        if start + size < len(keys):
            response["NextToken"] = str(start + size)
        return response

    def put_key(self, **params: Any) -> dict[str, Any]:
        self._call("PutKey", params)
        self._check_sizes("PutKey", params["Key"], params["Value"])
        self._write("PutKey", params, [params["Key"]])
        self.data[params["Key"]] = params["Value"]
        return self._written()

    def delete_key(self, **params: Any) -> dict[str, Any]:
        self._call("DeleteKey", params)
        self._write("DeleteKey", params, [params["Key"]])
        if params["Key"] not in self.data:
            raise self._error("DeleteKey", "ResourceNotFoundException", "Key not found.", 404)
        del self.data[params["Key"]]
        return self._written()

    def update_keys(self, **params: Any) -> dict[str, Any]:
        self._call("UpdateKeys", params)
        puts, deletes = params.get("Puts", []), params.get("Deletes", [])
        if len(puts) + len(deletes) > 50:
            raise self._error("UpdateKeys", "ValidationException", "At most 50 keys per request.", 400)
        for put in puts:
            self._check_sizes("UpdateKeys", put["Key"], put["Value"])
        self._write("UpdateKeys", params, [p["Key"] for p in puts] + [d["Key"] for d in deletes])
        # Not documented either way; assumed refused (the stricter case), all or nothing.
        if any(d["Key"] not in self.data for d in deletes):
            raise self._error("UpdateKeys", "ResourceNotFoundException", "Key not found.", 404)
        for delete in deletes:
            del self.data[delete["Key"]]
        self.data.update({p["Key"]: p["Value"] for p in puts})
        return self._written()

    # ---- for the tests ----

    def foreign_write(self, key: str = "someone-else", value: str = "x/") -> None:
        """Another writer's put, as it would land between our read of the ETag and our write."""
        self.data[key] = value
        self.version += 1


@pytest.fixture
def kvs(tables: None, settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> FakeKeyValueStore:
    """The routes table in moto, and the fake store as the client route_mirror gets for the configured ARN."""
    settings_env(DEPLOYD_SITES_KVS_ARN=KVS_ARN)
    store = FakeKeyValueStore(KVS_ARN)
    real_client = key_value_store.client

    def fake_client(service: str) -> Any:
        return store if service == "cloudfront-keyvaluestore" else real_client(service)

    monkeypatch.setattr(key_value_store, "client", fake_client)
    monkeypatch.setattr(route_mirror.time, "sleep", lambda seconds: None)
    return store


def route(host: str, deployment_id: int) -> Route:
    """Writes the row the services write (activation, rollback): host -> the deployment's artifact prefix."""
    row = Route(
        host=host, artifact_prefix=sites.artifact_prefix(deployment_id), deployment_id=deployment_id, project_id=1
    )
    row.save()
    return row


def unroute(host: str) -> None:
    Route(host=host).delete()


def stream_record(host: str, event_name: str = "MODIFY") -> dict[str, Any]:
    """A DynamoDB stream record as Lambda delivers it for a KEYS_ONLY stream."""
    sequence = str(next(_sequence_numbers))
    return {
        "eventID": f"e{sequence[-8:]}",
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1767225600,
            "Keys": {"host": {"S": host}},
            "SequenceNumber": sequence,
            "SizeBytes": 40,
            "StreamViewType": "KEYS_ONLY",
        },
        "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/deployd-test-routes/stream/{STREAM_LABEL}",
    }


def stream_event(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


def consume(*records: dict[str, Any]) -> dict[str, Any]:
    return route_stream.consume(stream_event(*records))


def table_contents() -> dict[str, str]:
    return {row.host: row.artifact_prefix for row in Route.scan(consistent_read=True)}


# ---- the stream consumer ----


def test_a_new_route_is_put_into_the_store(kvs: FakeKeyValueStore) -> None:
    # Given a deployment that was just activated: its immutable label routes to its artifacts
    route("d7--site--acme", 7)

    # When its stream record is consumed
    response = consume(stream_record("d7--site--acme", "INSERT"))

    # Then the store maps the label to the prefix, and no record failed
    assert response == {"batchItemFailures": []}
    assert kvs.data == {"d7--site--acme": "deployments/7/"}


def test_a_rollback_points_the_label_back_at_the_older_deployment(kvs: FakeKeyValueStore) -> None:
    # Given production serving deployment 9, mirrored
    route("site--acme", 9)
    consume(stream_record("site--acme", "INSERT"))
    assert kvs.data["site--acme"] == "deployments/9/"

    # When production is rolled back to deployment 8 (one write to the route) and its record is consumed
    route("site--acme", 8)
    response = consume(stream_record("site--acme", "MODIFY"))

    # Then the label points at the older build's prefix: a pointer switch, no copy
    assert response == {"batchItemFailures": []}
    assert kvs.data["site--acme"] == "deployments/8/"


def test_a_removed_route_is_deleted_and_deleting_it_again_is_harmless(kvs: FakeKeyValueStore) -> None:
    # Given a preview's route, mirrored
    route("site--acme--git--feature", 3)
    consume(stream_record("site--acme--git--feature", "INSERT"))

    # When the preview is removed and its REMOVE record is consumed, then delivered once more
    unroute("site--acme--git--feature")
    first = consume(stream_record("site--acme--git--feature", "REMOVE"))
    second = consume(stream_record("site--acme--git--feature", "REMOVE"))

    # Then the key is gone and the duplicate (a delete of an absent key) failed nothing
    assert first == second == {"batchItemFailures": []}
    assert kvs.data == {}


def test_a_write_that_loses_the_etag_race_is_retried(kvs: FakeKeyValueStore) -> None:
    # Given a route, and another writer that changes the store just before our write lands
    route("site--acme", 5)
    kvs.before_write = kvs.foreign_write

    # When the record is consumed
    response = consume(stream_record("site--acme"))

    # Then our first write was refused for its stale ETag, and the retry (fresh ETag, fresh read) landed
    assert response == {"batchItemFailures": []}
    assert kvs.conflicts == 1
    assert kvs.data == {"someone-else": "x/", "site--acme": "deployments/5/"}


def test_a_store_that_never_settles_fails_the_record_after_bounded_attempts(kvs: FakeKeyValueStore) -> None:
    # Given a store some other writer changes before every one of our writes
    route("site--acme", 5)

    def interfere() -> None:
        kvs.foreign_write()
        kvs.before_write = interfere

    kvs.before_write = interfere

    # When the record is consumed, then the mirror gives up after MAX_ATTEMPTS; the batch's only record
    # failed, so the invocation fails (Powertools' rule for an entirely failed batch) and Lambda retries it
    with pytest.raises(BatchProcessingError):
        consume(stream_record("site--acme"))
    assert kvs.conflicts == route_mirror.MAX_ATTEMPTS


def test_a_failing_record_is_reported_while_the_others_succeed(kvs: FakeKeyValueStore) -> None:
    # Given three changed routes, one of which the store refuses to take
    for deployment_id, host in enumerate(["a--acme", "b--acme", "c--acme"], start=1):
        route(host, deployment_id)
    kvs.failing_keys = {"b--acme"}
    records = [stream_record(host, "INSERT") for host in ("a--acme", "b--acme", "c--acme")]

    # When the batch is consumed
    response = consume(*records)

    # Then only b's record is in batchItemFailures, by its sequence number; a and c are mirrored
    assert response == {"batchItemFailures": [{"itemIdentifier": records[1]["dynamodb"]["SequenceNumber"]}]}
    assert kvs.data == {"a--acme": "deployments/1/", "c--acme": "deployments/3/"}


def test_a_batch_is_written_with_update_keys_fifty_keys_a_request(kvs: FakeKeyValueStore) -> None:
    # Given 120 new routes and one removed route whose key is already absent (a redelivered REMOVE)
    hosts = [f"d{i}--site--acme" for i in range(120)]
    for i, host in enumerate(hosts):
        route(host, i)
    records = [stream_record(host, "INSERT") for host in hosts] + [stream_record("gone--acme", "REMOVE")]

    # When the batch is consumed
    response = consume(*records)

    # Then every route is in the store and none failed
    assert response == {"batchItemFailures": []}
    assert kvs.data == {host: f"deployments/{i}/" for i, host in enumerate(hosts)}
    # in three UpdateKeys (50 + 50 + 21 keys); the last, refused for the absent key, was redone key by key
    assert kvs.calls.count("UpdateKeys") == 3
    assert kvs.calls.count("PutKey") == 20 and kvs.calls.count("DeleteKey") == 1


def test_duplicate_and_out_of_order_records_converge_on_the_current_rows(kvs: FakeKeyValueStore) -> None:
    # Given a history of writes: production moves 1 -> 2 -> 3, a preview comes and goes, a deployment appears
    records = []
    for deployment_id in (1, 2, 3):
        route("site--acme", deployment_id)
        records.append(stream_record("site--acme", "INSERT" if deployment_id == 1 else "MODIFY"))
    route("site--acme--git--x", 4)
    records.append(stream_record("site--acme--git--x", "INSERT"))
    unroute("site--acme--git--x")
    records.append(stream_record("site--acme--git--x", "REMOVE"))
    route("d5--site--acme", 5)
    records.append(stream_record("d5--site--acme", "INSERT"))

    # When the records arrive shuffled, duplicated, split over batches (shards) in any order
    shuffled = random.Random(7).sample(records * 2, len(records) * 2)
    for start in (6, 0, 9, 3):
        consume(*shuffled[start : start + 3])

    # Then the store says what the table says now
    assert kvs.data == table_contents() == {"site--acme": "deployments/3/", "d5--site--acme": "deployments/5/"}


def test_a_mirror_that_read_a_row_since_changed_cannot_land_its_stale_value(
    kvs: FakeKeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given production on deployment 1, and a mirror that has just read that row when production moves to 2
    # and another shard's mirror writes 2 into the store, all before the first mirror writes
    route("site--acme", 1)
    read_rows = route_mirror._desired
    races = []

    def read_then_lose_the_race(hosts: Any) -> list[route_mirror.Change]:
        rows = read_rows(hosts)
        if not races:
            races.append(rows)
            route("site--acme", 2)
            assert consume(stream_record("site--acme")) == {"batchItemFailures": []}
        return rows

    monkeypatch.setattr(route_mirror, "_desired", read_then_lose_the_race)

    # When the slower mirror writes what it read
    response = consume(stream_record("site--acme"))

    # Then the ETag it took before its read is stale, so it reads again and writes 2, never 1
    assert races == [[route_mirror.Change("site--acme", "deployments/1/")]]
    assert response == {"batchItemFailures": []}
    assert kvs.conflicts == 1
    assert kvs.data == {"site--acme": "deployments/2/"}


def test_a_write_of_an_unchanged_value_still_moves_the_etag_so_an_older_mirror_cannot_land(
    kvs: FakeKeyValueStore,
) -> None:
    # Given production on 1, mirrored; then production moves to 2 and a mirror reads 2 ...
    route("site--acme", 1)
    consume(stream_record("site--acme"))
    route("site--acme", 2)

    def rolled_back_and_mirrored() -> None:
        # ... but before it writes, production is rolled back to 1, which the store already holds
        route("site--acme", 1)
        assert consume(stream_record("site--acme")) == {"batchItemFailures": []}

    kvs.before_write = rolled_back_and_mirrored

    # When the mirror that read 2 writes
    consume(stream_record("site--acme"))

    # Then it is refused (the rollback's mirror wrote 1 again, moving the ETag) and the store ends on 1
    assert kvs.conflicts == 1
    assert kvs.data == {"site--acme": "deployments/1/"}


def test_a_value_too_large_for_the_store_removes_the_key_rather_than_serving_the_old_one(
    kvs: FakeKeyValueStore,
) -> None:
    # Given a mirrored route whose prefix then grows beyond the store's 1 KB limit
    route("site--acme", 1)
    consume(stream_record("site--acme"))
    Route(host="site--acme", artifact_prefix="p" * 1025, deployment_id=2, project_id=1).save()

    # When its record is consumed
    response = consume(stream_record("site--acme"))

    # Then the record does not block the shard, and the label no longer serves deployment 1
    assert response == {"batchItemFailures": []}
    assert kvs.data == {}


def test_the_lambda_handler_is_the_consumer(kvs: FakeKeyValueStore) -> None:
    from chalicelib.functions.route_sync import route_sync

    # Given a route
    route("site--acme", 4)

    # When Lambda invokes the Chalice function with a stream batch
    response = route_sync(stream_event(stream_record("site--acme", "INSERT")), None)

    # Then the store holds it
    assert response == {"batchItemFailures": []}
    assert kvs.data == {"site--acme": "deployments/4/"}


# ---- reconcile ----


def _drift(kvs: FakeKeyValueStore) -> dict[str, str]:
    """70 routes in the table; the store misses some, holds stale values for others and keys nobody has."""
    for i in range(70):
        route(f"d{i}--site--acme", i)
    wanted = table_contents()
    kvs.data = dict(wanted)
    for i in range(10):
        del kvs.data[f"d{i}--site--acme"]  # lost INSERT records
    for i in range(10, 15):
        kvs.data[f"d{i}--site--acme"] = "deployments/999/"  # lost MODIFY records
    kvs.data.update({f"gone{i}--acme": "deployments/1/" for i in range(55)})  # lost REMOVE records
    return wanted


def test_reconcile_repairs_a_drifted_store(kvs: FakeKeyValueStore) -> None:
    # Given a store that drifted from the table (more keys than one ListKeys page or one UpdateKeys holds)
    wanted = _drift(kvs)

    # When reconcile runs
    report = route_mirror.reconcile()

    # Then the store holds exactly the table
    assert kvs.data == wanted
    assert len(report.put) == 15 and len(report.deleted) == 55 and report.changed == 70
    assert kvs.calls.count("ListKeys") == 3  # 60 + 55 keys held, 50 a page

    # And a second run finds nothing to do and writes nothing
    kvs.calls.clear()
    assert route_mirror.reconcile().changed == 0
    assert set(kvs.calls) == {"DescribeKeyValueStore", "ListKeys"}


def test_reconcile_starts_over_when_the_store_changes_under_it(kvs: FakeKeyValueStore) -> None:
    # Given a drifted store, and a mirror that writes to it while reconcile is about to write
    wanted = _drift(kvs)
    route("new--acme", 77)

    def mirror_lands_first() -> None:
        route_mirror.mirror(["new--acme"])

    kvs.before_write = mirror_lands_first

    # When reconcile runs
    route_mirror.reconcile()

    # Then its first write was refused, and the second (fresh ETag, fresh reads) made the store agree
    assert kvs.conflicts == 1
    assert kvs.data == {**wanted, "new--acme": "deployments/77/"}


def test_the_scheduled_handler_reconciles_when_a_store_is_configured(kvs: FakeKeyValueStore) -> None:
    # Given a store that lost a stream record
    route("site--acme", 3)

    # When the scheduled handler runs
    summary = scheduler.handle_event({"time": "2026-01-01T00:00:00Z"})

    # Then the route is repaired within that run
    assert summary["routes_repaired"] == 1
    assert kvs.data == {"site--acme": "deployments/3/"}


def test_a_failing_reconcile_does_not_fail_the_scheduled_run(kvs: FakeKeyValueStore) -> None:
    # Given a store that refuses the write
    route("site--acme", 3)
    kvs.failing_keys = {"site--acme"}

    # When the scheduled handler runs, then it completes and reports the failed reconcile as -1
    assert scheduler.handle_event({"time": "2026-01-01T00:00:00Z"})["routes_repaired"] == -1


# ---- the scheduled reconcile: hourly, and only after changes ----


def _scheduled_run(minutes_after_midnight: int) -> dict[str, int]:
    """The scheduled handler as EventBridge invokes it, `minutes_after_midnight` into 2026-01-01."""
    moment = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes_after_midnight)
    return scheduler.handle_event({"time": moment.strftime("%Y-%m-%dT%H:%M:%SZ")})


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the Scans of the routes table (the reconcile's full read)."""
    counted: list[int] = []
    real_scan = Route.scan

    def counting_scan(*args: Any, **kwargs: Any) -> Any:
        counted.append(1)
        return real_scan(*args, **kwargs)

    monkeypatch.setattr(Route, "scan", counting_scan)
    return counted


def test_an_idle_stack_makes_no_key_value_store_call_and_no_scan_until_the_daily_reconcile(
    kvs: FakeKeyValueStore, scans: list[int]
) -> None:
    # Given a store the first scheduled run reconciled with the routes table
    route("site--acme", 3)
    assert _scheduled_run(0)["routes_reconciled"] == 1
    assert kvs.data == {"site--acme": "deployments/3/"}
    kvs.calls.clear()
    scans.clear()

    # When the scheduled handler runs through the following day (every minute for two hours, then hourly) and
    # nothing changes
    minutes = [*range(1, 121), *range(180, 24 * 60, 60)]
    summaries = [_scheduled_run(minute) for minute in minutes]

    # Then no run called the KeyValueStore or scanned the routes table (hourly checks found no change counted)
    assert [s["routes_reconciled"] for s in summaries] == [0] * len(minutes)
    assert kvs.calls == [] and scans == []

    # And a day after the last reconcile, one runs whatever the count says (drift no stream record announces)
    kvs.foreign_write("planted--acme", "deployments/666/")
    summary = _scheduled_run(24 * 60)
    assert (summary["routes_reconciled"], summary["routes_repaired"]) == (1, 1)
    assert kvs.data == {"site--acme": "deployments/3/"}


def test_a_change_the_stream_saw_is_reconciled_at_the_next_hourly_check(kvs: FakeKeyValueStore) -> None:
    # Given a reconciled store, and then a new route whose stream record the store refused to take
    route("site--acme", 3)
    assert _scheduled_run(0)["routes_reconciled"] == 1
    route("d9--site--acme", 9)
    kvs.failing_keys = {"d9--site--acme"}
    with pytest.raises(BatchProcessingError):
        consume(stream_record("d9--site--acme", "INSERT"))
    kvs.failing_keys = set()
    assert "d9--site--acme" not in kvs.data

    # When the scheduled handler runs within the hour, then at the hour
    within_the_hour = _scheduled_run(30)
    at_the_hour = _scheduled_run(60)

    # Then the check waits for the hour, and then reconciles, because the consumer counted a change
    assert within_the_hour["routes_reconciled"] == 0
    assert (at_the_hour["routes_reconciled"], at_the_hour["routes_repaired"]) == (1, 1)
    assert kvs.data == table_contents()
    # And a second run in the same minute (EventBridge delivers at least once) does not check again
    assert _scheduled_run(60)["routes_reconciled"] == 0


# ---- without a KeyValueStore (the embedded stack) ----


@pytest.fixture
def no_store(kvs: FakeKeyValueStore, settings_env: Callable[..., None]) -> Iterator[FakeKeyValueStore]:
    settings_env(DEPLOYD_SITES_KVS_ARN=None)
    yield kvs


def test_without_a_store_the_consumer_acknowledges_every_record_and_calls_nothing(
    no_store: FakeKeyValueStore,
) -> None:
    # Given a route change on the embedded stack, whose site server reads the routes table itself
    route("site--acme", 1)

    # When its record reaches the consumer
    response = consume(stream_record("site--acme", "INSERT"))

    # Then nothing is mirrored and nothing fails (a failure would only make Lambda retry the shard)
    assert response == {"batchItemFailures": []}
    assert no_store.calls == []


def test_without_a_store_the_scheduled_handler_does_not_reconcile(no_store: FakeKeyValueStore) -> None:
    route("site--acme", 1)

    summary = scheduler.handle_event({"time": "2026-01-01T00:00:00Z"})

    assert "routes_repaired" not in summary
    assert no_store.calls == []
