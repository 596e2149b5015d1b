"""Organization API keys. Only a SHA-256 of the secret is stored; the token is shown once at creation."""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from chalicelib.errors import NotFound
from chalicelib.infra.resources import API_KEYS
from chalicelib.models.attributes import IntegerAttribute, TimestampAttribute, utc_now
from chalicelib.models.base import table_meta
from chalicelib.models.conditional import try_delete


class ApiKey(Model):
    Meta = table_meta(API_KEYS.logical)

    key_id = UnicodeAttribute(hash_key=True)
    org_slug = UnicodeAttribute()
    name = UnicodeAttribute()
    token_sha256 = UnicodeAttribute()
    scopes = ListAttribute(of=UnicodeAttribute, default=list)
    # The scope catalogue the key was made under (services.auth.SCOPE_CATALOGUE); None: before the webhooks scopes.
    scope_catalogue = IntegerAttribute(null=True)
    # The organization's plan, copied when the key is made so that counting a request against the plan's limits
    # needs no read of the organization: a plan never changes once the organization exists (models.organization).
    # None: a key made before keys carried it (its plan is read from the organization).
    plan = UnicodeAttribute(null=True)
    created_at = TimestampAttribute(default_for_new=utc_now)


class ApiKeyRepository:
    @staticmethod
    def create(key: ApiKey) -> ApiKey:
        key.save(condition=ApiKey.key_id.does_not_exist())
        return key

    @staticmethod
    def find(key_id: str) -> ApiKey | None:
        try:
            return ApiKey.get(key_id, consistent_read=True)
        except DoesNotExist:
            return None

    @staticmethod
    def revoke(org_slug: str, key_id: str) -> None:
        if not try_delete(ApiKey(key_id=key_id), ApiKey.org_slug == org_slug):
            raise NotFound(f"key '{key_id}' not found in organization '{org_slug}'")
