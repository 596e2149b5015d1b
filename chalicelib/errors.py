"""Domain errors. Each dialect's API layer renders them in its own error format; nothing here knows HTTP."""

from __future__ import annotations

from collections.abc import Iterable


class DomainError(Exception):
    """Base of every error a caller can cause; `code` is a stable machine-readable name."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    code = "invalid_input"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Forbidden(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    code = "not_found"


class AlreadyExists(DomainError):
    code = "already_exists"


class Conflict(DomainError):
    """The request is valid but the resource's current state forbids it (e.g. cancel a deployed deployment)."""

    code = "conflict"


class ConditionFailed(Conflict):
    """A conditional write found the item no longer as it was read: another writer got there first.

    Raised by a write transaction (models.conditional.transact); `failed` holds the positions, in the order
    written, of the writes whose condition did not hold. Callers turn it into what it means for them.
    """

    def __init__(self, message: str = "the item changed concurrently; retry", *, failed: Iterable[int] = ()) -> None:
        super().__init__(message)
        self.failed = frozenset(failed)


class IdempotencyKeyInUse(Conflict):
    """A request with this Idempotency-Key is still executing; retry after `retry_after` seconds."""

    code = "idempotency_key_in_use"
    retry_after = 1


class Unprocessable(DomainError):
    """Well-formed input that cannot be acted on: a repository that cannot be cloned, a branch that does not exist."""

    code = "unprocessable"


class FieldRejected(Unprocessable):
    """A field of a `resource` (a Deployment, a DeploymentStatus, an Environment) cannot be accepted; `problem`
    says why: "invalid" (not an acceptable value), "missing" (absent) or "refused" (a rule of the resource
    refuses it in its current state). Each dialect shapes these facts into its own error body."""

    code = "validation_failed"

    def __init__(self, resource: str, field: str, problem: str, message: str) -> None:
        super().__init__(message, field=field)
        self.resource = resource
        self.problem = problem


class IdempotencyKeyReused(Unprocessable):
    """An Idempotency-Key already used for a request with another method, path or body."""

    code = "idempotency_key_reused"


class RateLimited(DomainError):
    """Over the rate limit of the current window; `retry_after` is in seconds. Each dialect chooses its
    status: GitHub answers 403, the others 429."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
