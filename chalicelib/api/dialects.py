"""The dialects deployd speaks, each with its prefix, admission, default rate-limit bucket and error format
(api/renderers.py). Route modules declare their views with `<dialect>.route(...)`; app.py mounts each one.
"""

from __future__ import annotations

from chalice.app import Request

from chalicelib.api.dialect import Dialect, Prefetch
from chalicelib.api.http import CONTENT_TYPES
from chalicelib.api.metering import Meter
from chalicelib.api.renderers import GITHUB, GITLAB, MINTLIFY, NATIVE
from chalicelib.errors import Unauthenticated
from chalicelib.services import auth

GITHUB_BUCKET = "core"


def _admit_key(principal: auth.Principal, meter: Meter, scope: str | None) -> auth.Principal:
    """The native order: a key without the scope is refused before it is counted."""
    if scope is not None:
        principal.require(scope)
    return meter.identify(principal)


def admit_bearer(request: Request, meter: Meter, scope: str | None, prefetch: Prefetch | None = None) -> auth.Principal:
    """An organization's API key as `Authorization: Bearer <token>` (native, Mintlify); a route's declared reads
    (`prefetch`) are read in the same round trip as the key."""
    authorization = request.headers.get("authorization")
    if prefetch is None:
        principal = auth.authenticate(authorization)
    else:
        principal, prefetch.read = auth.authenticate_reading(authorization, prefetch.keys)
    return _admit_key(principal, meter, scope)


def admit_gitlab(request: Request, meter: Meter, scope: str | None) -> auth.Principal:
    """GitLab's clients send the key as PRIVATE-TOKEN (python-gitlab) or as a Bearer token."""
    private_token = request.headers.get("private-token")
    authorization = f"Bearer {private_token}" if private_token else request.headers.get("authorization")
    return _admit_key(auth.authenticate(authorization), meter, scope)


def _client_address(request: Request) -> str:
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def admit_github(request: Request, meter: Meter, scope: str | None) -> auth.Principal:
    """GitHub's order: every request is counted first, an unauthenticated one against its address's budget
    (so an over-limit caller learns that before anything else); then the scope."""
    authorization = request.headers.get("authorization")
    if not authorization or not authorization.strip():
        meter.identify_anonymous(_client_address(request))
        raise Unauthenticated("Requires authentication")
    try:
        principal = auth.authenticate(authorization)
    except Unauthenticated:
        meter.identify_anonymous(_client_address(request))
        raise
    meter.identify(principal)
    if scope is not None:
        principal.require(scope)
    return principal


def admit_admin(request: Request, meter: Meter, scope: str | None) -> None:
    """The platform admin's token; it has no organization, so no scope and no budget."""
    auth.require_admin(request.headers.get("authorization"))


def admit_anyone(request: Request, meter: Meter, scope: str | None) -> None:
    return None


def admit_slack(request: Request, meter: Meter, scope: str | None) -> None:
    """Slack's requests prove themselves by signature (checked by the view, which has the raw body); without
    a Slack app configured every /slack route is a 404 saying so."""
    from chalicelib.services import slack_installations

    slack_installations.require_configured()


health = Dialect("health", None, NATIVE, admit_anyone, bucket=None)
# The API's OpenAPI document, public like the API's reference docs.
openapi = Dialect("openapi", "/api/v1", NATIVE, admit_anyone, bucket=None)
admin = Dialect("admin", "/api/v1/admin", NATIVE, admit_admin, bucket=None)
# Native and Mintlify routes count in "api" (hourly, on arrival) but for triggers, which count in "triggers"
# or "previews" (per minute, once the request is valid).
# Their POSTs honour Idempotency-Key (docs/idempotency.md).
native = Dialect("native", "/api/v1/public", NATIVE, admit_bearer, bucket="api", idempotent=True)
github = Dialect("github", "/api/v3", GITHUB, admit_github, bucket=GITHUB_BUCKET, read_content_types=CONTENT_TYPES)
gitlab = Dialect("gitlab", "/api/v4", GITLAB, admit_gitlab, bucket="api")
mintlify = Dialect("mintlify", "/v1", MINTLIFY, admit_bearer, bucket="api", idempotent=True)
# Deploy hooks' public URLs: the secret in the path is the credential; no organization is known before the hook is
# found, so the view counts the call in the hook's organization's "triggers" bucket. Any body is accepted (CMSs
# send their own JSON types, or nothing).
hooks = Dialect(
    "hooks",
    "/api/v1/hooks",
    NATIVE,
    admit_anyone,
    bucket="triggers",
    read_content_types=["*/*"],
    body_content_types=["*/*"],
)
# Slack's Request URL and OAuth redirect; not metered (Slack retries what is not acknowledged in time).
slack = Dialect("slack", "/slack", NATIVE, admit_slack, bucket=None)
