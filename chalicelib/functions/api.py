"""The API function: the Chalice app, its middleware and every route, mounted at its dialect's prefix. The
routes' modules are imported here because Chalice needs the route table before the first request."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api import admin, github, gitlab, health, hooks, mintlify, native, openapi, slack
from chalicelib.api.edges import edges
from chalicelib.api.middleware import correlate, observe

# Logging is Powertools' (observability.logger, made with the first line): Chalice must not give the "deployd" logger
# a second handler of its own plain format before it.
app = Chalice(app_name="deployd", configure_logs=False)
app.register_middleware(observe, "all")  # every entry point: its Lambda context in the logs, traced
app.register_middleware(correlate, "http")  # every API request: a correlation id in its logs and response
app.register_middleware(edges, "http")  # Chalice's own 405 in the dialect of the route
for routes in (health, admin, native, hooks, github, gitlab, mintlify, slack, openapi):
    routes.dialect.mount(app)  # the module's routes, declared with dialect.route, at the dialect's prefix
