"""The embedded stack's data directory: every table and bucket of the catalogue, written to disk every few seconds
and read back at start-up, through the DynamoDB and S3 APIs the stack serves (docs/durability.md).

Layout of a data directory:
  snapshot.json        the manifest: format and version, and what makes up the snapshot (written last)
  tables/<sha256>      one table's items as DynamoDB JSON, named by the hash of its content
  objects/<sha256>     one S3 object's bytes, named by the hash of its content
  admin-token          the generated admin token, so it survives restarts too
Every file is written atomically (a temporary file, fsync, rename), and the manifest is renamed into place only
after every file it names is, so a crash at any moment leaves the previous snapshot whole.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.infra.resources import CATALOGUE, Bucket, Catalogue, Table
from chalicelib.settings import Settings

FORMAT = "deployd-snapshot"
# Raised when what a snapshot holds changes shape; a snapshot of another version is refused, never guessed at.
VERSION = 1
MEMORY = "memory"  # DEPLOYD_DATA_DIR's value that keeps nothing
MANIFEST = "snapshot.json"
# A change is on disk within this interval plus one snapshot's duration: well inside the 5 seconds a crash may lose.
INTERVAL_SECONDS = 2.0
# A snapshot exports again the tables written while it exported; after this many rounds it writes what it has.
CONSISTENCY_ROUNDS = 5
BATCH_WRITE_SIZE = 25  # BatchWriteItem's limit
SCAN_PAGE_SIZE = 200  # each page holds the emulator's DynamoDB lock briefly

log = logging.getLogger(__name__)


class SnapshotUnreadable(Exception):
    """The data directory holds a snapshot this version of deployd cannot restore; start-up stops."""

    def __init__(self, path: Path, reason: str, directory: Path) -> None:
        super().__init__(
            f"deployd cannot start: the snapshot file {path} cannot be read ({reason}).\n"
            "Nothing was changed or deleted. Either:\n"
            f"  - move the data directory {directory} away (deployd then starts empty, and keeps what you moved), or\n"
            f"  - start with DEPLOYD_DATA_DIR={MEMORY} to run without keeping anything."
        )
        self.path = path


class DataDirectoryInUse(Exception):
    def __init__(self, directory: Path) -> None:
        super().__init__(
            f"deployd cannot start: the data directory {directory} is in use by another deployd on this machine.\n"
            f"Stop that one, or give this one its own directory (DEPLOYD_DATA_DIR=<path>, or {MEMORY})."
        )


def data_directory(value: str | None, checkout: Path) -> Path | None:
    """Where the stack keeps its data: DEPLOYD_DATA_DIR's `value` (None: `.deployd/` in the checkout), or None
    for `memory` (nothing kept)."""
    if value == MEMORY:
        return None
    return Path(value).expanduser().resolve() if value else checkout / ".deployd"


def write_atomically(path: Path, data: bytes) -> None:
    """`path` holds `data` whole, or what it held before: never a part of it, even if the machine stops."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself
    finally:
        os.close(directory)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- DynamoDB JSON on disk: what the low-level client returns, with binary values as base64 ---


def _attribute_to_json(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": {name: _attribute_to_json(v) for name, v in inner.items()}}
    if kind == "L":
        return {"L": [_attribute_to_json(v) for v in inner]}
    return value


def _attribute_from_json(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": {name: _attribute_from_json(v) for name, v in inner.items()}}
    if kind == "L":
        return {"L": [_attribute_from_json(v) for v in inner]}
    return value


@dataclass
class StoredObject:
    blob: str  # sha256 of the bytes, the file's name under objects/
    size: int
    etag: str
    headers: dict[str, Any]  # PutObject arguments: ContentType, Metadata, CacheControl, ContentEncoding

    def to_json(self) -> dict[str, Any]:
        return {"blob": self.blob, "size": self.size, "etag": self.etag, "headers": self.headers}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> StoredObject:
        return cls(str(value["blob"]), int(value["size"]), str(value["etag"]), dict(value["headers"]))


@dataclass
class Manifest:
    tables: dict[str, str] = field(default_factory=dict)  # logical name -> file under tables/
    buckets: dict[str, dict[str, StoredObject]] = field(default_factory=dict)  # logical -> key -> object
    written_at: str = ""

    def to_bytes(self) -> bytes:
        body = {
            "format": FORMAT,
            "version": VERSION,
            "written_at": self.written_at,
            "tables": self.tables,
            "buckets": {name: {k: o.to_json() for k, o in objects.items()} for name, objects in self.buckets.items()},
        }
        return json.dumps(body, separators=(",", ":")).encode()

    def blobs(self) -> set[str]:
        return {o.blob for objects in self.buckets.values() for o in objects.values()}


_HEADERS = ("ContentType", "Metadata", "CacheControl", "ContentEncoding", "ContentDisposition")


class DataDirectory:
    """One stack's data directory, held (an exclusive lock) from `open` until the process ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.manifest_path = path / MANIFEST
        self.tables_path = path / "tables"
        self.objects_path = path / "objects"
        self._lock_file: Any = None

    def open(self) -> Manifest:
        """Take the directory and read its snapshot (empty if there is none yet); SnapshotUnreadable if it cannot
        be read whole, before anything was changed."""
        for directory in (self.path, self.tables_path, self.objects_path):
            directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = (self.path / ".lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self.close()
            raise DataDirectoryInUse(self.path) from exc
        try:
            manifest = self._read_manifest()
        except SnapshotUnreadable:
            self.close()
            raise
        self._sweep(manifest)
        return manifest

    def close(self) -> None:
        """Let another stack take the directory."""
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def _unreadable(self, path: Path, reason: str) -> SnapshotUnreadable:
        return SnapshotUnreadable(path, reason, self.path)

    def _read_manifest(self) -> Manifest:
        if not self.manifest_path.exists():
            return Manifest()
        try:
            body = json.loads(self.manifest_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise self._unreadable(self.manifest_path, f"corrupt: {exc}") from exc
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise self._unreadable(self.manifest_path, "not a deployd snapshot")
        if body.get("version") != VERSION:
            raise self._unreadable(
                self.manifest_path,
                f"written by an incompatible version of deployd: snapshot version {body.get('version')!r}, "
                f"this deployd reads version {VERSION}",
            )
        try:
            manifest = Manifest(
                tables={str(k): str(v) for k, v in body["tables"].items()},
                buckets={
                    str(name): {str(k): StoredObject.from_json(o) for k, o in objects.items()}
                    for name, objects in body["buckets"].items()
                },
                written_at=str(body.get("written_at", "")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._unreadable(self.manifest_path, f"malformed: {exc!r}") from exc
        for name in manifest.tables.values():
            self.table_items(name)  # each one whole and parseable, before anything is imported
        for objects in manifest.buckets.values():
            for stored in objects.values():
                blob = self.objects_path / stored.blob
                if not blob.is_file() or blob.stat().st_size != stored.size:
                    raise self._unreadable(blob, "an object the snapshot names is missing or truncated")
        return manifest

    def table_items(self, name: str) -> list[dict[str, Any]]:
        path = self.tables_path / name
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise self._unreadable(path, f"a table the snapshot names cannot be read: {exc.strerror}") from exc
        if _digest(data) != name:
            raise self._unreadable(path, "a table file's content does not match its checksum")
        try:
            return [{k: _attribute_from_json(v) for k, v in item.items()} for item in json.loads(data)["items"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._unreadable(path, f"malformed table: {exc!r}") from exc

    def write_table(self, items: list[dict[str, Any]]) -> str:
        data = json.dumps(
            {"items": [{k: _attribute_to_json(v) for k, v in item.items()} for item in items]}, separators=(",", ":")
        ).encode()
        name = _digest(data)
        path = self.tables_path / name
        if not path.exists():
            write_atomically(path, data)
        return name

    def write_blob(self, data: bytes) -> str:
        name = _digest(data)
        path = self.objects_path / name
        if not path.exists():
            write_atomically(path, data)
        return name

    def commit(self, manifest: Manifest, previous: Manifest) -> None:
        """Make `manifest` the snapshot, then remove the files only `previous` named."""
        manifest.written_at = datetime.now(UTC).isoformat()
        write_atomically(self.manifest_path, manifest.to_bytes())
        for name in set(previous.tables.values()) - set(manifest.tables.values()):
            (self.tables_path / name).unlink(missing_ok=True)
        for name in previous.blobs() - manifest.blobs():
            (self.objects_path / name).unlink(missing_ok=True)

    def _sweep(self, manifest: Manifest) -> None:
        """Files the snapshot does not name: written by a snapshot that never committed, or temporary files."""
        keep = {"tables": set(manifest.tables.values()), "objects": manifest.blobs()}
        for directory in (self.tables_path, self.objects_path):
            for path in directory.iterdir():
                if path.name not in keep[directory.name]:
                    path.unlink(missing_ok=True)
        for path in self.path.glob(".*.tmp"):
            path.unlink(missing_ok=True)

    def admin_token(self) -> str:
        """The admin token this directory's stack generated the first time it started, made now if none was."""
        path = self.path / "admin-token"
        if path.exists():
            return path.read_text().strip()
        token = f"adm_{secrets.token_urlsafe(24)}"
        write_atomically(path, token.encode())
        path.chmod(0o600)
        return token


class Snapshots:
    """Exports the catalogue's tables and buckets into a DataDirectory, and imports them back.

    `changes` says how many writes each table and bucket has seen ("dynamodb:<name>", "s3:<name>"); only those
    written since the last snapshot are exported again."""

    def __init__(
        self,
        directory: DataDirectory,
        manifest: Manifest,
        clients: dict[str, Any],
        settings: Settings,
        changes: Callable[[], dict[str, int]],
        catalogue: Catalogue = CATALOGUE,
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self._dynamodb = clients["dynamodb"]
        self._s3 = clients["s3"]
        self._settings = settings
        self._changes = changes
        self._catalogue = catalogue
        self._exported: dict[str, int] = {}  # the change counts the current snapshot reflects
        self._writing = threading.Lock()

    def _table_key(self, table: Table) -> str:
        return f"dynamodb:{self._settings.resource_name(table.logical)}"

    def _bucket_key(self, bucket: Bucket) -> str:
        return f"s3:{self._settings.resource_name(bucket.logical)}"

    # --- restore ---

    def restore(self) -> None:
        """Write the snapshot's items and objects into the freshly provisioned tables and buckets."""
        now = int(time.time())
        for table in self._catalogue.tables:
            name = self.manifest.tables.get(table.logical)
            if name is None:
                continue
            items = self.directory.table_items(name)
            if table.ttl_attribute:  # what DynamoDB would have deleted by now is not brought back
                attribute = table.ttl_attribute
                items = [i for i in items if attribute not in i or int(i[attribute].get("N", now + 1)) > now]
            self._import_table(self._settings.resource_name(table.logical), items)
        for bucket in self._catalogue.buckets:
            physical = self._settings.resource_name(bucket.logical)
            for key, stored in self.manifest.buckets.get(bucket.logical, {}).items():
                body = (self.directory.objects_path / stored.blob).read_bytes()
                answer = self._s3.put_object(Bucket=physical, Key=key, Body=body, **stored.headers)
                stored.etag = str(answer["ETag"])
        self._exported = self._changes()  # what was just imported is what the snapshot holds

    def _import_table(self, physical: str, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), BATCH_WRITE_SIZE):
            requests = {physical: [{"PutRequest": {"Item": i}} for i in items[start : start + BATCH_WRITE_SIZE]]}
            while requests:
                requests = self._dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}

    # --- snapshot ---

    def snapshot(self) -> bool:
        """Write a snapshot if anything changed since the last one; True if one was written."""
        with self._writing:
            counts = self._changes()
            tables = [
                t
                for t in self._catalogue.tables
                if counts.get(self._table_key(t)) != self._exported.get(self._table_key(t))
            ]
            buckets = [
                b
                for b in self._catalogue.buckets
                if counts.get(self._bucket_key(b)) != self._exported.get(self._bucket_key(b))
            ]
            if not tables and not buckets:
                return False
            manifest = Manifest(dict(self.manifest.tables), {k: dict(v) for k, v in self.manifest.buckets.items()})
            counts = self._export_tables(manifest, tables, counts)
            # Objects after tables: an item that names an object was written after it, so the object is found.
            for bucket in buckets:
                counts[self._bucket_key(bucket)] = self._changes().get(self._bucket_key(bucket), 0)
                manifest.buckets[bucket.logical] = self._export_bucket(bucket)
            self.directory.commit(manifest, self.manifest)
            self.manifest = manifest
            self._exported = counts
            return True

    def _export_tables(self, manifest: Manifest, tables: list[Table], before: dict[str, int]) -> dict[str, int]:
        """Export `tables`, then again those written meanwhile, until a round sees no table written: the tables
        are then as they all were at one instant (a transaction is never half in the snapshot)."""
        for _ in range(CONSISTENCY_ROUNDS):
            for table in tables:
                manifest.tables[table.logical] = self.directory.write_table(self._scan(table))
            after = self._changes()
            tables = [
                t for t in self._catalogue.tables if after.get(self._table_key(t)) != before.get(self._table_key(t))
            ]
            for key, count in after.items():
                if key.startswith("dynamodb:"):
                    before[key] = count
            if not tables:
                return before
        log.warning("snapshot written while tables kept changing; a restore repairs what a write half made")
        return before

    def _scan(self, table: Table) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": self._settings.resource_name(table.logical),
            "ConsistentRead": True,
            "Limit": SCAN_PAGE_SIZE,
        }
        while True:
            page = self._dynamodb.scan(**request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _export_bucket(self, bucket: Bucket) -> dict[str, StoredObject]:
        physical = self._settings.resource_name(bucket.logical)
        known = self.manifest.buckets.get(bucket.logical, {})
        objects: dict[str, StoredObject] = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=physical):
            for summary in page.get("Contents", []):
                key, etag = str(summary["Key"]), str(summary["ETag"])
                stored = known.get(key)
                if stored is not None and stored.etag == etag:
                    objects[key] = stored
                    continue
                with contextlib.suppress(self._s3.exceptions.NoSuchKey):  # deleted since the listing
                    answer = self._s3.get_object(Bucket=physical, Key=key)
                    data = answer["Body"].read()
                    headers = {name: answer[name] for name in _HEADERS if answer.get(name)}
                    objects[key] = StoredObject(
                        self.directory.write_blob(data), len(data), str(answer["ETag"]), headers
                    )
        return objects


class PeriodicSnapshots(threading.Thread):
    """Takes a snapshot every INTERVAL_SECONDS while the stack runs; a failed one is logged and tried again."""

    def __init__(self, snapshots: Snapshots, interval_seconds: float = INTERVAL_SECONDS) -> None:
        super().__init__(name="snapshots", daemon=True)
        self._snapshots = snapshots
        self._interval = interval_seconds
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._snapshots.snapshot()
            except Exception:
                log.exception("snapshot failed; the previous one stays on disk")

    def stop(self) -> None:
        self._stopped.set()
        self.join()
