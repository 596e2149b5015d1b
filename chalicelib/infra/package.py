"""The template `chalice package --merge-template` merges into Chalice's own SAM template.

`python -m chalicelib.infra.package STAGE OUT_DIR` writes OUT_DIR/merge-template.json: the whole stack but
the functions and the REST API Chalice generates from app.py, and what those functions need from it. Every
resource comes from the catalogue (chalicelib.infra.resources):

- the data plane: tables, queues and dead-letter queues, buckets, the state machine (chalicelib.infra.template);
- the CodeBuild project and its log group (.codebuild); CloudFront, its KeyValueStore and router (.cdn);
- IAM, all in one place (.iam): the state machine's role, the build's role, and each function's policies,
  which replace the ones Chalice generates from .chalice/policy-<stage>.json;
- alarms and the dashboard (.monitoring);
- per function (.function_resources): its environment (the physical names of the stack's resources), its log
  group, partial batch failures on its SQS event source, and for a stream consumer (the routes table's, the
  deployments table's) its table's stream as its event source.

The merge is a deep merge: dicts are merged key by key and anything else (lists included) from this template
wins. So the merge template may only extend resources Chalice generates, and names them as Chalice does
(chalicelib.infra.functions reads them from app.py). Timeouts, memory and X-Ray tracing are Chalice's own
settings, in .chalice/config.json. The runtime is pinned here (LAMBDA_RUNTIME): Chalice would take the version
of whichever Python runs it, and builds the dependencies for that version, so packaging refuses any other
(the package's bytecode, chalicelib.infra.deployment_zip, is that version's too).

Also here: the REST API is named after the stage prefix (its metrics are named by it; the alarms on them
would otherwise mix the stages of one account), the state machine logs errors to its own log group and is
traced, and `build_events` (invoked asynchronously by EventBridge) sends the events it failed to handle after
Lambda's retries to a queue of its own, which has an alarm.

Parameters: SitesDomain, CertificateArn (ACM, us-east-1, for *.SitesDomain), AdminToken, AlarmEmail
(optional), PublicApiUrl (optional: the API's public base URL, see `api_url_variable`), SlackSigningSecret,
SlackClientId and SlackClientSecret (optional: the Slack app, docs/slack.md).

The AdminToken parameter (NoEcho) becomes a Secrets Manager secret; only the API function is told its ARN
and may read it (chalicelib.aws.admin_token reads it on first use), and no function's environment holds the
token itself. The Slack app's signing and client secrets (NoEcho parameters) are secrets the same way, and Slack
bot tokens are stored encrypted with a customer-managed KMS key of the catalogue (SLACK_TOKEN_KEY): the API may
encrypt with it (a workspace connects), the Slack workers decrypt (they post as the bot).

Not here: a custom domain for the API (PublicApiUrl only tells the functions one), DNS records (the wildcard
CNAME to the distribution is the operator's, in whatever DNS holds SitesDomain), CloudFront access logs,
customer-managed KMS keys but the Slack tokens' (tables, queues, buckets and the secrets use AWS-owned or
AWS-managed keys).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chalicelib.infra import cdn, codebuild, gateway_responses, iam, monitoring
from chalicelib.infra.deployment_zip import RuntimeMismatch, check_interpreter
from chalicelib.infra.function_resources import (
    API_STAGE,
    HAS_PUBLIC_API_URL,
    HAS_SLACK,
    REST_API,
    STREAM_CONSUMERS,
    api_url,
    function_resources,
)
from chalicelib.infra.functions import Function, app_functions, consumed_queue
from chalicelib.infra.grants import SLACK_CLIENT_SECRET_LOGICAL_ID, SLACK_SIGNING_SECRET_LOGICAL_ID
from chalicelib.infra.iam import ADMIN_TOKEN_SECRET_LOGICAL_ID, PIPELINE_LOGICAL_ID, PIPELINE_ROLE_LOGICAL_ID
from chalicelib.infra.resources import CATALOGUE, PIPELINE, Catalogue
from chalicelib.infra.template import data_plane, logical_id

__all__ = ["PIPELINE_LOGICAL_ID", "PIPELINE_ROLE_LOGICAL_ID", "merge_template"]

CHALICE_CONFIG = Path(__file__).resolve().parents[2] / ".chalice" / "config.json"


def admin_token_secret() -> dict[str, Any]:
    # No fixed name: a deleted secret keeps its name for its recovery window, which would block a new stack.
    return {
        "Type": "AWS::SecretsManager::Secret",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {
            "Description": "Bearer token of deployd's admin API (the AdminToken parameter); read by the API only",
            "SecretString": {"Ref": "AdminToken"},
        },
    }


def slack_secret(parameter: str, description: str) -> dict[str, Any]:
    """A Slack app secret from its NoEcho parameter. Without a Slack app the secret still exists (so the API's
    policy can name it) holding a random value no one uses: the API is not told of it (DEPLOYD_SLACK_*_ARN)."""
    return {
        "Type": "AWS::SecretsManager::Secret",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {
            "Description": description,
            "SecretString": {"Fn::If": [HAS_SLACK, {"Ref": parameter}, {"Ref": "AWS::NoValue"}]},
            "GenerateSecretString": {
                "Fn::If": [HAS_SLACK, {"Ref": "AWS::NoValue"}, {"PasswordLength": 32, "ExcludePunctuation": True}]
            },
        },
    }


def pipeline_observability(prefix: str) -> dict[str, Any]:
    """The state machine's log group, and what to merge into the state machine: logging and X-Ray tracing."""
    log_group = {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        # /aws/vendedlogs/: CloudWatch Logs' resource policy for Step Functions need not list every group.
        "Properties": {
            "LogGroupName": f"/aws/vendedlogs/states/{prefix}-{PIPELINE.logical}",
            "RetentionInDays": monitoring.PIPELINE_LOG_RETENTION_DAYS,
        },
    }
    properties = {
        # ERROR: failed and timed-out tasks and executions. No execution data: inputs carry task tokens.
        "LoggingConfiguration": {
            "Level": "ERROR",
            "IncludeExecutionData": False,
            "Destinations": [
                {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [monitoring.PIPELINE_LOG_GROUP, "Arn"]}}}
            ],
        },
        "TracingConfiguration": {"Enabled": True},
    }
    return {"log_group": log_group, "properties": properties}


def parameters() -> dict[str, Any]:
    return {
        "SitesDomain": {
            "Type": "String",
            "Description": "Domain the sites are served under: <label>.<SitesDomain> (DNS: *.<SitesDomain> CNAME "
            "to the SitesDistributionDomainName output).",
            "AllowedPattern": r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$",
            "ConstraintDescription": "a lower-case domain name, e.g. sites.example.com",
        },
        "CertificateArn": {
            "Type": "String",
            "Description": "ARN of an issued ACM certificate in us-east-1 for *.<SitesDomain> (CloudFront's region).",
            "AllowedPattern": r"^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]{36}$",
            "ConstraintDescription": "an ACM certificate ARN in us-east-1",
        },
        "AdminToken": {
            "Type": "String",
            "NoEcho": True,
            "MinLength": 32,
            "Description": "Bearer token of the admin API (kept in Secrets Manager; only the API function reads it).",
        },
        "AlarmEmail": {
            "Type": "String",
            "Default": "",
            "Description": "Optional: an e-mail address subscribed to the alarms topic (confirm the subscription).",
            "AllowedPattern": r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$",
            "ConstraintDescription": "empty, or an e-mail address",
        },
        "SlackSigningSecret": {
            "Type": "String",
            "NoEcho": True,
            "Default": "",
            "Description": "Optional: the Slack app's signing secret (docs/slack.md); empty: no Slack app, /slack "
            "answers 404. Kept in Secrets Manager; only the API function reads it.",
        },
        "SlackClientId": {
            "Type": "String",
            "Default": "",
            "Description": "Optional: the Slack app's client id (with SlackSigningSecret and SlackClientSecret).",
            "AllowedPattern": r"^$|^[0-9]+\.[0-9]+$",
            "ConstraintDescription": "empty, or a Slack client id such as 1234567890.1234567890",
        },
        "SlackClientSecret": {
            "Type": "String",
            "NoEcho": True,
            "Default": "",
            "Description": "Optional: the Slack app's client secret (OAuth). Kept in Secrets Manager; only the API "
            "function reads it.",
        },
        "PublicApiUrl": {
            "Type": "String",
            "Default": "",
            "Description": "Optional: the API's public base URL (a custom domain, or the ApiUrl output), used in the "
            "links the API returns. Empty: the other functions use the execute-api URL, the API none.",
            "AllowedPattern": r"^$|^https://[^\s/]+(/[^\s]*[^\s/])?$",
            "ConstraintDescription": "empty, or an https:// URL without a trailing slash",
        },
    }


def conditions() -> dict[str, Any]:
    return {
        monitoring.HAS_ALARM_EMAIL: {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
        HAS_PUBLIC_API_URL: {"Fn::Not": [{"Fn::Equals": [{"Ref": "PublicApiUrl"}, ""]}]},
        HAS_SLACK: {
            "Fn::And": [
                {"Fn::Not": [{"Fn::Equals": [{"Ref": "SlackSigningSecret"}, ""]}]},
                {"Fn::Not": [{"Fn::Equals": [{"Ref": "SlackClientSecret"}, ""]}]},
            ]
        },
        monitoring.IS_US_EAST_1: {"Fn::Equals": [{"Ref": "AWS::Region"}, monitoring.CLOUDFRONT_METRICS_REGION]},
    }


def outputs(catalogue: Catalogue) -> dict[str, Any]:
    result: dict[str, Any] = {"ApiUrl": {"Value": api_url()}}
    for table in catalogue.tables:
        name = logical_id(table.logical, "Table")
        result[f"{name}Name"] = {"Value": {"Ref": name}}
    for queue in catalogue.queues:
        name = logical_id(queue.logical, "Queue")
        result[f"{name}Name"] = {"Value": {"Fn::GetAtt": [name, "QueueName"]}}
        result[f"{name}Url"] = {"Value": {"Ref": name}}
    for bucket in catalogue.buckets:
        name = logical_id(bucket.logical, "Bucket")
        result[f"{name}Name"] = {"Value": {"Ref": name}}
    result["DeploymentPipelineArn"] = {"Value": {"Ref": PIPELINE_LOGICAL_ID}}
    result["PromotionFlowArn"] = {"Value": {"Ref": iam.PROMOTION_FLOW_LOGICAL_ID}}
    for project in catalogue.build_projects:
        result[f"{codebuild.project_id(project)}Name"] = {"Value": {"Ref": codebuild.project_id(project)}}
        result[f"{codebuild.log_group_id(project)}Name"] = {"Value": {"Ref": codebuild.log_group_id(project)}}
    result["SitesDomain"] = {"Value": {"Ref": "SitesDomain"}}
    result["SitesUrlTemplate"] = {"Value": {"Fn::Sub": "https://{label}.${SitesDomain}/"}}
    for distribution in catalogue.distributions:
        result["SitesDistributionDomainName"] = {
            "Description": "CNAME target of *.<SitesDomain>",
            "Value": {"Fn::GetAtt": [cdn.distribution_id(distribution), "DomainName"]},
        }
        result["SitesDistributionId"] = {"Value": {"Ref": cdn.distribution_id(distribution)}}
        result["SitesKeyValueStoreArn"] = {"Value": cdn.key_value_store_arn(distribution)}
    result["AlarmTopicArn"] = {"Value": {"Ref": monitoring.ALARM_TOPIC}}
    return result


def resource_prefix(stage: str, config_path: Path = CHALICE_CONFIG) -> str:
    """DEPLOYD_RESOURCE_PREFIX of the stage, as Chalice sets it when it imports app.py to package it."""
    config = json.loads(config_path.read_text())
    variables = {**config.get("environment_variables", {})}
    variables.update(config["stages"][stage].get("environment_variables", {}))
    return str(variables["DEPLOYD_RESOURCE_PREFIX"])


def merge_template(
    stage: str, catalogue: Catalogue = CATALOGUE, functions: Sequence[Function] | None = None
) -> dict[str, Any]:
    """The merge template for `stage`; `functions` default to app.py's (chalicelib.infra.functions)."""
    functions = app_functions() if functions is None else functions
    prefix = resource_prefix(stage)
    resources = data_plane(catalogue)
    resources[PIPELINE_ROLE_LOGICAL_ID] = iam.pipeline_role()
    resources[iam.PROMOTION_FLOW_ROLE_LOGICAL_ID] = iam.promotion_flow_role()
    resources[iam.PROMOTION_FLOW_LOGICAL_ID]["Properties"]["TracingConfiguration"] = {"Enabled": True}
    resources[ADMIN_TOKEN_SECRET_LOGICAL_ID] = admin_token_secret()
    resources[SLACK_SIGNING_SECRET_LOGICAL_ID] = slack_secret(
        "SlackSigningSecret", "The Slack app's signing secret (SlackSigningSecret); read by the API only"
    )
    resources[SLACK_CLIENT_SECRET_LOGICAL_ID] = slack_secret(
        "SlackClientSecret", "The Slack app's OAuth client secret (SlackClientSecret); read by the API only"
    )
    # Chalice builds each SQS event source's queue ARN from the queue *name* app.py passes to on_sqs_message
    # (Settings.resource_name: "<DEPLOYD_RESOURCE_PREFIX>-<logical>" with the stage's variables). A deep merge
    # cannot replace that ARN (an Fn::GetAtt would land next to Chalice's Fn::Sub), so the queues those
    # functions read get exactly that name instead. The event source mappings are still created after the
    # queues: every function's environment references every queue.
    for function in functions:
        queue = consumed_queue(function, catalogue.queues)
        if queue is not None:
            resources[logical_id(queue.logical, "Queue")]["Properties"]["QueueName"] = f"{prefix}-{queue.logical}"
    for project in catalogue.build_projects:
        resources.update(codebuild.build_project_resources(project, prefix))
        resources[codebuild.role_id(project)] = iam.build_role(prefix)
    for distribution in catalogue.distributions:
        resources.update(cdn.site_distribution_resources(distribution, prefix))
        resources.update(
            monitoring.cloudfront_alarms(cdn.distribution_id(distribution), cdn.router_name(distribution, prefix))
        )
    observed = pipeline_observability(prefix)
    resources[monitoring.PIPELINE_LOG_GROUP] = observed["log_group"]
    resources[PIPELINE_LOGICAL_ID]["Properties"].update(observed["properties"])
    resources.update(function_resources(catalogue, functions, prefix))
    if any(f.kind == "api" for f in functions):
        # The API's name is its OpenAPI title (Chalice's: the app's name, the same for every stage); its
        # gateway responses answer requests no route takes (chalicelib.infra.gateway_responses).
        definition = {"info": {"title": prefix}, **gateway_responses.definition_extension()}
        resources[REST_API] = {"Properties": {"DefinitionBody": definition}}
        resources.update(monitoring.api_alarms(prefix, API_STAGE))
    resources.update(monitoring.platform_failures_alarm())
    function_ids = [f.logical_id for f in functions]
    stream_consumers = {
        f.logical_id: STREAM_CONSUMERS[f.handler].behind
        for f in functions
        if f.kind == "lambda" and f.handler in STREAM_CONSUMERS
    }
    resources.update(monitoring.alarm_resources(catalogue, function_ids, stream_consumers))
    resources[monitoring.DASHBOARD] = monitoring.dashboard_resource(catalogue, function_ids, PIPELINE, prefix)
    return {
        "Description": f"deployd ({stage})",
        "Parameters": parameters(),
        "Conditions": conditions(),
        "Resources": resources,
        "Outputs": outputs(catalogue),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m chalicelib.infra.package STAGE OUT_DIR", file=sys.stderr)
        return 2
    stage, out_dir = argv
    try:
        # chalice package builds the dependencies (pydantic-core, awscrt: compiled) for the Python it runs on,
        # and the package's bytecode is that Python's (chalicelib.infra.deployment_zip).
        check_interpreter()
    except RuntimeMismatch as exc:
        print(exc, file=sys.stderr)
        return 2
    path = Path(out_dir) / "merge-template.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merge_template(stage), indent=2, sort_keys=True) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
