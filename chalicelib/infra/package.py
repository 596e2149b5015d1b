"""The template `chalice package --merge-template` merges into Chalice's own SAM template.

`python -m chalicelib.infra.package STAGE OUT_DIR` writes OUT_DIR/merge-template.json: the data plane
(chalicelib.infra.template), the state machine's IAM role, the stack's parameters and outputs, and the
environment variables that tell Chalice's Lambda functions the physical names of the stack's resources.

Chalice names its resources after the app's handlers (see FUNCTIONS); the merge is a deep merge in which
dicts are merged key by key and anything else (lists included) from this template wins.

Not here yet: least-privilege data-plane policies for the Lambda roles (they only have the CloudWatch Logs
policy of .chalice/policy-<stage>.json), CodeBuild, CloudFront (SitesDomain and CertificateArn are
declared for it but not used yet), alarms.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.infra.resources import (
    ACTIVATION_QUEUE,
    BUILD_QUEUE,
    CATALOGUE,
    DEPLOYMENTS,
    ENVIRONMENTS,
    Catalogue,
    Queue,
)
from chalicelib.infra.template import data_plane, logical_id

PIPELINE_LOGICAL_ID = "DeploymentPipeline"
PIPELINE_ROLE_LOGICAL_ID = "DeploymentPipelineRole"

# Chalice's logical ids for the REST API and for the functions it generates from app.py's handlers.
REST_API = "RestAPI"
API_HANDLER = "APIHandler"
# handler name in app.py -> Chalice's logical id for its function
EVENT_HANDLERS: dict[str, str] = {
    "build_worker": "BuildWorker",
    "activation_worker": "ActivationWorker",
    "preview_scheduler": "PreviewScheduler",
}
FUNCTIONS: tuple[str, ...] = (API_HANDLER, *EVENT_HANDLERS.values())
# Chalice builds each SQS event source's queue ARN from the queue *name* app.py passes to on_sqs_message
# (Settings.resource_name: "<DEPLOYD_RESOURCE_PREFIX>-<logical>" with the stage's variables from
# .chalice/config.json). A deep merge cannot replace that ARN (dicts are merged, so an Fn::GetAtt would land
# next to Chalice's Fn::Sub), so the queues these functions read get exactly that name instead. The event
# source mappings are still created after the queues: every function's environment references every queue.
SQS_CONSUMERS: dict[str, Queue] = {"BuildWorker": BUILD_QUEUE, "ActivationWorker": ACTIVATION_QUEUE}

CHALICE_CONFIG = Path(__file__).resolve().parents[2] / ".chalice" / "config.json"
API_STAGE = "api"  # api_gateway_stage in .chalice/config.json


def api_url() -> dict[str, Any]:
    return {"Fn::Sub": f"https://${{{REST_API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE}"}


def env_name(logical: str) -> str:
    """`deployment-statuses` → `DEPLOYD_RESOURCE_DEPLOYMENT_STATUSES` (read back by chalicelib.settings)."""
    return "DEPLOYD_RESOURCE_" + logical.upper().replace("-", "_")


def pipeline_role() -> dict[str, Any]:
    """The state machine may send to the two queues and update the two tables its definition names, nothing else."""
    queues = [{"Fn::GetAtt": [logical_id(q.logical, "Queue"), "Arn"]} for q in (BUILD_QUEUE, ACTIVATION_QUEUE)]
    tables = [{"Fn::GetAtt": [logical_id(t.logical, "Table"), "Arn"]} for t in (DEPLOYMENTS, ENVIRONMENTS)]
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "states.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "DeploymentPipeline",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": queues},
                            {"Effect": "Allow", "Action": ["dynamodb:UpdateItem"], "Resource": tables},
                        ],
                    },
                }
            ],
        },
    }


def function_environment(catalogue: Catalogue, *, with_api_url: bool) -> dict[str, Any]:
    """Physical names of the stack's resources, as chalicelib.settings reads them."""
    variables: dict[str, Any] = {}
    for table in catalogue.tables:
        variables[env_name(table.logical)] = {"Ref": logical_id(table.logical, "Table")}
    for queue in catalogue.queues:
        # chalicelib.aws looks queues up by name (get_queue_url), so pass the name, not the URL Ref returns.
        variables[env_name(queue.logical)] = {"Fn::GetAtt": [logical_id(queue.logical, "Queue"), "QueueName"]}
    for bucket in catalogue.buckets:
        variables[env_name(bucket.logical)] = {"Ref": logical_id(bucket.logical, "Bucket")}
    variables["DEPLOYD_STATE_MACHINE_ARN"] = {"Ref": PIPELINE_LOGICAL_ID}
    variables["DEPLOYD_SITES_URL_TEMPLATE"] = {"Fn::Sub": "https://{label}.${SitesDomain}/"}
    variables["DEPLOYD_ADMIN_TOKEN"] = {"Ref": "AdminToken"}
    variables["DEPLOYD_ALLOW_LOCAL_REPOSITORIES"] = "false"
    if with_api_url:
        # The API function itself cannot reference the RestAPI: the API's definition references the function.
        variables["DEPLOYD_API_URL"] = api_url()
    return variables


def parameters() -> dict[str, Any]:
    return {
        "SitesDomain": {
            "Type": "String",
            "Description": "Domain the sites are served under: <label>.<SitesDomain>.",
            "AllowedPattern": r"^[a-z0-9.-]+$",
        },
        "CertificateArn": {
            "Type": "String",
            "Description": "ACM certificate (us-east-1) for *.<SitesDomain>; reserved for the CloudFront distribution.",
            "Default": "",
        },
        "AdminToken": {
            "Type": "String",
            "NoEcho": True,
            "MinLength": 32,
            "Description": "Bearer token of the admin API.",
        },
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
    return result


def resource_prefix(stage: str, config_path: Path = CHALICE_CONFIG) -> str:
    """DEPLOYD_RESOURCE_PREFIX of the stage, as Chalice sets it when it imports app.py to package it."""
    config = json.loads(config_path.read_text())
    variables = {**config.get("environment_variables", {})}
    variables.update(config["stages"][stage].get("environment_variables", {}))
    return str(variables["DEPLOYD_RESOURCE_PREFIX"])


def function_overrides(catalogue: Catalogue) -> dict[str, Any]:
    """Partial function resources, deep-merged by Chalice into the ones it generates."""
    overrides: dict[str, Any] = {}
    for function in FUNCTIONS:
        environment = function_environment(catalogue, with_api_url=function != API_HANDLER)
        overrides[function] = {"Properties": {"Environment": {"Variables": environment}}}
    return overrides


def merge_template(stage: str, catalogue: Catalogue = CATALOGUE) -> dict[str, Any]:
    resources = data_plane(catalogue)
    resources[PIPELINE_ROLE_LOGICAL_ID] = pipeline_role()
    prefix = resource_prefix(stage)
    for queue in SQS_CONSUMERS.values():
        resources[logical_id(queue.logical, "Queue")]["Properties"]["QueueName"] = f"{prefix}-{queue.logical}"
    resources.update(function_overrides(catalogue))
    return {
        "Description": f"deployd ({stage})",
        "Parameters": parameters(),
        "Resources": resources,
        "Outputs": outputs(catalogue),
    }


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m chalicelib.infra.package STAGE OUT_DIR", file=sys.stderr)
        return 2
    stage, out_dir = argv
    path = Path(out_dir) / "merge-template.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merge_template(stage), indent=2, sort_keys=True) + "\n")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
