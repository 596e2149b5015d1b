"""The native API's Slack integration under /api/v1/public/integrations/slack: connect a workspace (the "Add to
Slack" URL), see it with its subscribed channels, choose who may act from Slack, disconnect.

Reading takes integrations:read, changing integrations:write (keys made before these scopes have both).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice import Response

from chalicelib.api import dialects
from chalicelib.api.dialect import Caller, One
from chalicelib.api.http import json_response, public_api_url
from chalicelib.api.slack import REDIRECT_PATH
from chalicelib.api.timestamps import iso

if TYPE_CHECKING:
    from chalicelib.api.answers import SlackInstallJson, SlackIntegrationJson, SlackSubscriptionJson
    from chalicelib.models.slack_installation import SlackInstallation
    from chalicelib.services.inputs import SlackIntegrationUpdate

dialect = dialects.native


def installation_json(installation: SlackInstallation) -> SlackIntegrationJson:
    from chalicelib.services import slack_live

    subscriptions: list[SlackSubscriptionJson] = [
        {"channel_id": s["channel_id"], "project_id": s["project_id"]}
        for s in slack_live.subscriptions(installation.org_slug)
    ]
    return {
        "team_id": installation.team_id,
        "team_name": installation.team_name,
        "installed_at": iso(installation.installed_at),
        "allowed_user_ids": [str(user) for user in installation.allowed_user_ids]
        if installation.allowed_user_ids is not None
        else None,
        "subscriptions": subscriptions,
    }


@dialect.route(
    "/integrations/slack",
    methods=["POST"],
    scope="integrations:write",
    one_time=("install_url",),
    answers={201: One("SlackInstallJson")},
    errors=(404,),  # no Slack app configured on this deployd
)
def connect_slack(caller: Caller) -> Response:
    """Begin connecting a Slack workspace: the "Add to Slack" URL to open, valid once and for a short while."""
    from chalicelib.services import slack_installations

    redirect_uri = public_api_url(dialect.current_request) + REDIRECT_PATH
    begun: SlackInstallJson = {"install_url": slack_installations.begin(caller.principal.org_slug, redirect_uri)}
    return json_response(201, {"data": begun})


@dialect.route(
    "/integrations/slack",
    methods=["GET"],
    scope="integrations:read",
    answers={200: One("SlackIntegrationJson")},
    errors=(404,),  # no workspace connected
)
def get_slack(caller: Caller) -> Response:
    """Get the connected Slack workspace and its subscribed channels."""
    from chalicelib.services import slack_installations

    installation = slack_installations.installation_of(caller.principal.org_slug)
    return json_response(200, {"data": installation_json(installation)})


@dialect.route(
    "/integrations/slack",
    methods=["PATCH"],
    scope="integrations:write",
    answers={200: One("SlackIntegrationJson")},
    errors=(404,),
)
def update_slack(caller: Caller, body: SlackIntegrationUpdate) -> Response:
    """Choose who may act from Slack (null: everyone in the workspace)."""
    from chalicelib.services import slack_installations

    installation = slack_installations.set_allowed_users(caller.principal.org_slug, body.allowed_user_ids)
    return json_response(200, {"data": installation_json(installation)})


@dialect.route(
    "/integrations/slack", methods=["DELETE"], scope="integrations:write", answers={204: None}, errors=(404,)
)
def disconnect_slack(caller: Caller) -> Response:
    """Disconnect the Slack workspace."""
    from chalicelib.services import slack_installations

    slack_installations.installation_of(caller.principal.org_slug)  # 404 when none is connected
    slack_installations.disconnect(caller.principal.org_slug)
    return json_response(204, None)
