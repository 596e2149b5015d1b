"""The native deployment status vocabulary: one StrEnum every layer imports, from the state machine up.

It imports nothing from the project, so the state machine generator, models and services can all share it.
A member is a str: it is stored, compared and rendered as JSON exactly like the plain value.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A deployment's status on the one ledger; the dialects (GitHub, GitLab, Mintlify) translate it."""

    QUEUED = "queued"
    CLONING = "cloning"
    BUILDING = "building"
    UPLOADING = "uploading"
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    FAILED = "failed"
    CANCELLED = "cancelled"


# In pipeline order: the state machine's MarkFailed condition numbers its values in this order.
NON_TERMINAL: tuple[Status, ...] = (Status.QUEUED, Status.CLONING, Status.BUILDING, Status.UPLOADING, Status.DEPLOYING)
TERMINAL: tuple[Status, ...] = (Status.DEPLOYED, Status.FAILED, Status.CANCELLED)


class EventType(StrEnum):
    """What the ledger tells webhook subscribers (and, later, the chat bot): every event of a deployment carries
    that deployment's next `sequence`."""

    CREATED = "deployment.created"
    STATUS_CHANGED = "deployment.status_changed"  # every status move, with previous_status
    PROMOTED = "deployment.promoted"  # an environment now serves this deployment (a deploy or a rollback)
