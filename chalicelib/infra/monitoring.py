"""Alarms and the dashboard, generated from the catalogue's queues and the stack's functions.

One SNS topic receives every alarm (an e-mail subscription when the AlarmEmail parameter is set):
- a dead-letter queue holding any message: a build or an activation that failed every delivery;
- a function's errors: an invocation that crashed or timed out (a record that fails is reported, not raised);
- the routes stream falling behind: the sites' KeyValueStore is not following the routes table.

No alarm watches the state machine's ExecutionsFailed: every failed build (a user's build command that exits
non-zero) ends its execution in the Fail state, so that count is the users' business, shown on the dashboard;
and no execution has an overall time limit, so ExecutionsTimedOut stays 0 (time limits fail the Build task).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from chalicelib.infra.resources import Catalogue, Queue, StateMachine
from chalicelib.infra.template import logical_id
from chalicelib.observability import DEPLOYMENT_EVENTS, METRICS_NAMESPACE

ALARM_TOPIC = "AlarmTopic"
ALARM_SUBSCRIPTION = "AlarmEmailSubscription"
HAS_ALARM_EMAIL = "HasAlarmEmail"
DASHBOARD = "Dashboard"
# The stream consumer is behind when its oldest record is older than this.
ROUTE_STREAM_MAX_AGE_MS = 5 * 60 * 1000


def dead_letter_alarm_id(queue: Queue) -> str:
    return logical_id(queue.dead_letter_logical, "Alarm")


def function_errors_alarm_id(function: str) -> str:
    return f"{function}ErrorsAlarm"


def _alarm(description: str, namespace: str, metric: str, dimensions: dict[str, Any], **rule: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": [{"Name": name, "Value": value} for name, value in dimensions.items()],
            "Statistic": rule.get("statistic", "Maximum"),
            "Period": rule.get("period", 60),
            "EvaluationPeriods": rule.get("evaluation_periods", 1),
            "Threshold": rule.get("threshold", 0),
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": ALARM_TOPIC}],
            "OKActions": [{"Ref": ALARM_TOPIC}],
        },
    }


def alarm_resources(
    catalogue: Catalogue, functions: Sequence[str], route_stream_consumer: str | None
) -> dict[str, Any]:
    """The topic, its optional subscription, and the alarms. `functions` are the stack's function logical ids."""
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
    if route_stream_consumer is not None:
        resources[f"{route_stream_consumer}IteratorAgeAlarm"] = _alarm(
            "The routes stream is behind: the sites' KeyValueStore lags the routes table",
            "AWS/Lambda",
            "IteratorAge",
            {"FunctionName": {"Ref": route_stream_consumer}},
            threshold=ROUTE_STREAM_MAX_AGE_MS,
            period=300,
        )
    return resources


def _widget(title: str, metrics: list[list[Any]], x: int, y: int, stat: str = "Sum") -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "stat": stat,
            "period": 300,
            "metrics": metrics,
        },
    }


def dashboard_body(catalogue: Catalogue, functions: Sequence[str], pipeline: StateMachine) -> dict[str, Any]:
    """The dashboard's JSON with Fn::Sub placeholders (${Resource.Attribute}, ${AWS::Region})."""
    service = ["service", "deployd"]
    deployments = [[METRICS_NAMESPACE, name, *service] for name in DEPLOYMENT_EVENTS.values()]
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
    return {
        "widgets": [
            _widget("Deployments", deployments, 0, 0),
            _widget("Build duration and queue wait (seconds)", durations, 12, 0, stat="Average"),
            _widget("Queues: depth and oldest message (seconds)", queues, 0, 6, stat="Maximum"),
            _widget("Dead-letter queues: depth", dead_letters, 12, 6, stat="Maximum"),
            _widget("Functions: errors", errors, 0, 12),
            _widget("Functions: throttles", throttles, 12, 12),
            _widget("Pipeline executions", executions, 0, 18),
        ]
    }


def dashboard_resource(
    catalogue: Catalogue, functions: Sequence[str], pipeline: StateMachine, prefix: str
) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": prefix,
            "DashboardBody": {"Fn::Sub": json.dumps(dashboard_body(catalogue, functions, pipeline), sort_keys=True)},
        },
    }
