"""What each Lambda function of app.py gets in the merge template (chalicelib.infra.package): its environment
(the physical names of the stack's resources, the API's URL), its log group, partial batch failures on its SQS
event source, a table's stream as the event source of each stream consumer (STREAM_CONSUMERS), and for an
asynchronously invoked function bounded retries and a failure queue of its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.infra import cdn, codebuild, iam, monitoring
from chalicelib.infra.functions import Function
from chalicelib.infra.grants import SLACK_CLIENT_SECRET_LOGICAL_ID, SLACK_SIGNING_SECRET_LOGICAL_ID
from chalicelib.infra.iam import ADMIN_TOKEN_SECRET_LOGICAL_ID, PIPELINE_LOGICAL_ID, PROMOTION_FLOW_LOGICAL_ID
from chalicelib.infra.resources import BUILD_PROJECT, DEPLOYMENTS, ROUTES, SITES_CDN, Catalogue, Table
from chalicelib.infra.template import key_name, logical_id

REST_API = "RestAPI"  # Chalice's logical id for the REST API
# The API function's handler. Chalice names app.py's app (`app.app`), and app.py registers every function, so its
# cold start would load them all; the API's own entry module has its routes only (chalicelib.functions). The
# event functions' handlers name their entry modules already (Chalice names a blueprint's module).
API_HANDLER = "chalicelib.functions.api.app"
ROUTE_STREAM_CONSUMER = "route_sync"  # the handler in app.py that the routes table's stream invokes
ROUTE_STREAM_EVENT = "RoutesStream"
DEPLOYMENT_STREAM_CONSUMER = "deployment_events"  # the handler the deployments table's stream invokes
DEPLOYMENT_STREAM_EVENT = "DeploymentsStream"

API_STAGE = "api"  # api_gateway_stage in .chalice/config.json

HAS_PUBLIC_API_URL = "HasPublicApiUrl"
HAS_SLACK = "HasSlack"  # the SlackSigningSecret and SlackClientSecret parameters are both given
FUNCTION_LOG_RETENTION_DAYS = 30
# Every function's runtime, and the Python `make package` must run with (see main).
LAMBDA_RUNTIME = "python3.11"
# The handlers that sign CloudFront KeyValueStore calls (services.route_mirror: the routes stream's mirror, and
# the scheduled reconcile). KeyValueStore takes SigV4A only, which botocore signs only with awscrt; awscrt costs
# every cold start that can import it some 80-90 ms, so it is a layer of its own (built by
# chalicelib.infra.deployment_zip) that only these functions get.
KEY_VALUE_STORE_SIGNERS = frozenset({ROUTE_STREAM_CONSUMER, "preview_scheduler"})
AWSCRT_LAYER = "AwsCrtLayer"
AWSCRT_LAYER_PACKAGE = "awscrt-layer.zip"  # next to deployment.zip in `make package`'s output
# An asynchronously invoked function (EventBridge's build events): Lambda retries a failed event this often,
# for at most this long, then sends it to the function's failure queue, kept as long as SQS keeps anything.
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE_SECONDS = 6 * 3600
FAILURE_QUEUE_RETENTION_SECONDS = 14 * 24 * 3600

# The routes stream's consumer: records whose host cannot be mirrored are retried from the first failed one
# (ReportBatchItemFailures), a failing batch is split to isolate the record, and after a few attempts or ten
# minutes a record is dropped: the consumer counted it before it failed, so the scheduled handler's hourly
# check reconciles the whole KeyValueStore with the routes table, and the shard is not held up meanwhile.
ROUTE_STREAM_RETRY = {
    "BatchSize": 50,
    "MaximumBatchingWindowInSeconds": 1,
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 5,
    "MaximumRecordAgeInSeconds": 600,
}
# The deployments stream's consumer (webhook fan-out): a record that cannot be fanned out (DynamoDB or SQS
# refusing) is retried from the first failed one, the batch split to isolate it, for up to a day of retries;
# fanning a record out again makes no second message, so retries are harmless. Records stay in order per
# deployment (one shard holds each item's changes in order), so events reach the queue in sequence order.
DEPLOYMENT_STREAM_RETRY = {
    "BatchSize": 100,
    "MaximumBatchingWindowInSeconds": 1,
    "BisectBatchOnFunctionError": True,
    "MaximumRetryAttempts": 100,
    "MaximumRecordAgeInSeconds": 24 * 3600,
}


@dataclass(frozen=True)
class StreamConsumer:
    """A handler of app.py a table's stream invokes, with how Lambda retries its failed records."""

    table: Table
    event_id: str
    retry: dict[str, Any]
    behind: str  # what it means when its oldest unread record is too old (the iterator-age alarm's text)


STREAM_CONSUMERS: dict[str, StreamConsumer] = {
    ROUTE_STREAM_CONSUMER: StreamConsumer(
        ROUTES,
        ROUTE_STREAM_EVENT,
        ROUTE_STREAM_RETRY,
        "The routes stream is behind: the sites' KeyValueStore lags the routes table",
    ),
    DEPLOYMENT_STREAM_CONSUMER: StreamConsumer(
        DEPLOYMENTS,
        DEPLOYMENT_STREAM_EVENT,
        DEPLOYMENT_STREAM_RETRY,
        "The deployments stream is behind: webhook events reach their subscribers late",
    ),
}


def api_url() -> dict[str, Any]:
    return {"Fn::Sub": f"https://${{{REST_API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE}"}


def api_url_variable(function: Function) -> dict[str, Any]:
    """DEPLOYD_API_URL: PublicApiUrl when given; else the execute-api URL, except for the API's own function,
    which cannot reference the REST API (the API's definition references the function: a cycle) and then
    goes without (set PublicApiUrl, e.g. to the ApiUrl output after the first deploy, to give it one)."""
    fallback = {"Ref": "AWS::NoValue"} if function.kind == "api" else api_url()
    return {"Fn::If": [HAS_PUBLIC_API_URL, {"Ref": "PublicApiUrl"}, fallback]}


def env_name(logical: str) -> str:
    """`deployment-statuses` → `DEPLOYD_RESOURCE_DEPLOYMENT_STATUSES` (read back by chalicelib.settings)."""
    return "DEPLOYD_RESOURCE_" + logical.upper().replace("-", "_")


def function_environment(catalogue: Catalogue) -> dict[str, Any]:
    """Physical names of the stack's resources, as chalicelib.settings reads them."""
    variables: dict[str, Any] = {}
    for table in catalogue.tables:
        variables[env_name(table.logical)] = {"Ref": logical_id(table.logical, "Table")}
    for queue in catalogue.queues:
        # chalicelib.aws looks queues up by name (get_queue_url), so pass the name, not the URL Ref returns.
        variables[env_name(queue.logical)] = {"Fn::GetAtt": [logical_id(queue.logical, "Queue"), "QueueName"]}
    for bucket in catalogue.buckets:
        variables[env_name(bucket.logical)] = {"Ref": logical_id(bucket.logical, "Bucket")}
    for project in catalogue.build_projects:
        variables[env_name(project.logical)] = {"Ref": codebuild.project_id(project)}
    for key in catalogue.encryption_keys:
        variables[env_name(key.logical)] = key_name(key)
    variables["DEPLOYD_STATE_MACHINE_ARN"] = {"Ref": PIPELINE_LOGICAL_ID}
    variables["DEPLOYD_PROMOTION_STATE_MACHINE_ARN"] = {"Ref": PROMOTION_FLOW_LOGICAL_ID}
    variables["DEPLOYD_BUILD_RUNNER"] = "codebuild"
    variables["DEPLOYD_BUILD_LOG_GROUP"] = {"Ref": codebuild.log_group_id(BUILD_PROJECT)}
    variables["DEPLOYD_SITES_KVS_ARN"] = cdn.key_value_store_arn(SITES_CDN)
    variables["DEPLOYD_SITES_URL_TEMPLATE"] = {"Fn::Sub": "https://{label}.${SitesDomain}/"}
    variables["DEPLOYD_ALLOW_LOCAL_REPOSITORIES"] = "false"
    return variables


def function_variables(catalogue: Catalogue, function: Function) -> dict[str, Any]:
    """The function's environment: the stack's resources, its API URL, and for the API the admin token's secret."""
    variables = {**function_environment(catalogue), "DEPLOYD_API_URL": api_url_variable(function)}
    if function.kind == "api":
        variables["DEPLOYD_ADMIN_TOKEN_SECRET_ARN"] = {"Ref": ADMIN_TOKEN_SECRET_LOGICAL_ID}
        variables.update(slack_variables())
    return variables


def slack_variables() -> dict[str, Any]:
    """The Slack app, for the API only (the secrets' ARNs, never their values); none when the stack has no Slack
    app, so /slack answers 404 (docs/slack.md)."""

    def when_slack(value: Any) -> dict[str, Any]:
        return {"Fn::If": [HAS_SLACK, value, {"Ref": "AWS::NoValue"}]}

    return {
        "DEPLOYD_SLACK_SIGNING_SECRET_ARN": when_slack({"Ref": SLACK_SIGNING_SECRET_LOGICAL_ID}),
        "DEPLOYD_SLACK_CLIENT_SECRET_ARN": when_slack({"Ref": SLACK_CLIENT_SECRET_LOGICAL_ID}),
        "DEPLOYD_SLACK_CLIENT_ID": when_slack({"Ref": "SlackClientId"}),
    }


def function_log_group(function: Function, prefix: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {
            "LogGroupName": f"/aws/lambda/{prefix}/{function.handler}",
            "RetentionInDays": FUNCTION_LOG_RETENTION_DAYS,
        },
    }


def function_events(function: Function) -> dict[str, Any]:
    """Additions to the function's `Events` (merged into the ones Chalice generates, key by key)."""
    if function.kind == "sqs":
        # Powertools' batch processing reports failed records; without this Lambda would retry the whole batch.
        return {function.sqs_event_id: {"Properties": {"FunctionResponseTypes": ["ReportBatchItemFailures"]}}}
    consumer = STREAM_CONSUMERS.get(function.handler) if function.kind == "lambda" else None
    if consumer is not None:
        properties = {
            "Stream": {"Fn::GetAtt": [logical_id(consumer.table.logical, "Table"), "StreamArn"]},
            "StartingPosition": "LATEST",
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            **consumer.retry,
        }
        return {consumer.event_id: {"Type": "DynamoDB", "Properties": properties}}
    return {}


def failure_queue() -> dict[str, Any]:
    return {
        "Type": "AWS::SQS::Queue",
        "Properties": {"MessageRetentionPeriod": FAILURE_QUEUE_RETENTION_SECONDS, "SqsManagedSseEnabled": True},
    }


def event_invoke_config(function: Function) -> dict[str, Any]:
    """SAM's EventInvokeConfig: bounded retries, then the event goes to the function's failure queue."""
    return {
        "MaximumRetryAttempts": ASYNC_RETRY_ATTEMPTS,
        "MaximumEventAgeInSeconds": ASYNC_MAX_EVENT_AGE_SECONDS,
        "DestinationConfig": {
            "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": [iam.failure_queue_id(function), "Arn"]}}
        },
    }


def awscrt_layer() -> dict[str, Any]:
    return {
        "Type": "AWS::Serverless::LayerVersion",
        "Properties": {
            "Description": "awscrt, for the functions that sign CloudFront KeyValueStore calls (SigV4A)",
            "ContentUri": f"./{AWSCRT_LAYER_PACKAGE}",
            "CompatibleRuntimes": [LAMBDA_RUNTIME],
            "CompatibleArchitectures": ["x86_64"],  # Chalice's packages: manylinux x86_64 wheels
            "RetentionPolicy": "Delete",
        },
    }


def function_resources(catalogue: Catalogue, functions: Sequence[Function], prefix: str) -> dict[str, Any]:
    """Per function: a partial function resource and a partial role (deep-merged by Chalice into the ones it
    generates), the function's log group, and for an asynchronously invoked one its failure queue."""
    resources: dict[str, Any] = {}
    for function in functions:
        log_group = iam.function_log_group_id(function)
        properties: dict[str, Any] = {
            "Runtime": LAMBDA_RUNTIME,
            "Environment": {"Variables": function_variables(catalogue, function)},
            "LoggingConfig": {"LogGroup": {"Ref": log_group}},
        }
        if function.kind == "api":
            properties["Handler"] = API_HANDLER
        if function.handler in KEY_VALUE_STORE_SIGNERS:
            properties["Layers"] = [{"Ref": AWSCRT_LAYER}]
            resources[AWSCRT_LAYER] = awscrt_layer()
        events = function_events(function)
        if events:
            properties["Events"] = events
        if function.kind == "cloudwatch_event":
            properties["EventInvokeConfig"] = event_invoke_config(function)
            resources[iam.failure_queue_id(function)] = failure_queue()
            resources.update(monitoring.failure_destination_alarm(iam.failure_queue_id(function), function.logical_id))
        resources[function.logical_id] = {"Properties": properties}
        resources[function.role_id] = iam.function_role_override(function)
        resources[log_group] = function_log_group(function, prefix)
    return resources
