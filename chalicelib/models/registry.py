"""Atomic counters for numeric ids, and uniqueness claims (a project slug within an organization)."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model

from chalicelib.infra.resources import REGISTRY
from chalicelib.models.attributes import IntegerAttribute
from chalicelib.models.base import table_meta


class RegistryEntry(Model):
    Meta = table_meta(REGISTRY.logical)

    name = UnicodeAttribute(hash_key=True)
    value = IntegerAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    expires_at = IntegerAttribute(null=True)  # the table's TTL attribute (epoch seconds)


def next_id(sequence: str) -> int:
    """The next value of a named sequence: one atomic ADD, safe across any number of writers."""
    return next_ids(sequence, 1)


def next_ids(sequence: str, count: int) -> int:
    """The first of the next `count` values of a named sequence, all taken with one atomic ADD."""
    entry = RegistryEntry(name=f"sequence#{sequence}")
    entry.update(actions=[RegistryEntry.value.add(count)])
    return entry.value - count + 1


def slug_claim_name(org_slug: str, slug: str) -> str:
    return f"project-slug#{org_slug}#{slug}"
