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
import dataclasses
import fcntl
import functools
import hashlib
import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.infra.resources import CATALOGUE, Catalogue, Table
from chalicelib.settings import Settings

FORMAT = "deployd-snapshot"
# Raised when what a snapshot holds changes shape; a snapshot of another version is refused, never guessed at.
VERSION = 1
MEMORY = "memory"  # DEPLOYD_DATA_DIR's value that keeps nothing
MANIFEST = "snapshot.json"
# A change is on disk within this interval plus one snapshot's duration: well inside the 5 seconds a crash may lose.
INTERVAL_SECONDS = 2.0
# A snapshot reads again the items written while it read; after this many rounds it writes what it has.
CONSISTENCY_ROUNDS = 5
BATCH_WRITE_SIZE = 25  # BatchWriteItem's limit
BATCH_GET_SIZE = 100  # BatchGetItem's limit
# Items and objects are put back this many requests at a time: each waits for the endpoint most of its time.
RESTORE_THREADS = 4

log = logging.getLogger(__name__)


class SnapshotUnreadable(Exception):
    """The data directory holds a snapshot this version of deployd cannot restore; start-up stops."""

    def __init__(self, path: Path, reason: str, directory: Path) -> None:
        super().__init__(
            f"deployd cannot start: the snapshot file {path} cannot be read ({reason}).\n"
            "The snapshot was left as it is. Either:\n"
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


def write_atomically(path: Path, data: bytes, flush: bool = True, mode: int = 0o644) -> None:
    """`path` holds `data` whole, or what it held before: never a part of it, even if the machine stops. With
    `flush` False the caller flushes the file and its directory itself before anything names it. `mode` applies
    before any byte is written."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as file:
            file.write(data)
            if flush:
                file.flush()
                os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if flush:
        _flush_directory(path.parent)  # the rename itself


def _flush_directory(path: Path) -> None:
    directory = os.open(path, os.O_RDONLY)
    try:
        os.fsync(directory)
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


def _encode_item(item: dict[str, Any]) -> str:
    return json.dumps({name: _attribute_to_json(value) for name, value in item.items()}, separators=(",", ":"))


@dataclass(frozen=True)
class StoredObject:
    blob: str  # sha256 of the bytes, the file's name under objects/
    size: int
    etag: str
    headers: dict[str, Any]  # PutObject arguments: ContentType, Metadata, CacheControl, ContentEncoding

    @functools.cached_property
    def encoded(self) -> str:
        """Its entry in the manifest, made once: a manifest written every few seconds lists every object."""
        value = {"blob": self.blob, "size": self.size, "etag": self.etag, "headers": self.headers}
        return json.dumps(value, separators=(",", ":"))

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> StoredObject:
        return cls(str(value["blob"]), int(value["size"]), str(value["etag"]), dict(value["headers"]))


@dataclass
class Manifest:
    tables: dict[str, str] = field(default_factory=dict)  # logical name -> file under tables/
    buckets: dict[str, dict[str, StoredObject]] = field(default_factory=dict)  # logical -> key -> object
    written_at: str = ""

    def to_bytes(self) -> bytes:
        head = {"format": FORMAT, "version": VERSION, "written_at": self.written_at, "tables": self.tables}
        buckets = ",".join(
            json.dumps(name) + ":{" + ",".join(f"{json.dumps(key)}:{o.encoded}" for key, o in objects.items()) + "}"
            for name, objects in self.buckets.items()
        )
        return (json.dumps(head, separators=(",", ":"))[:-1] + ',"buckets":{' + buckets + "}}").encode()

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
        self._unflushed: set[str] = set()  # object files written but not yet flushed to disk

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

    def write_table(self, encoded_items: Iterable[str]) -> str:
        """Write a table's file from its items, each already encoded (`_encode_item`); returns its name."""
        data = ('{"items":[' + ",".join(encoded_items) + "]}").encode()
        name = _digest(data)
        path = self.tables_path / name
        if not path.exists():
            write_atomically(path, data)
        return name

    def write_blob(self, data: bytes) -> tuple[str, Path | None]:
        """The object's name, and the path of its file if it was written now: not yet flushed to disk (`commit`
        flushes all of a snapshot's at once, which costs one journal commit rather than one per file)."""
        name = _digest(data)
        path = self.objects_path / name
        if name in self._unflushed:  # written by a snapshot that failed before flushing it
            return name, path
        if path.exists():
            return name, None
        write_atomically(path, data, flush=False)
        self._unflushed.add(name)
        return name, path

    def commit(self, manifest: Manifest, previous: Manifest, unflushed: list[Path]) -> None:
        """Make `manifest` the snapshot once every file it names is on disk, then remove the files only `previous`
        named."""
        for path in unflushed:
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        if unflushed:
            _flush_directory(self.objects_path)
            self._unflushed.difference_update(path.name for path in unflushed)
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
        write_atomically(path, token.encode(), mode=0o600)  # a secret: readable by its owner only
        return token


class Snapshots:
    """Exports the catalogue's tables and buckets into a DataDirectory, and imports them back.

    `changes` hands over every write since it was last called ((service, table or bucket, key), see
    moto_compat.take_changes). A snapshot reads again only the items (BatchGetItem) and objects (GetObject) written
    since the last one, into a copy of each table it keeps, and writes the files of the tables and objects that
    changed: its cost follows the changes, not the size of the stack."""

    def __init__(
        self,
        directory: DataDirectory,
        manifest: Manifest,
        clients: dict[str, Any],
        settings: Settings,
        changes: Callable[[], list[tuple[str, str, Any]]],
        catalogue: Catalogue = CATALOGUE,
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self._dynamodb = clients["dynamodb"]
        self._s3 = clients["s3"]
        self._settings = settings
        self._changes = changes
        self._tables = {settings.resource_name(t.logical): t for t in catalogue.tables}
        self._buckets = {settings.resource_name(b.logical): b for b in catalogue.buckets}
        # Each table's items as the snapshot holds them, encoded, by key; read from the data directory once.
        self._items: dict[str, dict[str, str]] = {
            table.logical: {
                self._key(table, item)[0]: _encode_item(item)
                for item in directory.table_items(manifest.tables[table.logical])
            }
            for table in catalogue.tables
            if table.logical in manifest.tables
        }
        # Written since the last snapshot that committed: kept until one does (a failed one reads them again).
        self._pending_items: dict[str, dict[str, dict[str, Any]]] = {}  # table logical -> key text -> key
        self._pending_objects: dict[str, set[str]] = {}  # bucket logical -> object keys
        self._writing = threading.Lock()

    @staticmethod
    def _key(table: Table, attributes: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        names = [table.hash_key.name] + ([table.range_key.name] if table.range_key else [])
        key = {name: attributes[name] for name in names}
        return json.dumps(key, sort_keys=True), key

    # --- restore ---

    def restore(self) -> None:
        """Write the snapshot's items and objects into the freshly provisioned tables and buckets."""
        now = int(time.time())
        with ThreadPoolExecutor(RESTORE_THREADS, thread_name_prefix="restore") as pool:
            batches = []
            for physical, table in self._tables.items():
                items = [
                    {name: _attribute_from_json(value) for name, value in json.loads(encoded).items()}
                    for encoded in self._items.get(table.logical, {}).values()
                ]
                if table.ttl_attribute:  # what DynamoDB would have deleted by now is not brought back
                    attribute = table.ttl_attribute
                    items = [i for i in items if attribute not in i or int(i[attribute].get("N", now + 1)) > now]
                batches += [(physical, items[i : i + BATCH_WRITE_SIZE]) for i in range(0, len(items), BATCH_WRITE_SIZE)]
            list(pool.map(lambda batch: self._put_items(*batch), batches))
            for physical, bucket in self._buckets.items():
                objects = self.manifest.buckets.get(bucket.logical, {})
                for key, etag in pool.map(functools.partial(self._put_object, physical, objects), list(objects)):
                    objects[key] = dataclasses.replace(objects[key], etag=etag)
        self._changes()  # the import's own writes: what the snapshot already holds

    def _put_items(self, physical: str, items: list[dict[str, Any]]) -> None:
        requests = {physical: [{"PutRequest": {"Item": item}} for item in items]}
        while requests:
            requests = self._dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}

    def _put_object(self, physical: str, objects: dict[str, StoredObject], key: str) -> tuple[str, str]:
        stored = objects[key]
        body = (self.directory.objects_path / stored.blob).read_bytes()
        return key, str(self._s3.put_object(Bucket=physical, Key=key, Body=body, **stored.headers)["ETag"])

    # --- snapshot ---

    def _take(self) -> dict[str, dict[str, dict[str, Any]]]:
        """Add the writes recorded since the last call to the pending ones; returns the items among them (table
        logical name -> key text -> key)."""
        taken: dict[str, dict[str, dict[str, Any]]] = {}
        for service, name, key in self._changes():
            if service == "dynamodb" and name in self._tables:
                table = self._tables[name]
                text, attributes = self._key(table, key)
                taken.setdefault(table.logical, {})[text] = attributes
                self._pending_items.setdefault(table.logical, {})[text] = attributes
            elif service == "s3" and name in self._buckets:
                self._pending_objects.setdefault(self._buckets[name].logical, set()).add(str(key))
        return taken

    def snapshot(self) -> bool:
        """Write a snapshot if anything was written since the last one; True if one was written."""
        with self._writing:
            self._take()
            if not self._pending_items and not self._pending_objects:
                return False
            # Read the written items, then those written meanwhile, until a round sees no table written: the tables
            # are then as they all were at one instant (a transaction is never half in the snapshot).
            unread = {logical: dict(keys) for logical, keys in self._pending_items.items()}
            for _ in range(CONSISTENCY_ROUNDS):
                for logical, keys in unread.items():
                    self._read_items(logical, keys)
                unread = self._take()
                if not unread:
                    break
            else:
                log.warning("snapshot written while tables kept changing; a restore repairs what a write half made")
            # Objects after tables: an item that names an object was written after it, so the object is found.
            manifest = Manifest(dict(self.manifest.tables), {k: dict(v) for k, v in self.manifest.buckets.items()})
            for logical in self._pending_items:
                manifest.tables[logical] = self.directory.write_table(self._items.get(logical, {}).values())
            written: list[Path] = []
            for logical, object_keys in self._pending_objects.items():
                self._read_objects(logical, object_keys, manifest.buckets.setdefault(logical, {}), written)
            self.directory.commit(manifest, self.manifest, written)
            self.manifest = manifest
            self._pending_items, self._pending_objects = {}, {}
            return True

    def _read_items(self, logical: str, keys: dict[str, dict[str, Any]]) -> None:
        """Read the items at `keys` into the table's copy; a key with no item any more leaves it."""
        physical = self._settings.resource_name(logical)
        items = self._items.setdefault(logical, {})
        table = next(t for t in self._tables.values() if t.logical == logical)
        batch = list(keys.items())
        for start in range(0, len(batch), BATCH_GET_SIZE):
            chunk = dict(batch[start : start + BATCH_GET_SIZE])
            for text in chunk:
                items.pop(text, None)
            request = {physical: {"Keys": list(chunk.values()), "ConsistentRead": True}}
            while request:
                answer = self._dynamodb.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(physical, []):
                    items[self._key(table, item)[0]] = _encode_item(item)
                request = answer.get("UnprocessedKeys") or {}

    def _read_objects(
        self, logical: str, keys: set[str], objects: dict[str, StoredObject], written: list[Path]
    ) -> None:
        physical = self._settings.resource_name(logical)
        for key in keys:
            try:
                answer = self._s3.get_object(Bucket=physical, Key=key)
            except self._s3.exceptions.NoSuchKey:
                objects.pop(key, None)
                continue
            data = answer["Body"].read()
            headers = {name: answer[name] for name in _HEADERS if answer.get(name)}
            blob, path = self.directory.write_blob(data)
            if path is not None:
                written.append(path)
            objects[key] = StoredObject(blob, len(data), str(answer["ETag"]), headers)


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
