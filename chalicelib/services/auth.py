"""Who is calling: the platform admin (one token: a setting, or on AWS a secret) or an organization's API key.

Keys look like `dpl_<key_id>_<secret>`; the key id finds the record and only the token's SHA-256 is
compared, in constant time. A revoked key's record is gone, so it stops working on the next request.
"""

# Annotations are evaluated, not postponed: every cold start makes this module's NamedTuples, and a field annotated
# by a string compiles that string when its class is made.
import hashlib
import hmac
from typing import NamedTuple

from chalicelib.aws import admin_token
from chalicelib.errors import Forbidden, Unauthenticated
from chalicelib.models.api_key import ApiKey, ApiKeyRepository
from chalicelib.models.project_reads import ProjectKeys, ProjectRead, read_with_key

SCOPES = (
    "projects:read",
    "projects:write",
    "deployments:read",
    "deployments:write",
    "webhooks:read",
    "webhooks:write",
    "integrations:read",
    "integrations:write",
)
# Keys record the catalogue they were made under. A key made before the webhooks scopes existed (no catalogue)
# keeps every scope it had and gains both webhooks scopes (issue 11: "plus these"); a key made before the
# integrations scopes (catalogue 2 or none) gains both of those, the same way (issue 12).
SCOPE_CATALOGUE = 3
_ADDED_BY_CATALOGUE_2 = frozenset({"webhooks:read", "webhooks:write"})
_ADDED_BY_CATALOGUE_3 = frozenset({"integrations:read", "integrations:write"})
TOKEN_PREFIX = "dpl_"


class Principal(NamedTuple):
    org_slug: str
    key_id: str
    scopes: frozenset[str]
    plan: str | None = None  # the organization's plan, as the key carries it (None: read it from the organization)

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this API key lacks the '{scope}' scope")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in ("bearer", "token") or not token.strip():
        raise Unauthenticated("Authorization header must be 'Bearer <token>'")
    return token.strip()


def require_admin(authorization: str | None) -> None:
    token = bearer_token(authorization)
    expected = admin_token()
    if not expected or not hmac.compare_digest(token_digest(token), token_digest(expected)):
        raise Unauthenticated("invalid admin token")


def _key_id(token: str) -> str:
    return token[len(TOKEN_PREFIX) :].split("_", 1)[0] if token.startswith(TOKEN_PREFIX) else ""


def _verified(token: str, key: ApiKey | None) -> Principal:
    if key is None or not hmac.compare_digest(key.token_sha256, token_digest(token)):
        raise Unauthenticated("invalid API key")
    return Principal(key.org_slug, key.key_id, granted_scopes(key), key.plan)


def authenticate(authorization: str | None) -> Principal:
    token = bearer_token(authorization)
    key_id = _key_id(token)
    return _verified(token, ApiKeyRepository.find(key_id) if key_id else None)


def authenticate_reading(authorization: str | None, keys: ProjectKeys) -> tuple[Principal, ProjectRead]:
    """`authenticate`, with `keys`' items read in the same round trip as the key (the key id is in the token). What
    was read is returned only once the key is verified; a token that names no key reads nothing."""
    token = bearer_token(authorization)
    key_id = _key_id(token)
    if not key_id:
        raise Unauthenticated("invalid API key")
    key, read = read_with_key(key_id, keys)
    return _verified(token, key), read


def granted_scopes(key: ApiKey) -> frozenset[str]:
    """What the key may do: the scopes it was made with, plus the scopes added since for a key older than them."""
    scopes = frozenset(str(scope) for scope in key.scopes)
    catalogue = key.scope_catalogue or 1
    if catalogue < 2:
        scopes |= _ADDED_BY_CATALOGUE_2
    if catalogue < 3:
        scopes |= _ADDED_BY_CATALOGUE_3
    return scopes


class IssuedKey(NamedTuple):
    key: ApiKey
    token: str


def issue_key(org_slug: str, name: str, scopes: list[str], plan: str) -> IssuedKey:
    import secrets  # issuing a key is an admin's request: not loaded by the API's cold start

    key_id = secrets.token_hex(8)
    token = f"{TOKEN_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        key_id=key_id,
        org_slug=org_slug,
        name=name,
        token_sha256=token_digest(token),
        scopes=scopes,
        scope_catalogue=SCOPE_CATALOGUE,
        plan=plan,
    )
    return IssuedKey(ApiKeyRepository.create(key), token)
