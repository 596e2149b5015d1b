"""Alarms, the dashboard and the state machine's logs, generated from the catalogue and the stack's functions.

One SNS topic receives every alarm (an e-mail subscription when the AlarmEmail parameter is set):
- a dead-letter queue holding any message: a build or an activation that failed every delivery, or a
  CodeBuild event `build_events` failed to handle after Lambda's retries (its on-failure destination);
- a function's errors: an invocation that crashed or timed out (a record that fails is reported, not raised);
- a table's stream falling behind: the sites' KeyValueStore is not following the routes table, or webhook
  events are late (the deployments table's);
- the API: any 5XX answer (bad input is a 4XX, so a 5XX is deployd's fault), and p99 latency above 3 s;
- the platform's failed deployments (DeploymentsFailed with cause=platform: no heartbeat, a crashed runner,
  a CodeBuild fault). The users' own failed builds (cause=build) are on the dashboard, never an alarm;
- CloudFront: the sites' 5xx error rate and the router function's execution errors. CloudFront publishes
  its metrics in us-east-1 only and an alarm watches its own region's metrics, so these two alarms exist
  when the stack is in us-east-1 (condition IsUsEast1); elsewhere the dashboard still shows the metrics (its
  CloudFront widget reads us-east-1) and docs/observability.md says how to alarm on them.

No alarm watches the state machine's ExecutionsFailed: every failed build (a user's build command that exits
non-zero) ends its execution in the Fail state, so that count is mostly the users' business, shown on the
dashboard; no execution has an overall time limit, so ExecutionsTimedOut stays 0 (time limits fail the Build
task). The state machine logs errors (level ERROR, without execution data: inputs carry task tokens) to its
own log group and is traced with X-Ray.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.infra import cdn
from chalicelib.infra.resources import Catalogue, Queue, StateMachine
from chalicelib.infra.template import logical_id
from chalicelib.observability import DEPLOYMENT_EVENTS, FAILURE_CAUSES, METRICS_NAMESPACE

ALARM_TOPIC = "AlarmTopic"
ALARM_SUBSCRIPTION = "AlarmEmailSubscription"
HAS_ALARM_EMAIL = "HasAlarmEmail"
DASHBOARD = "Dashboard"
# A stream consumer is behind when its oldest record is older than this.
STREAM_MAX_AGE_MS = 5 * 60 * 1000
IS_US_EAST_1 = "IsUsEast1"  # CloudFront's metrics are published in us-east-1 only
CLOUDFRONT_METRICS_REGION = "us-east-1"
API_LATENCY_P99_MS = 3000
SITES_5XX_RATE_PERCENT = 5
PIPELINE_LOG_GROUP = "DeploymentPipelineLogGroup"
PIPELINE_LOG_RETENTION_DAYS = 30


def dead_letter_alarm_id(queue: Queue) -> str:
    return logical_id(queue.dead_letter_logical, "Alarm")


def function_errors_alarm_id(function: str) -> str:
    return f"{function}ErrorsAlarm"


def _alarm(description: str, namespace: str, metric: str, dimensions: dict[str, Any], **rule: Any) -> dict[str, Any]:
    statistic = rule.get("statistic", "Maximum")
    properties: dict[str, Any] = {
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
        # Percentiles (p99) are CloudWatch's extended statistics, named in a property of their own.
        ("ExtendedStatistic" if statistic.startswith("p") else "Statistic"): statistic,
        "Period": rule.get("period", 60),
        "EvaluationPeriods": rule.get("evaluation_periods", 1),
        "Threshold": rule.get("threshold", 0),
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [{"Ref": ALARM_TOPIC}],
        "OKActions": [{"Ref": ALARM_TOPIC}],
    }
    if "datapoints_to_alarm" in rule:
        properties["DatapointsToAlarm"] = rule["datapoints_to_alarm"]
    alarm: dict[str, Any] = {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}
    if "condition" in rule:
        alarm["Condition"] = rule["condition"]
    return alarm


def api_alarms(rest_api_name: str, stage: str) -> dict[str, Any]:
    """API Gateway's 5XX answers and p99 latency (REST API metrics are named by the API's name and stage)."""
    dimensions = {"ApiName": rest_api_name, "Stage": stage}
    return {
        "Api5XXErrorAlarm": _alarm(
            "The API answered 5XX: deployd failed a request (bad input is always a 4XX); see the API function's logs",
            "AWS/ApiGateway",
            "5XXError",
            dimensions,
            statistic="Sum",
            period=300,
        ),
        "ApiLatencyAlarm": _alarm(
            f"The API's p99 latency was above {API_LATENCY_P99_MS} ms for 15 minutes",
            "AWS/ApiGateway",
            "Latency",
            dimensions,
            statistic="p99",
            period=300,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            threshold=API_LATENCY_P99_MS,
        ),
    }


def cloudfront_alarms(distribution: str, router_name: str) -> dict[str, Any]:
    """The sites' 5xx rate (`distribution`: its logical id) and the router function's errors (by its name).
    Created only in us-east-1, where CloudFront publishes its metrics (see the module docstring)."""
    return {
        "Sites5xxErrorRateAlarm": _alarm(
            f"More than {SITES_5XX_RATE_PERCENT}% of the sites' requests answered 5xx for 15 minutes (the origin, "
            "or the router's 503 when the KeyValueStore cannot be read)",
            "AWS/CloudFront",
            "5xxErrorRate",
            {"DistributionId": {"Ref": distribution}, "Region": "Global"},
            statistic="Average",
            period=300,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            threshold=SITES_5XX_RATE_PERCENT,
            condition=IS_US_EAST_1,
        ),
        "SiteRouterErrorsAlarm": _alarm(
            "The sites' router function failed (an exception, or a response CloudFront refused)",
            "AWS/CloudFront",
            "FunctionExecutionErrors",
            {"FunctionName": router_name, "Region": "Global"},
            statistic="Sum",
            period=300,
            condition=IS_US_EAST_1,
        ),
    }


def platform_failures_alarm() -> dict[str, Any]:
    return {
        "PlatformFailuresAlarm": _alarm(
            "Deployments failed for the platform's reasons (no heartbeat, a crashed runner, a CodeBuild fault), "
            "not their builds'",
            METRICS_NAMESPACE,
            DEPLOYMENT_EVENTS["failed"],
            {"service": "deployd", "cause": "platform"},
            statistic="Sum",
            period=300,
        )
    }


def failure_destination_alarm(queue: str, function: str) -> dict[str, Any]:
    """`queue` (a logical id) receives the events `function` failed to handle after Lambda's retries."""
    return {
        f"{queue}Alarm": _alarm(
            f"{function}: an event failed every attempt and is in its failure queue; inspect, then replay it",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": [queue, "QueueName"]}},
        )
    }


def alarm_resources(
    catalogue: Catalogue, functions: Sequence[str], stream_consumers: Mapping[str, str]
) -> dict[str, Any]:
    """The topic, its optional subscription, and the alarms. `functions` are the stack's function logical ids;
    `stream_consumers` the logical ids of those a table's stream invokes, each with what its lag means."""
    resources: dict[str, Any] = {
        ALARM_TOPIC: {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "deployd alarms"}},
        ALARM_SUBSCRIPTION: {
            "Type": "AWS::SNS::Subscription",
            "Condition": HAS_ALARM_EMAIL,
            "Properties": {"TopicArn": {"Ref": ALARM_TOPIC}, "Protocol": "email", "Endpoint": {"Ref": "AlarmEmail"}},
        },
    }
    for queue in catalogue.queues:
        dlq = logical_id(queue.dead_letter_logical, "Queue")
        resources[dead_letter_alarm_id(queue)] = _alarm(
            f"{queue.logical}: messages in the dead-letter queue (every delivery failed); inspect, then redrive",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": {"Fn::GetAtt": [dlq, "QueueName"]}},
        )
    for function in functions:
        resources[function_errors_alarm_id(function)] = _alarm(
            f"{function}: invocations failed (crashed or timed out)",
            "AWS/Lambda",
            "Errors",
            {"FunctionName": {"Ref": function}},
            statistic="Sum",
            period=300,
        )
    for consumer, behind in stream_consumers.items():
        resources[f"{consumer}IteratorAgeAlarm"] = _alarm(
            behind,
            "AWS/Lambda",
            "IteratorAge",
            {"FunctionName": {"Ref": consumer}},
            threshold=STREAM_MAX_AGE_MS,
            period=300,
        )
    return resources


def _widget(
    title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum", region: str = "${AWS::Region}"
) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": region,
            "view": "timeSeries",
            "stat": stat,
            "period": 300,
            "metrics": metrics,
        },
    }


def dashboard_body(
    catalogue: Catalogue, functions: Sequence[str], pipeline: StateMachine, prefix: str, api_stage: str = "api"
) -> dict[str, Any]:
    """The dashboard's JSON with Fn::Sub placeholders (${Resource.Attribute}, ${AWS::Region}). The REST API is
    named `prefix` (chalicelib.infra.package), CloudFront's metrics are read in us-east-1, where they are."""
    service = ["service", "deployd"]
    failed = DEPLOYMENT_EVENTS["failed"]
    deployments: list[list[Any]] = [
        [METRICS_NAMESPACE, name, *service] for name in DEPLOYMENT_EVENTS.values() if name != failed
    ]
    deployments += [
        [METRICS_NAMESPACE, failed, *service, "cause", cause, {"label": f"{failed} ({cause})"}]
        for cause in FAILURE_CAUSES
    ]
    durations = [
        [METRICS_NAMESPACE, "BuildDuration", *service, {"stat": "p90", "label": "BuildDuration p90"}],
        [METRICS_NAMESPACE, "BuildDuration", *service, {"stat": "Average", "label": "BuildDuration avg"}],
        [METRICS_NAMESPACE, "QueueWait", *service, {"stat": "p90", "label": "QueueWait p90"}],
        [METRICS_NAMESPACE, "QueueWait", *service, {"stat": "Average", "label": "QueueWait avg"}],
    ]
    depth = "ApproximateNumberOfMessagesVisible"
    queues = [
        ["AWS/SQS", depth, "QueueName", f"${{{logical_id(q.logical, 'Queue')}.QueueName}}"] for q in catalogue.queues
    ]
    queues += [
        ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", f"${{{logical_id(q.logical, 'Queue')}.QueueName}}"]
        for q in catalogue.queues
    ]
    dead_letters = [
        ["AWS/SQS", depth, "QueueName", f"${{{logical_id(q.dead_letter_logical, 'Queue')}.QueueName}}"]
        for q in catalogue.queues
    ]
    errors = [["AWS/Lambda", "Errors", "FunctionName", f"${{{f}}}", {"label": f}] for f in functions]
    throttles = [["AWS/Lambda", "Throttles", "FunctionName", f"${{{f}}}", {"label": f}] for f in functions]
    machine = logical_id(pipeline.logical)
    executions = [
        ["AWS/States", metric, "StateMachineArn", f"${{{machine}}}"]
        for metric in ("ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsAborted")
    ]
    api = ["ApiName", prefix, "Stage", api_stage]
    api_metrics = [
        ["AWS/ApiGateway", "5XXError", *api, {"stat": "Sum", "label": "5XX"}],
        ["AWS/ApiGateway", "4XXError", *api, {"stat": "Sum", "label": "4XX"}],
        ["AWS/ApiGateway", "Latency", *api, {"stat": "p99", "label": "p99 latency (ms)", "yAxis": "right"}],
    ]
    sites: list[list[Any]] = []
    for distribution in catalogue.distributions:
        distribution_id = cdn.distribution_id(distribution)
        sites += [
            ["AWS/CloudFront", "5xxErrorRate", "DistributionId", f"${{{distribution_id}}}", "Region", "Global"],
            ["AWS/CloudFront", "4xxErrorRate", "DistributionId", f"${{{distribution_id}}}", "Region", "Global"],
            [
                "AWS/CloudFront",
                "FunctionExecutionErrors",
                "FunctionName",
                cdn.router_name(distribution, prefix),
                "Region",
                "Global",
                {"stat": "Sum", "yAxis": "right"},
            ],
        ]
    return {
        "widgets": [
            _widget("Deployments", deployments, 0, 0),
            _widget("Build duration and queue wait (seconds)", durations, 12, 0, stat="Average"),
            _widget("Queues: depth and oldest message (seconds)", queues, 0, 6, stat="Maximum"),
            _widget("Dead-letter queues: depth", dead_letters, 12, 6, stat="Maximum"),
            _widget("Functions: errors", errors, 0, 12),
            _widget("Functions: throttles", throttles, 12, 12),
            _widget("Pipeline executions", executions, 0, 18),
            _widget("API: 5XX, 4XX and p99 latency", api_metrics, 12, 18),
            _widget(
                "Sites (CloudFront, us-east-1): error rates (%) and router errors", sites, 0, 24, "Average", "us-east-1"
            ),
        ]
    }


def dashboard_resource(
    catalogue: Catalogue, functions: Sequence[str], pipeline: StateMachine, prefix: str
) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": prefix,
            "DashboardBody": {
                "Fn::Sub": json.dumps(dashboard_body(catalogue, functions, pipeline, prefix), sort_keys=True)
            },
        },
    }
