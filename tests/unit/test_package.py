"""The merge template `make package` hands to `chalice package --merge-template` (without running Chalice)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import app
from chalicelib.infra.package import (
    API_HANDLER,
    EVENT_HANDLERS,
    FUNCTIONS,
    PIPELINE_ROLE_LOGICAL_ID,
    REST_API,
    SQS_CONSUMERS,
    env_name,
    merge_template,
    resource_prefix,
)
from chalicelib.infra.resources import CATALOGUE
from chalicelib.infra.template import data_plane, logical_id


def _pipeline_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    role = template["Resources"][PIPELINE_ROLE_LOGICAL_ID]
    return [s for policy in role["Properties"]["Policies"] for s in policy["PolicyDocument"]["Statement"]]


def _references(value: Any) -> list[str]:
    """Logical ids a Ref / Fn::GetAtt / Fn::Sub inside value points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return [value["Ref"]]
        if "Fn::GetAtt" in value:
            return [value["Fn::GetAtt"][0]]
        if isinstance(value.get("Fn::Sub"), str):
            return [name for name in re.findall(r"\$\{([^}]+)\}", value["Fn::Sub"]) if "::" not in name]
        return [ref for v in value.values() for ref in _references(v)]
    if isinstance(value, list):
        return [ref for v in value for ref in _references(v)]
    return []


def test_the_pipeline_role_grants_only_named_actions_on_the_stacks_own_resources() -> None:
    template = merge_template("prod")
    role = template["Resources"][PIPELINE_ROLE_LOGICAL_ID]
    assume = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in assume] == [{"Service": "states.amazonaws.com"}]
    statements = _pipeline_statements(template)
    actions = {a for s in statements for a in s["Action"]}
    assert actions == {"sqs:SendMessage", "dynamodb:UpdateItem"}
    assert not any("*" in a for a in actions)
    for statement in statements:
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"]
        assert isinstance(resources, list) and resources
        # Every resource is an ARN of this template's resources, never a literal (so never a wildcard).
        assert all(isinstance(r, dict) and set(r) == {"Fn::GetAtt"} for r in resources)
        assert all(ref in template["Resources"] for ref in _references(resources))
    granted = {ref for s in statements for ref in _references(s["Resource"])}
    assert granted == {"BuildsQueue", "ActivationsQueue", "DeploymentsTable", "EnvironmentsTable"}


def test_every_data_plane_resource_is_in_the_merge_template_and_the_state_machine_has_its_role() -> None:
    resources = merge_template("prod")["Resources"]
    for name, resource in data_plane().items():
        assert resources[name]["Type"] == resource["Type"]
    role = resources["DeploymentPipeline"]["Properties"]["RoleArn"]
    assert role == {"Fn::GetAtt": [PIPELINE_ROLE_LOGICAL_ID, "Arn"]}


def test_every_function_gets_the_physical_name_of_every_resource() -> None:
    template = merge_template("prod")
    for function in FUNCTIONS:
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        for catalogue_entry in (*CATALOGUE.tables, *CATALOGUE.queues, *CATALOGUE.buckets):
            assert env_name(catalogue_entry.logical) in variables
        assert variables["DEPLOYD_STATE_MACHINE_ARN"] == {"Ref": "DeploymentPipeline"}
        assert variables["DEPLOYD_ALLOW_LOCAL_REPOSITORIES"] == "false"
        assert set(_references(variables)) <= set(template["Resources"]) | set(template["Parameters"]) | {REST_API}
        # The API's definition references its function: the function must not reference the API back.
        assert (REST_API in _references(variables)) == (function != API_HANDLER)


def test_the_functions_are_the_handlers_of_app_py() -> None:
    for handler in EVENT_HANDLERS:
        assert callable(getattr(app, handler))


def test_the_queues_chalice_subscribes_to_are_the_queues_of_the_stack() -> None:
    """Chalice builds the event source ARN from `<prefix>-<logical>`; those queues carry exactly that name."""
    for stage in ("dev", "prod"):
        resources = merge_template(stage)["Resources"]
        for queue in SQS_CONSUMERS.values():
            name = resources[logical_id(queue.logical, "Queue")]["Properties"]["QueueName"]
            assert name == f"{resource_prefix(stage)}-{queue.logical}" == f"deployd-{stage}-{queue.logical}"


def _chalice_stub() -> dict[str, Any]:
    """The shape of what `chalice package` generates around the merge template (its sam.json, much reduced)."""
    function = {
        "Type": "AWS::Serverless::Function",
        "Properties": {"Runtime": "python3.11", "CodeUri": "./deployment.zip", "Timeout": 60, "MemorySize": 128},
    }
    resources: dict[str, Any] = {
        REST_API: {"Type": "AWS::Serverless::Api", "Properties": {"StageName": "api"}},
        API_HANDLER: {**function, "Properties": {**function["Properties"], "Handler": "app.app"}},
    }
    for handler, name in EVENT_HANDLERS.items():
        resources[name] = {**function, "Properties": {**function["Properties"], "Handler": f"app.{handler}"}}
    return {"AWSTemplateFormatVersion": "2010-09-09", "Transform": "AWS::Serverless-2016-10-31", "Resources": resources}


def test_cfn_lint_finds_no_errors_in_the_merge_template_merged_into_a_chalice_like_template() -> None:
    pytest.importorskip("cfnlint")
    from cfnlint.api import lint_all
    from chalice.package import TemplateDeepMerger

    merged = TemplateDeepMerger().merge(merge_template("prod"), _chalice_stub())
    errors = [f"{m.rule.id} {m.message} ({m.path})" for m in lint_all(json.dumps(merged)) if m.rule.id.startswith("E")]
    assert errors == []
