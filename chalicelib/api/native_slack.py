"""The native API's Slack integration under /api/v1/public/integrations/slack: connect a workspace (the "Add to
Slack" URL), see it with its subscribed channels, choose who may act from Slack, disconnect.

Reading takes integrations:read, changing integrations:write (keys made before these scopes have both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller
from chalicelib.api.http import json_body, json_response, parse, public_api_url
from chalicelib.api.slack import REDIRECT_PATH
from chalicelib.api.timestamps import iso

if TYPE_CHECKING:
    from chalicelib.models.slack_installation import SlackInstallation


dialect = dialects.native


def installation_json(installation: SlackInstallation) -> dict[str, Any]:
    from chalicelib.services import slack_live

    return {
        "team_id": installation.team_id,
        "team_name": installation.team_name,
        "installed_at": iso(installation.installed_at),
        "allowed_user_ids": list(installation.allowed_user_ids) if installation.allowed_user_ids is not None else None,
        "subscriptions": slack_live.subscriptions(installation.org_slug),
    }


@dialect.route("/integrations/slack", methods=["POST"], scope="integrations:write", one_time=("install_url",))
def connect_slack(caller: Caller) -> Response:
    from chalicelib.services import slack_installations

    redirect_uri = public_api_url(dialect.current_request) + REDIRECT_PATH
    return json_response(
        201, {"data": {"install_url": slack_installations.begin(caller.principal.org_slug, redirect_uri)}}
    )


@dialect.route("/integrations/slack", methods=["GET"], scope="integrations:read")
def get_slack(caller: Caller) -> Response:
    from chalicelib.services import slack_installations

    installation = slack_installations.installation_of(caller.principal.org_slug)
    return json_response(200, {"data": installation_json(installation)})


@dialect.route("/integrations/slack", methods=["PATCH"], scope="integrations:write")
def update_slack(caller: Caller) -> Response:
    from chalicelib.services import slack_installations
    from chalicelib.services.inputs import SlackIntegrationUpdate

    body = parse(SlackIntegrationUpdate, json_body(dialect.current_request))
    installation = slack_installations.set_allowed_users(caller.principal.org_slug, body.allowed_user_ids)
    return json_response(200, {"data": installation_json(installation)})


@dialect.route("/integrations/slack", methods=["DELETE"], scope="integrations:write")
def disconnect_slack(caller: Caller) -> Response:
    from chalicelib.services import slack_installations

    slack_installations.installation_of(caller.principal.org_slug)  # 404 when none is connected
    slack_installations.disconnect(caller.principal.org_slug)
    return json_response(204, None)
