"""What the KeyValueStore's reconcile needs to skip a run when nothing changed: a count of the routes table's
changes, kept by the routes stream's consumer, the count the last reconcile saw and when it ran, and the
hourly check's claim. One item of the registry table (small counters and claims live there)."""

from __future__ import annotations

from datetime import datetime

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib.infra.resources import REGISTRY
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import try_update, unchanged

MARKER_NAME = "route-mirror"


class RouteMirrorMarker(Model):
    Meta = table_meta(REGISTRY.logical)

    name = UnicodeAttribute(hash_key=True)
    changes = IntegerAttribute(null=True)  # stream records of the routes table the consumer received, ever
    reconciled_changes = IntegerAttribute(null=True)  # `changes` as the last reconcile read it before it ran
    reconciled_at = TimestampAttribute(null=True, timespec="seconds")  # when the last reconcile ran
    checked_at = TimestampAttribute(null=True, timespec="seconds")  # when a scheduled run last claimed the check

    @property
    def unreconciled(self) -> bool:
        """Whether the routes table changed since the last reconcile read the count (or none ever ran)."""
        return self.reconciled_at is None or (self.changes or 0) != (self.reconciled_changes or 0)


class RouteMirrorMarkerRepository:
    @staticmethod
    def read() -> RouteMirrorMarker:
        try:
            return RouteMirrorMarker.get(MARKER_NAME, consistent_read=True)
        except DoesNotExist:
            return RouteMirrorMarker(name=MARKER_NAME)

    @staticmethod
    def count_changes(records: int) -> None:
        """One atomic ADD per stream batch: any number of consumers (shards) may count at once."""
        RouteMirrorMarker(name=MARKER_NAME).update(actions=[RouteMirrorMarker.changes.add(records)])

    @staticmethod
    def claim_check(marker: RouteMirrorMarker, now: datetime) -> bool:
        """Record `now` as the last check, only if no other run has since `marker` was read."""
        return try_update(
            RouteMirrorMarker(name=MARKER_NAME),
            [RouteMirrorMarker.checked_at.set(now)],
            unchanged(RouteMirrorMarker.checked_at, marker.checked_at),
        )

    @staticmethod
    def record_reconciled(changes: int, now: datetime) -> None:
        """The reconcile that read `changes` before it ran made the store agree; an older one never overwrites
        a newer one's record."""
        try_update(
            RouteMirrorMarker(name=MARKER_NAME),
            [RouteMirrorMarker.reconciled_changes.set(changes), RouteMirrorMarker.reconciled_at.set(now)],
            RouteMirrorMarker.reconciled_at.does_not_exist() | (RouteMirrorMarker.reconciled_at <= now),
        )
