"""deployd: the Chalice app. It wires blueprints and event handlers together and does nothing else."""

from typing import Any

from chalice import Chalice, Rate
from chalice.app import CloudWatchEvent, SQSEvent

from chalicelib.adapters import codebuild
from chalicelib.api import admin, github, gitlab, health, hooks, mintlify, native, openapi, slack
from chalicelib.api.edges import edges
from chalicelib.api.middleware import correlate, observe
from chalicelib.infra.resources import (
    ACTIVATION_QUEUE,
    BUILD_QUEUE,
    PREVIEW_SCHEDULE,
    SLACK_COMMAND_QUEUE,
    SLACK_NOTIFY_QUEUE,
    WEBHOOK_QUEUE,
)
from chalicelib.settings import get_settings
from chalicelib.workers import consumers, deployment_stream, route_stream, scheduler

app = Chalice(app_name="deployd")
app.register_middleware(observe, "all")  # every entry point: its Lambda context in the logs, traced
app.register_middleware(correlate, "http")  # every API request: a correlation id in its logs and response
app.register_middleware(edges, "http")  # Chalice's own 405 in the dialect of the route
for routes in (health, admin, native, hooks, github, gitlab, mintlify, slack, openapi):
    routes.dialect.mount(app)  # the module's routes, declared with dialect.route, at the dialect's prefix


@app.on_sqs_message(queue=get_settings().resource_name(BUILD_QUEUE.logical), batch_size=1)
def build_worker(event: SQSEvent) -> dict:
    return consumers.consume_builds(event.to_dict(), event.context)


@app.on_sqs_message(queue=get_settings().resource_name(ACTIVATION_QUEUE.logical), batch_size=10)
def activation_worker(event: SQSEvent) -> dict:
    return consumers.consume_activations(event.to_dict(), event.context)


# Up to ten messages a batch, read together and attempted at once: a slow receiver holds up its own message only.
@app.on_sqs_message(queue=get_settings().resource_name(WEBHOOK_QUEUE.logical), batch_size=10)
def webhook_delivery(event: SQSEvent) -> dict:
    return consumers.consume_webhook_deliveries(event.to_dict(), event.context)


# One Slack command or button a batch: each answers its own response_url, none waits behind another.
@app.on_sqs_message(queue=get_settings().resource_name(SLACK_COMMAND_QUEUE.logical), batch_size=1)
def slack_command_worker(event: SQSEvent) -> dict:
    return consumers.consume_slack_commands(event.to_dict(), event.context)


# One live Slack message a batch: a rate-limited workspace holds up its own message only.
@app.on_sqs_message(queue=get_settings().resource_name(SLACK_NOTIFY_QUEUE.logical), batch_size=1)
def slack_notifications(event: SQSEvent) -> dict:
    return consumers.consume_slack_notifications(event.to_dict(), event.context)


@app.on_cw_event(
    {
        "source": [codebuild.EVENT_SOURCE],
        "detail-type": [codebuild.EVENT_DETAIL_TYPE],
        "detail": {"project-name": [codebuild.project_name()]},
    }
)
def build_events(event: CloudWatchEvent) -> None:
    """A CodeBuild build of a deployment started or ended (builds on AWS; see adapters.codebuild)."""
    consumers.consume_build_event(event.to_dict(), event.context)


@app.schedule(Rate(PREVIEW_SCHEDULE.every_minutes, unit=Rate.MINUTES))
def preview_scheduler(event: CloudWatchEvent) -> dict:
    return scheduler.handle_event(event.to_dict())


@app.lambda_function(name="route_sync")
def route_sync(event: dict, context: Any) -> dict:
    """The routes table's stream (keys only) mirrored into CloudFront's KeyValueStore."""
    return route_stream.consume(event, context)


@app.lambda_function(name="deployment_events")
def deployment_events(event: dict, context: Any) -> dict:
    """The deployments table's stream (old and new images): each change's events fanned out to webhooks."""
    return deployment_stream.consume(event, context)
