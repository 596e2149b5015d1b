"""The embedded stack's snapshots (chalicelib.local.snapshots): tables and buckets exported through the DynamoDB and S3
APIs into a data directory and imported back whole; a failed write leaves the previous snapshot as it was; a
snapshot that cannot be read is refused with the file's name and the ways out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.aws import client
from chalicelib.infra.resources import BUILD_LOGS_BUCKET, CATALOGUE, DEPLOYMENTS, REGISTRY, SITES_BUCKET
from chalicelib.local.moto_compat import record_changes, stop_recording, take_changes
from chalicelib.local.provision import table_request
from chalicelib.local.snapshots import DataDirectory, Manifest, Snapshots, SnapshotUnreadable, data_directory
from chalicelib.settings import Settings, get_settings


def provisioned(prefix: str) -> Settings:
    """The catalogue's tables and buckets under another resource prefix: a second, empty stack in the same mock."""
    settings = get_settings()._replace(resource_prefix=prefix)
    for table in CATALOGUE.tables:
        client("dynamodb").create_table(**table_request(table, settings))
    for bucket in CATALOGUE.buckets:
        client("s3").create_bucket(Bucket=settings.resource_name(bucket.logical))
    return settings


def snapshots(path: Path, settings: Settings) -> Snapshots:
    directory = DataDirectory(path)
    manifest = directory.open()
    clients = {"dynamodb": client("dynamodb"), "s3": client("s3")}
    return Snapshots(directory, manifest, clients, settings, take_changes)


def scan(settings: Settings, logical: str) -> list[dict[str, Any]]:
    items = client("dynamodb").scan(TableName=settings.resource_name(logical))["Items"]
    return sorted(items, key=repr)


DEPLOYMENT = {
    "id": {"N": "7"},
    "status": {"S": "deployed"},
    "payload": {"M": {"raw": {"B": b"\x00\xffbytes"}, "list": {"L": [{"N": "1"}, {"S": "two"}]}}},
    "live": {"BOOL": True},
}


@pytest.fixture
def counted() -> Iterator[None]:
    record_changes()
    yield
    stop_recording()


def test_a_restored_stack_holds_the_items_and_objects_it_had(tables: None, counted: None, tmp_path: Path) -> None:
    # Given a stack with an item of every kind of value, an id counter, a site file and a build log
    source = get_settings()
    dynamodb, s3 = client("dynamodb"), client("s3")
    dynamodb.put_item(TableName=source.resource_name(DEPLOYMENTS.logical), Item=DEPLOYMENT)
    dynamodb.put_item(
        TableName=source.resource_name(REGISTRY.logical),
        Item={"name": {"S": "sequence#deployment"}, "value": {"N": "7"}},
    )
    site = {"Bucket": source.resource_name(SITES_BUCKET.logical), "Key": "deployments/7/index.html"}
    s3.put_object(**site, Body=b"<h1>hi</h1>", ContentType="text/html")
    s3.put_object(Bucket=source.resource_name(BUILD_LOGS_BUCKET.logical), Key="7.log", Body=b"built\n")

    # When a snapshot is written, and read back into an empty stack
    written = snapshots(tmp_path / "data", source)
    assert written.snapshot()
    written.directory.close()
    target = provisioned("restored")
    snapshots(tmp_path / "data", target).restore()

    # Then the new stack has the same items, byte for byte, and the same objects with their content type
    assert scan(target, DEPLOYMENTS.logical) == scan(source, DEPLOYMENTS.logical)
    assert scan(target, REGISTRY.logical) == scan(source, REGISTRY.logical)
    restored = s3.get_object(Bucket=target.resource_name(SITES_BUCKET.logical), Key=site["Key"])
    assert (restored["Body"].read(), restored["ContentType"]) == (b"<h1>hi</h1>", "text/html")
    log = s3.get_object(Bucket=target.resource_name(BUILD_LOGS_BUCKET.logical), Key="7.log")
    assert log["Body"].read() == b"built\n"


def test_only_what_changed_is_written_again_and_what_is_gone_is_removed(
    tables: None, counted: None, tmp_path: Path
) -> None:
    # Given a snapshot of a stack with one site file
    settings = get_settings()
    s3 = client("s3")
    bucket = settings.resource_name(SITES_BUCKET.logical)
    s3.put_object(Bucket=bucket, Key="a.html", Body=b"old")
    store = snapshots(tmp_path / "data", settings)
    assert store.snapshot()
    written = (tmp_path / "data" / "snapshot.json").read_bytes()

    # When nothing changed, no snapshot is written
    assert not store.snapshot()
    assert (tmp_path / "data" / "snapshot.json").read_bytes() == written

    # When the file is replaced, the next snapshot keeps the new content and drops the old one's file
    s3.put_object(Bucket=bucket, Key="a.html", Body=b"new")
    assert store.snapshot()
    objects = list((tmp_path / "data" / "objects").iterdir())
    assert [path.read_bytes() for path in objects] == [b"new"]


def test_a_snapshot_that_fails_midway_leaves_the_previous_one_whole(
    tables: None, counted: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a snapshot holding one deployment
    settings = get_settings()
    deployments = settings.resource_name(DEPLOYMENTS.logical)
    client("dynamodb").put_item(TableName=deployments, Item=DEPLOYMENT)
    store = snapshots(tmp_path / "data", settings)
    assert store.snapshot()

    # When the next snapshot fails while writing a file (the disk full, the machine stopping)
    client("dynamodb").put_item(TableName=deployments, Item={**DEPLOYMENT, "id": {"N": "8"}})
    client("s3").put_object(Bucket=settings.resource_name(SITES_BUCKET.logical), Key="x", Body=b"x")

    def full(data: bytes) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.directory, "write_blob", full)
    with pytest.raises(OSError):
        store.snapshot()
    store.directory.close()

    # Then the data directory still opens on the first snapshot, whole: one deployment
    restored = snapshots(tmp_path / "data", provisioned("restored"))
    restored.restore()
    assert [item["id"] for item in scan(restored._settings, DEPLOYMENTS.logical)] == [{"N": "7"}]


def _refusal(path: Path) -> str:
    with pytest.raises(SnapshotUnreadable) as refused:
        DataDirectory(path).open()
    return str(refused.value)


def test_a_snapshot_of_another_version_is_refused_naming_the_file_and_the_ways_out(tmp_path: Path) -> None:
    # Given a data directory written by a later deployd
    (tmp_path / "snapshot.json").write_text(json.dumps({"format": "deployd-snapshot", "version": 2}))

    # When it is opened, Then it is refused with the file, why, and both ways out
    message = _refusal(tmp_path)
    assert str(tmp_path / "snapshot.json") in message
    assert "incompatible version" in message
    assert f"move the data directory {tmp_path} away" in message
    assert "DEPLOYD_DATA_DIR=memory" in message


def test_a_snapshot_missing_a_file_it_names_is_refused_naming_that_file(tmp_path: Path) -> None:
    # Given a snapshot naming a table file that is not there
    manifest = Manifest(tables={DEPLOYMENTS.logical: "0" * 64})
    (tmp_path / "snapshot.json").write_bytes(manifest.to_bytes())

    # When it is opened, Then the missing file is named, and the snapshot is left where it was
    assert str(tmp_path / "tables" / ("0" * 64)) in _refusal(tmp_path)
    assert (tmp_path / "snapshot.json").read_bytes() == manifest.to_bytes()


def test_a_data_directory_is_used_by_one_stack_at_a_time(tmp_path: Path) -> None:
    from chalicelib.local.snapshots import DataDirectoryInUse

    # Given a stack holding a data directory
    holder = DataDirectory(tmp_path)
    holder.open()

    # When another opens it, Then it is refused, naming the directory; once the first lets go, it may
    with pytest.raises(DataDirectoryInUse, match=str(tmp_path)):
        DataDirectory(tmp_path).open()
    holder.close()
    DataDirectory(tmp_path).open()


def test_the_data_directory_is_in_the_checkout_unless_moved_or_memory(tmp_path: Path) -> None:
    assert data_directory(None, tmp_path) == tmp_path / ".deployd"
    assert data_directory("", tmp_path) == tmp_path / ".deployd"
    assert data_directory(str(tmp_path / "elsewhere"), Path("/checkout")) == tmp_path / "elsewhere"
    assert data_directory("memory", tmp_path) is None


def test_a_generated_admin_token_is_kept_readable_by_its_owner_only(tmp_path: Path) -> None:
    # Given a data directory with no admin token yet, When one is generated, Then the next start finds the same
    first = DataDirectory(tmp_path).admin_token()
    assert DataDirectory(tmp_path).admin_token() == first
    assert first.startswith("adm_")
    assert (tmp_path / "admin-token").stat().st_mode & 0o777 == 0o600
