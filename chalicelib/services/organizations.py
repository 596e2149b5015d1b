"""Platform administration: organizations and their API keys."""

from __future__ import annotations

from chalicelib.errors import InvalidInput
from chalicelib.models.api_key import ApiKeyRepository
from chalicelib.models.organization import PLANS, Organization, OrganizationRepository
from chalicelib.services import auth


def create(slug: str, name: str | None, plan: str) -> Organization:
    if plan not in PLANS:
        raise InvalidInput(f"plan must be one of {', '.join(PLANS)}", field="plan")
    return OrganizationRepository.create(slug, name or slug, plan)


def create_key(org_slug: str, name: str | None, scopes: list[str] | None) -> auth.IssuedKey:
    org = OrganizationRepository.get(org_slug)
    chosen = list(auth.SCOPES) if scopes is None else scopes
    unknown = sorted(set(chosen) - set(auth.SCOPES))
    if unknown:
        raise InvalidInput(f"unknown scopes {unknown}; valid scopes are {list(auth.SCOPES)}", field="scopes")
    return auth.issue_key(org_slug, name or "default", sorted(set(chosen)), str(org.plan))


def revoke_key(org_slug: str, key_id: str) -> None:
    OrganizationRepository.get(org_slug)
    ApiKeyRepository.revoke(org_slug, key_id)
