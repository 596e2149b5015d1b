"""Idempotency keys (Stripe's semantics): the rules of a key, what makes two requests the same, and running a
request's work at most once per organization and key (adapters.idempotency_records keeps the records).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.adapters import idempotency_records
from chalicelib.adapters.idempotency_records import Outcome
from chalicelib.errors import InvalidInput

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


def valid_key(value: str) -> str:
    """The key as sent, if it is 1 to 255 printable ASCII characters (a UUID, a hash, "order-42 retry"...)."""
    if not value or len(value) > MAX_KEY_LENGTH or not _PRINTABLE_ASCII.fullmatch(value):
        raise InvalidInput(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters", field=HEADER)
    return value


def _canonical_body(raw: bytes | str | None) -> str:
    """A JSON body compared by its content (key order and spacing do not matter); anything else as sent."""
    if not raw:
        return ""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return text


def fingerprint(method: str, path: str, query: Mapping[str, Any] | None, raw_body: bytes | str | None) -> str:
    """What a retry must repeat to be one: method, path (with its query) and body."""
    request = {
        "method": method.upper(),
        "path": path,
        "query": sorted((str(k), str(v)) for k, v in (query or {}).items()),
        "body": _canonical_body(raw_body),
    }
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def once(
    org_slug: str, key: str, request_fingerprint: str, work: Callable[[], dict[str, Any]], lambda_context: Any = None
) -> Outcome:
    """`work()` run at most once for the organization's `key`; see idempotency_records.once for the errors."""
    return idempotency_records.once({"org": org_slug, "key": key}, request_fingerprint, work, lambda_context)
