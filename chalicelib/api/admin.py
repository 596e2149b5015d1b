"""The platform-admin API under /api/v1/admin: organizations and their API keys. Admin token only.

Views import their body's model themselves: pydantic loads with the first body, not on a cold start.
"""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import CONTENT_TYPES, json_body, json_response, parse
from chalicelib.api.native import guarded
from chalicelib.api.timestamps import iso
from chalicelib.services import auth, organizations

admin = Blueprint(__name__)


def _require_admin() -> None:
    auth.require_admin(admin.current_request.headers.get("authorization"))


@admin.route("/orgs", methods=["POST"], content_types=CONTENT_TYPES)
@guarded
def create_org() -> Response:
    from chalicelib.services.inputs import OrganizationCreate

    _require_admin()
    body = parse(OrganizationCreate, json_body(admin.current_request))
    org = organizations.create(body.slug, body.name, body.plan)
    return json_response(
        201, {"data": {"slug": org.slug, "name": org.name, "plan": org.plan, "created_at": iso(org.created_at)}}
    )


@admin.route("/orgs/{slug}/keys", methods=["POST"], content_types=CONTENT_TYPES)
@guarded
def create_key(slug: str) -> Response:
    from chalicelib.services.inputs import KeyCreate

    _require_admin()
    body = parse(KeyCreate, json_body(admin.current_request))
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


@admin.route("/orgs/{slug}/keys/{key_id}", methods=["DELETE"])
@guarded
def revoke_key(slug: str, key_id: str) -> Response:
    _require_admin()
    organizations.revoke_key(slug, key_id)
    return json_response(204, None)
