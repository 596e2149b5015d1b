"""Mirrors the routes table into CloudFront's KeyValueStore, where the sites' CloudFront Function looks up
a request's host label (key) to find the artifact prefix it serves (value). AWS only: in the embedded stack
the site server reads the routes table itself and there is no store (`sites_kvs_arn` is empty).

Why mirroring the *current row* converges, whatever order and however often stream records arrive:

- A stream record carries the key only. The mirror never applies a record's content; it reads the row as it
  is now (a consistent read) and makes the store say the same: put the row's prefix, or delete the key when
  the row is gone. So a duplicate record is one more write of the same value, and a record delivered late
  (another shard, a retry) writes the row's state as of its read, not the state that record described.
- Every write is a compare-and-set on the store: KeyValueStore writes need `IfMatch`, the store's ETag,
  which every write to any key changes. The mirror takes the ETag *before* it reads the rows, so its write
  lands only if nobody wrote to the store between that ETag and the write, i.e. after its read. A mirror
  that read a row which has changed since is refused (ConflictException) by the newer mirror's write and
  starts over: new ETag, new read. Hence, for every row change, some mirror reads after it, and any write
  that lands after that one also read after it: the last write to land is of the row's last state.
- Therefore the mirror writes even when the store already holds the value: a write that is skipped would
  not move the ETag, and an older mirror still holding the previous ETag could then land a stale value.

One gap remains: deleting a key that is already absent changes nothing, ETag included, so a stale put racing
with it can land. Records of one key come in order on one shard, so that takes a retry of an old batch
racing a newer one; `reconcile` repairs it, and anything else that drifted.

The stream is the primary path; `reconcile` is the backstop, and it is not free: every KeyValueStore API call
is billed (DescribeKeyValueStore, ListKeys, ...), and it scans the routes table. So the scheduled handler calls
`reconcile_if_due`, which checks once an hour and reconciles only if the routes table changed since the last
reconcile, by a count the stream consumer keeps (`count_changes`, one DynamoDB ADD per batch: no KeyValueStore
call needed to know), or once a day whatever the count says: that catches what no stream record announces (a
write to the store from outside deployd, records the consumer never received). The store's ETag would also
tell a change, but reading it is itself a billed call every time, which is what an idle stack must not pay.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from botocore.exceptions import ClientError

from chalicelib.adapters import key_value_store
from chalicelib.adapters.key_value_store import Change
from chalicelib.models.route import Route
from chalicelib.models.route_mirror_marker import RouteMirrorMarkerRepository
from chalicelib.observability import logger

# A conflict means another writer (a mirror of another shard, reconcile) wrote in between; each attempt
# starts over with a fresh ETag and a fresh read. Beyond this the caller fails and the record is retried.
MAX_ATTEMPTS = 8

# How often the scheduled handler looks at the count, and how often it reconciles even with no change counted.
CHECK_INTERVAL = timedelta(hours=1)
FULL_RECONCILE_INTERVAL = timedelta(days=1)


class MirrorConflict(Exception):
    """Other writers kept changing the store for MAX_ATTEMPTS attempts in a row."""


@dataclass
class ReconcileReport:
    put: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unmirrorable: list[str] = field(default_factory=list)  # rows that cannot fit the store's limits

    @property
    def changed(self) -> int:
        return len(self.put) + len(self.deleted)


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.05 * 2**attempt))


def _desired(hosts: Sequence[str]) -> list[Change]:
    """What the store should hold for `hosts`, read now (strongly consistent) from the routes table."""
    rows = {route.host: route.artifact_prefix for route in Route.batch_get(hosts, consistent_read=True)}
    changes = []
    for host in hosts:
        value = rows.get(host)
        if value is not None and not key_value_store.fits_value(value):
            # It cannot be mirrored; serving nothing beats serving what the label used to point at.
            logger.error("route value too large for the KeyValueStore", extra={"host": host, "bytes": len(value)})
            value = None
        changes.append(Change(host, value))
    return changes


def mirror(hosts: Iterable[str]) -> list[Change]:
    """Make the store agree with the routes table's current rows for `hosts`; returns what was written.

    All hosts are written with one ETag chain (UpdateKeys, 50 keys a request); on a conflict the whole
    thing starts over. Raises MirrorConflict after MAX_ATTEMPTS conflicts, ClientError on anything else."""
    wanted: list[str] = []
    for host in dict.fromkeys(hosts):  # distinct, in order
        if key_value_store.fits_key(host):
            wanted.append(host)
        else:  # such a key cannot exist in the store, so there is nothing to agree with
            logger.error("route key too long for the KeyValueStore", extra={"host": host})
    if not wanted:
        return []
    store = key_value_store.store()
    for attempt in range(MAX_ATTEMPTS):
        etag = store.etag()  # before the read: see the module docstring
        changes = _desired(wanted)
        try:
            key_value_store.apply(store, etag, changes)
            return changes
        except ClientError as exc:
            if key_value_store.error_code(exc) != key_value_store.CONFLICT:
                raise
            logger.info("KeyValueStore changed meanwhile; mirroring again", extra={"attempt": attempt + 1})
            _backoff(attempt)
    raise MirrorConflict(f"the KeyValueStore kept changing for {MAX_ATTEMPTS} attempts")


def reconcile() -> ReconcileReport:
    """Make the whole store agree with the whole routes table: put what is missing or different, delete
    keys no row has. The store holds routes and nothing else, so every key without a row is stale.

    Cost per run: one Scan of the routes table (consistent; one request per MB) and ceil(keys / 50) ListKeys
    requests, plus ceil(changes / 50) UpdateKeys when something drifted. Both sides are bounded by what a
    KeyValueStore can hold at all (5 MB in total, keys <= 512 B, values <= 1 KB): a few hundred routes are a
    handful of requests a minute. Only the table's host and artifact_prefix are fetched."""
    store = key_value_store.store()
    for attempt in range(MAX_ATTEMPTS):
        report = ReconcileReport()
        etag = store.etag()  # before both reads, so a write of anyone in between refuses ours
        wanted: dict[str, str] = {}
        for route in Route.scan(consistent_read=True, attributes_to_get=["host", "artifact_prefix"]):
            if key_value_store.fits_key(route.host) and key_value_store.fits_value(route.artifact_prefix):
                wanted[route.host] = route.artifact_prefix
            else:
                report.unmirrorable.append(route.host)
        held = dict(store.items())
        changes = [Change(host, value) for host, value in wanted.items() if held.get(host) != value]
        changes += [Change(host, None) for host in held if host not in wanted]
        report.put = [c.host for c in changes if c.value is not None]
        report.deleted = [c.host for c in changes if c.value is None]
        if report.unmirrorable:
            logger.error("routes too large for the KeyValueStore", extra={"hosts": report.unmirrorable})
        if not changes:
            return report
        try:
            key_value_store.apply(store, etag, changes)
        except ClientError as exc:
            if key_value_store.error_code(exc) != key_value_store.CONFLICT:
                raise
            _backoff(attempt)
            continue
        logger.warning(
            "KeyValueStore drifted from the routes table; repaired",
            extra={"put": report.put, "deleted": report.deleted},
        )
        return report
    raise MirrorConflict(f"the KeyValueStore kept changing for {MAX_ATTEMPTS} attempts")


def count_changes(records: int) -> None:
    """The stream consumer's note that the routes table changed (`records` stream records), before it mirrors
    them. Never raises: a lost count delays a repair until the daily reconcile, a raise would hold the shard."""
    if records <= 0:
        return
    try:
        RouteMirrorMarkerRepository.count_changes(records)
    except Exception:
        logger.exception("could not count the routes table's changes", extra={"records": records})


def reconcile_if_due(now: datetime) -> ReconcileReport | None:
    """The scheduled handler's reconcile: at most once per CHECK_INTERVAL (a conditional claim, so of concurrent
    runs one checks), and then only if the stream consumer counted a change since the last reconcile, or the
    last one is FULL_RECONCILE_INTERVAL old. None when it did not reconcile. An idle check costs one read and
    one write of a DynamoDB item, and no KeyValueStore call."""
    marker = RouteMirrorMarkerRepository.read()
    checked = marker.checked_at
    if checked is not None and now - checked < CHECK_INTERVAL:
        return None
    if not RouteMirrorMarkerRepository.claim_check(marker, now):
        return None  # another run claimed this check
    reconciled = marker.reconciled_at
    if not marker.unreconciled and reconciled is not None and now - reconciled < FULL_RECONCILE_INTERVAL:
        logger.info("routes unchanged since the last reconcile; not reconciling", extra={"changes": marker.changes})
        return None
    report = reconcile()
    # The count as read before the reconcile: a change counted meanwhile makes the next check reconcile again.
    RouteMirrorMarkerRepository.record_reconciled(marker.changes or 0, now)
    return report
