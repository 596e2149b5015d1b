"""The preview scheduler's entry point (EventBridge, every few minutes): the due preview rebuilds, removals and
artifact deletions (services.schedules), then, on AWS, the KeyValueStore's reconcile when it is due."""

from __future__ import annotations

from datetime import UTC, datetime

from chalicelib.models.attributes import parse_timestamp
from chalicelib.observability import logger
from chalicelib.services import route_mirror
from chalicelib.services.schedules import run_schedules
from chalicelib.settings import get_settings


def _reconcile_routes(now: datetime) -> tuple[int, int]:
    """Repair the sites' KeyValueStore from the routes table when due (see route_mirror.reconcile_if_due):
    (reconciled: 1 or 0, routes repaired); repaired is -1 if the reconcile failed."""
    try:
        report = route_mirror.reconcile_if_due(now)
    except Exception:  # the store's trouble must not fail (and so re-run) the preview work above
        logger.exception("reconciling the KeyValueStore with the routes table failed")
        return 1, -1
    return (0, 0) if report is None else (1, report.changed)


def handle_event(event: dict) -> dict[str, int]:
    """The Lambda entry point's logic: EventBridge's `time` is the run's `now`. On AWS (a KeyValueStore is
    configured) a run also reconciles the store with the routes table when that is due (hourly, if changed)."""
    stamp = event.get("time")
    now = parse_timestamp(stamp) if isinstance(stamp, str) else datetime.now(UTC)
    summary = run_schedules(now).summary()
    if get_settings().sites_kvs_arn:
        summary["routes_reconciled"], summary["routes_repaired"] = _reconcile_routes(now)
    return summary
