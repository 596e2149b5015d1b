"""Organizations: the tenant boundary. Every project, key and deployment belongs to exactly one."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib.errors import AlreadyExists, NotFound
from chalicelib.infra.resources import ORGANIZATIONS
from chalicelib.models.attributes import TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import try_save

PLANS = ("free", "pro", "enterprise")


class Organization(Model):
    Meta = table_meta(ORGANIZATIONS.logical)

    slug = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    # Set once, at creation: every API key of the organization carries a copy (models.api_key), so a change of plan
    # would have to rewrite the organization's keys in the same transaction.
    plan = UnicodeAttribute()
    created_at = TimestampAttribute(default_for_new=utc_now)


class OrganizationRepository:
    @staticmethod
    def create(slug: str, name: str, plan: str) -> Organization:
        org = Organization(slug=slug, name=name, plan=plan)
        if not try_save(org, Organization.slug.does_not_exist()):
            raise AlreadyExists(f"organization '{slug}' already exists", field="slug")
        return org

    @staticmethod
    def get(slug: str) -> Organization:
        try:
            return Organization.get(slug, consistent_read=True)
        except DoesNotExist as exc:
            raise NotFound(f"organization '{slug}' not found") from exc
