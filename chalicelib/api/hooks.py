"""Deploy hooks' public URLs, /api/v1/hooks/deploy/<secret>: no Authorization header, the secret is the credential.

POST or GET, any body or none. Netlify's `trigger_title` is read from the query, a form body or a JSON object body
and becomes the deployment's description. The answer is Vercel's job, with the native deployment beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller
from chalicelib.api.http import json_response
from chalicelib.errors import InvalidInput

if TYPE_CHECKING:
    from chalicelib.api.answers import HookRunJson
    from chalicelib.services.deploy_hooks import HookRun


dialect = dialects.hooks

TITLE_FIELD = "trigger_title"
MAX_TITLE = 500


def _body_title(content_type: str, raw: bytes | str) -> Any:
    if not raw or not raw.strip():
        return None
    if content_type.startswith("application/x-www-form-urlencoded"):
        form = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        values = parse_qs(form).get(TITLE_FIELD)
        return values[0] if values else None
    if "json" in content_type:
        import json

        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            return None  # a CMS's payload is its own business; only a title in it is ours
        return body.get(TITLE_FIELD) if isinstance(body, dict) else None
    return None


def trigger_title(query: dict[str, str], content_type: str, raw: bytes | str) -> str | None:
    """The call's title: the query's trigger_title, else the body's; refused if it is not short plain text."""
    from chalicelib.services import text

    title = query.get(TITLE_FIELD) or _body_title(content_type.lower(), raw)
    if title is None or title == "":
        return None
    if not isinstance(title, str):
        raise InvalidInput(f"{TITLE_FIELD} must be a string", field=TITLE_FIELD)
    if len(title) > MAX_TITLE:
        raise InvalidInput(f"{TITLE_FIELD} must be at most {MAX_TITLE} characters", field=TITLE_FIELD)
    if text.control_character(title, free_text=True):
        raise InvalidInput(f"{TITLE_FIELD} {text.CONTROL_CHARACTERS}", field=TITLE_FIELD)
    return title


def run_json(run: HookRun) -> HookRunJson:
    from chalicelib.services.native_json import deployment_json

    created_ms = int(run.job_created_at.timestamp() * 1000)
    return {
        "job": {"id": run.job_id, "state": "PENDING", "createdAt": created_ms},
        "deployment": deployment_json(run.deployment),
    }


@dialect.route(
    "/deploy/{secret}",
    methods=["GET", "POST"],
    scope=None,
    query="TriggerTitle",
    answers={200: "HookRunJson", 201: "HookRunJson"},
    errors=(409, 422),
)
def call_deploy_hook(caller: Caller, secret: str) -> Response:
    """Call a deploy hook: 201 when it starts a deployment, 200 when it joins the one not yet building."""
    from chalicelib.services import deploy_hooks

    request = dialect.current_request
    hook = deploy_hooks.find(secret)
    caller.meter.identify_organization(hook.org_slug)
    title = trigger_title(dict(request.query_params or {}), request.headers.get("content-type", ""), request.raw_body)
    with caller.meter.counting():
        run = deploy_hooks.call(hook, title)
    return json_response(201 if run.started else 200, run_json(run))
