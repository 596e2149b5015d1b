"""What the ledger tells subscribers: the events one change of a deployment's item stands for, read from the
deployments table's stream record (its old and new images, DynamoDB JSON).

Every write that changes a deployment's status adds 1 to its `event_seq`, and a promotion (an environment
starts serving it) adds 1 more in the same write, so the new image's `event_seq` numbers the last event of the
change: a deploy that also goes live is status_changed (n - 1) then promoted (n). Pure: no reads, no writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from chalicelib.models.deployment import Deployment
from chalicelib.vocabulary import EventType


class Event(NamedTuple):
    type: EventType
    sequence: int  # increases with each event of the deployment: a receiver drops one older than it has seen
    deployment: Deployment  # the deployment as this change left it
    occurred_at: datetime
    previous_status: str | None = None  # status_changed only


def events_of(old_image: dict[str, Any] | None, new_image: dict[str, Any] | None) -> list[Event]:
    """The events of one stream record: an INSERT has no old image, a MODIFY both, a REMOVE no new image."""
    if new_image is None:
        return []  # a deployment deleted with its project: no event
    new = Deployment.from_raw_data(new_image)
    last = new.event_seq
    if last is None:
        return []  # written before deployments counted their events: nothing to number it with
    if old_image is None:
        return [Event(EventType.CREATED, 1, new, new.created_at)]
    old = Deployment.from_raw_data(old_image)
    if old.event_seq == last:
        return []  # no event in this write (a URL, a build id, a slot)
    status_changed = old.status != new.status
    promoted = new.promoted_at is not None and old.promoted_at != new.promoted_at
    events: list[Event] = []
    if status_changed:
        sequence = last - 1 if promoted else last
        events.append(Event(EventType.STATUS_CHANGED, sequence, new, new.updated_at, previous_status=old.status))
    if promoted:
        events.append(Event(EventType.PROMOTED, last, new, new.promoted_at))
    return events
