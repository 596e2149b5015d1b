"""deployd as `chalice package` reads it, and as the embedded stack and the tests run it: the API's app with every
other function registered on it. On Lambda no function imports this module: each function's handler names its own
entry module (chalicelib.functions), which imports only what that function serves."""

from chalicelib.functions import (
    activation_worker,
    build_events,
    build_worker,
    deployment_events,
    preview_scheduler,
    promotion_worker,
    route_sync,
    slack_command_worker,
    slack_notifications,
    webhook_delivery,
)
from chalicelib.functions.api import app

EVENT_FUNCTIONS = (
    build_worker,
    activation_worker,
    promotion_worker,
    webhook_delivery,
    slack_command_worker,
    slack_notifications,
    build_events,
    preview_scheduler,
    route_sync,
    deployment_events,
)
for function in EVENT_FUNCTIONS:
    app.register_blueprint(function.blueprint)
