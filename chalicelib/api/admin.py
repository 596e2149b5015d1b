"""The platform-admin API under /api/v1/admin: organizations and their API keys. Admin token only.

A view's body arrives validated by the model its `body` parameter names (chalicelib.services.inputs, imported for
type checking only: pydantic loads with the first body, not on a cold start).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller, One
from chalicelib.api.http import json_response
from chalicelib.api.timestamps import iso

if TYPE_CHECKING:
    from chalicelib.api.answers import IssuedKeyJson, OrganizationJson
    from chalicelib.services.inputs import KeyCreate, OrganizationCreate

dialect = dialects.admin  # the admin token is checked before every view (dialects.admit_admin)


@dialect.route("/orgs", methods=["POST"], scope=None, answers={201: One("OrganizationJson")}, errors=(409,))
def create_org(caller: Caller, body: OrganizationCreate) -> Response:
    """Create an organization."""
    from chalicelib.services import organizations

    org = organizations.create(body.slug, body.name, body.plan)
    created: OrganizationJson = {
        "slug": org.slug,
        "name": org.name,
        "plan": org.plan,
        "created_at": iso(org.created_at),
    }
    return json_response(201, {"data": created})


@dialect.route("/orgs/{slug}/keys", methods=["POST"], scope=None, answers={201: One("IssuedKeyJson")})
def create_key(caller: Caller, slug: str, body: KeyCreate) -> Response:
    """Issue an API key of an organization; its token is shown in this answer only."""
    from chalicelib.services import organizations

    issued = organizations.create_key(slug, body.name, body.scopes)
    key = issued.key
    created: IssuedKeyJson = {
        "id": key.key_id,
        "org": key.org_slug,
        "name": key.name,
        "scopes": [str(scope) for scope in key.scopes],
        "token": issued.token,
        "created_at": iso(key.created_at),
    }
    return json_response(201, {"data": created})


@dialect.route("/orgs/{slug}/keys/{key_id}", methods=["DELETE"], scope=None, answers={204: None})
def revoke_key(caller: Caller, slug: str, key_id: str) -> Response:
    """Revoke an API key."""
    from chalicelib.services import organizations

    organizations.revoke_key(slug, key_id)
    return json_response(204, None)
