"""The platform-admin API under /api/v1/admin: organizations and their API keys. Admin token only.

Views import their body's model themselves: pydantic loads with the first body, not on a cold start.
"""

from __future__ import annotations

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller
from chalicelib.api.http import json_body, json_response, parse
from chalicelib.api.timestamps import iso

dialect = dialects.admin  # the admin token is checked before every view (dialects.admit_admin)


@dialect.route("/orgs", methods=["POST"], scope=None)
def create_org(caller: Caller) -> Response:
    from chalicelib.services import organizations
    from chalicelib.services.inputs import OrganizationCreate

    body = parse(OrganizationCreate, json_body(dialect.current_request))
    org = organizations.create(body.slug, body.name, body.plan)
    return json_response(
        201, {"data": {"slug": org.slug, "name": org.name, "plan": org.plan, "created_at": iso(org.created_at)}}
    )


@dialect.route("/orgs/{slug}/keys", methods=["POST"], scope=None)
def create_key(caller: Caller, slug: str) -> Response:
    from chalicelib.services import organizations
    from chalicelib.services.inputs import KeyCreate

    body = parse(KeyCreate, json_body(dialect.current_request))
    issued = organizations.create_key(slug, body.name, body.scopes)
    key = issued.key
    return json_response(
        201,
        {
            "data": {
                "id": key.key_id,
                "org": key.org_slug,
                "name": key.name,
                "scopes": list(key.scopes),
                "token": issued.token,
                "created_at": iso(key.created_at),
            }
        },
    )


@dialect.route("/orgs/{slug}/keys/{key_id}", methods=["DELETE"], scope=None)
def revoke_key(caller: Caller, slug: str, key_id: str) -> Response:
    from chalicelib.services import organizations

    organizations.revoke_key(slug, key_id)
    return json_response(204, None)
