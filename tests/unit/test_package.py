"""The packaged stack: Chalice's SAM template with the merge template merged in, as `make package` writes it
(built by tests/unit/chalice_sam.py without the deployment zip), and the merge template itself."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from chalicelib.adapters import executions
from chalicelib.infra import codebuild, iam, package
from chalicelib.infra.function_resources import (
    AWSCRT_LAYER,
    DEPLOYMENT_STREAM_EVENT,
    LAMBDA_RUNTIME,
    REST_API,
    ROUTE_STREAM_EVENT,
    env_name,
)
from chalicelib.infra.functions import Function, functions_of
from chalicelib.infra.package import merge_template, resource_prefix
from chalicelib.infra.resources import (
    ACTIVATION_QUEUE,
    BUILD_PROJECT,
    BUILD_QUEUE,
    CATALOGUE,
    DEPLOYMENTS,
    PREVIEW_SCHEDULE,
    ROUTES,
)
from chalicelib.infra.template import data_plane, logical_id
from chalicelib.observability import DEPLOYMENT_EVENTS, METRICS_NAMESPACE
from chalicelib.settings import Settings
from tests.unit.chalice_sam import packaged_template

STAGE = "prod"
README = Path(__file__).resolve().parents[2] / "README.md"
# CloudFormation takes a template inline (--template-body, what `aws cloudformation deploy` sends without
# --s3-bucket) only up to this many bytes; a larger one must come from S3.
INLINE_TEMPLATE_LIMIT = 51_200
PSEUDO = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::URLSuffix", "AWS::StackName", "AWS::NoValue"}
SQS_CONSUMERS = {"BuildWorker": BUILD_QUEUE, "ActivationWorker": ACTIVATION_QUEUE}


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return packaged_template(STAGE)


def _references(value: Any) -> set[str]:
    """Names a Ref / Fn::GetAtt / Fn::Sub / Fn::If inside value points at (resources, parameters, conditions)."""
    if isinstance(value, list):
        return {ref for item in value for ref in _references(item)}
    if not isinstance(value, dict):
        return set()
    found: set[str] = set()
    for key, inner in value.items():
        if key == "Ref":
            found.add(inner)
        elif key == "Fn::GetAtt":
            found.add(inner[0])
        elif key == "Fn::Sub":
            text, variables = (inner, {}) if isinstance(inner, str) else (inner[0], inner[1])
            named = {n.split(".")[0] for n in re.findall(r"\$\{([^}!]+)\}", text)}
            found |= (named - set(variables)) | _references(variables)
        elif key == "Fn::If":
            found.add(inner[0])
            found |= _references(inner[1:])
        else:
            found |= _references(inner)
    return found


def _functions(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}


# --- the stack as packaged ---


def test_every_handler_of_app_py_is_a_function_and_every_merged_resource_is_whole(sam: dict[str, Any]) -> None:
    import app

    assert set(_functions(sam)) == {f.logical_id for f in functions_of(app.app)}
    assert {"APIHandler", "BuildWorker", "ActivationWorker", "PreviewScheduler", "RouteSync"} <= set(_functions(sam))
    # A merge-template entry for a resource Chalice did not generate would be a partial resource: no Type.
    assert all("Type" in resource for resource in sam["Resources"].values())


def test_every_function_s_handler_is_its_own_entry_module_and_the_handler_app_py_registers(sam: dict[str, Any]) -> None:
    import importlib

    import app

    for function in functions_of(app.app):
        # Given the handler Lambda calls for the function, as the packaged template names it
        module, _, attribute = _functions(sam)[function.logical_id]["Properties"]["Handler"].rpartition(".")

        # When Lambda imports it
        handler = getattr(importlib.import_module(module), attribute)

        # Then it is the function's own module (app.py would load every function), with app.py's handler
        own = "api" if function.kind == "api" else function.handler
        assert module == f"chalicelib.functions.{own}"
        assert handler is (app.app if function.kind == "api" else app.app.handler_map[function.handler])


def test_every_reference_names_a_resource_parameter_or_condition_of_the_stack(sam: dict[str, Any]) -> None:
    known = set(sam["Resources"]) | set(sam["Parameters"]) | set(sam["Conditions"]) | PSEUDO
    for name, resource in sam["Resources"].items():
        assert _references(resource) <= known, name
    assert _references(sam["Outputs"]) <= known


def test_every_function_gets_the_physical_name_of_every_resource_and_runs_the_codebuild_runner(
    sam: dict[str, Any],
) -> None:
    for name, function in _functions(sam).items():
        variables = function["Properties"]["Environment"]["Variables"]
        for entry in (*CATALOGUE.tables, *CATALOGUE.queues, *CATALOGUE.buckets, *CATALOGUE.build_projects):
            assert env_name(entry.logical) in variables, (name, entry.logical)
        assert variables["DEPLOYD_STATE_MACHINE_ARN"] == {"Ref": "DeploymentPipeline"}
        assert variables["DEPLOYD_BUILD_RUNNER"] == "codebuild"
        assert variables[env_name(BUILD_PROJECT.logical)] == {"Ref": codebuild.project_id(BUILD_PROJECT)}
        assert variables["DEPLOYD_BUILD_LOG_GROUP"] == {"Ref": codebuild.log_group_id(BUILD_PROJECT)}
        assert variables["DEPLOYD_SITES_KVS_ARN"] == {"Fn::GetAtt": ["SitesCdnKeyValueStore", "Arn"]}
        assert variables["DEPLOYD_ALLOW_LOCAL_REPOSITORIES"] == "false"
        # chalicelib.settings reads every DEPLOYD_RESOURCE_<X> back as the physical name of <x>
        assert {v for v in variables if v.startswith("DEPLOYD_RESOURCE_")} == {
            env_name(e.logical)
            for e in (
                *CATALOGUE.tables,
                *CATALOGUE.queues,
                *CATALOGUE.buckets,
                *CATALOGUE.build_projects,
                *CATALOGUE.encryption_keys,
            )
        } | {"DEPLOYD_RESOURCE_PREFIX"}
        # The API's definition references its function: the function must not reference the API back.
        assert (REST_API in _references(variables)) == (name != "APIHandler")


def test_the_admin_token_is_a_secret_only_the_api_function_is_told_of(sam: dict[str, Any]) -> None:
    # The NoEcho parameter goes into a Secrets Manager secret and nowhere else
    secret = sam["Resources"]["AdminTokenSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["SecretString"] == {"Ref": "AdminToken"}
    assert [name for name, resource in sam["Resources"].items() if "AdminToken" in _references(resource)] == [
        "AdminTokenSecret"
    ]
    # No function's environment holds the token; the API's names the secret, the others' do not
    for name, function in _functions(sam).items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert "DEPLOYD_ADMIN_TOKEN" not in variables, name
        expected = {"Ref": "AdminTokenSecret"} if name == "APIHandler" else None
        assert variables.get("DEPLOYD_ADMIN_TOKEN_SECRET_ARN") == expected, name


def test_the_settings_fields_the_template_sets_exist() -> None:
    for field in ("build_runner", "build_log_group", "sites_kvs_arn", "api_url", "admin_token_secret_arn"):
        assert field in Settings._fields


def test_the_scheduler_runs_at_the_catalogues_rate(sam: dict[str, Any]) -> None:
    events = _functions(sam)["PreviewScheduler"]["Properties"]["Events"]
    assert [e["Properties"]["Schedule"] for e in events.values() if e["Type"] == "Schedule"] == [
        PREVIEW_SCHEDULE.expression
    ]


def test_sqs_consumers_report_partial_batch_failures_from_the_stacks_own_queues(sam: dict[str, Any]) -> None:
    for name, queue in SQS_CONSUMERS.items():
        (event,) = _functions(sam)[name]["Properties"]["Events"].values()
        assert event["Type"] == "SQS"
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        # Chalice subscribes by name: the stack's queue carries exactly that name.
        queue_name = sam["Resources"][logical_id(queue.logical, "Queue")]["Properties"]["QueueName"]
        assert event["Properties"]["Queue"]["Fn::Sub"].endswith(f":{queue_name}")


def test_function_timeouts_fit_their_queues_and_the_preview_wait(sam: dict[str, Any]) -> None:
    functions = _functions(sam)
    # AWS: the queue's visibility timeout at least 6 times the function's timeout (its advice, for retries of a
    # throttled function); the build queue's is bounded by its Build task's timeout (below), so twice
    activations = functions["ActivationWorker"]["Properties"]["Timeout"]
    assert ACTIVATION_QUEUE.visibility_timeout_seconds >= 6 * activations
    assert BUILD_QUEUE.visibility_timeout_seconds >= 2 * functions["BuildWorker"]["Properties"]["Timeout"]
    # The build worker may wait for a superseded preview build: twice the default heartbeat, then it evicts.
    heartbeat_default = 60
    assert functions["BuildWorker"]["Properties"]["Timeout"] > 2 * heartbeat_default + 60
    # API Gateway gives up on an integration after 29 s
    assert functions["APIHandler"]["Properties"]["Timeout"] <= 30
    assert all(f["Properties"]["MemorySize"] >= 256 for f in functions.values())


def test_every_function_is_traced_and_logs_to_its_own_log_group(sam: dict[str, Any]) -> None:
    for function in _functions(sam).values():
        assert function["Properties"]["Tracing"] == "Active"
        group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert sam["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
        assert sam["Resources"][group]["Properties"]["RetentionInDays"] > 0


def test_the_routes_stream_feeds_route_sync_with_partial_failures_and_bounded_retries(sam: dict[str, Any]) -> None:
    event = _functions(sam)["RouteSync"]["Properties"]["Events"][ROUTE_STREAM_EVENT]
    assert event["Type"] == "DynamoDB"
    properties = event["Properties"]
    assert properties["Stream"] == {"Fn::GetAtt": [logical_id(ROUTES.logical, "Table"), "StreamArn"]}
    assert properties["StartingPosition"] == "LATEST"
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BisectBatchOnFunctionError"] is True
    assert 0 < properties["MaximumRetryAttempts"] <= 10
    assert properties["MaximumRecordAgeInSeconds"] <= 3600
    routes = sam["Resources"][logical_id(ROUTES.logical, "Table")]["Properties"]
    assert routes["StreamSpecification"] == {"StreamViewType": "KEYS_ONLY"}


def test_the_deployments_stream_feeds_deployment_events_with_partial_failures_and_an_iterator_age_alarm(
    sam: dict[str, Any],
) -> None:
    event = _functions(sam)["DeploymentEvents"]["Properties"]["Events"][DEPLOYMENT_STREAM_EVENT]
    assert event["Type"] == "DynamoDB"
    properties = event["Properties"]
    assert properties["Stream"] == {"Fn::GetAtt": [logical_id(DEPLOYMENTS.logical, "Table"), "StreamArn"]}
    assert properties["StartingPosition"] == "LATEST"
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["BisectBatchOnFunctionError"] is True
    deployments = sam["Resources"][logical_id(DEPLOYMENTS.logical, "Table")]["Properties"]
    assert deployments["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    alarm = sam["Resources"]["DeploymentEventsIteratorAgeAlarm"]["Properties"]
    assert alarm["MetricName"] == "IteratorAge"
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "DeploymentEvents"}}]


def test_a_redelivered_build_message_comes_back_while_its_build_task_still_waits(
    settings_env: Callable[..., None],
) -> None:
    # Given the shortest Build task the pipeline gives a CodeBuild build (a 1-second limit: CodeBuild's minimum)
    settings_env(DEPLOYD_BUILD_RUNNER="codebuild")
    shortest, _heartbeat = executions.build_task_limits(1)
    # Then a build message whose worker died is delivered again before that task gives up, not after
    assert BUILD_QUEUE.visibility_timeout_seconds <= shortest


def test_every_function_runs_the_pinned_runtime_and_packaging_refuses_another_python(
    sam: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert {f["Properties"]["Runtime"] for f in _functions(sam).values()} == {LAMBDA_RUNTIME}
    # chalice package builds the compiled dependencies for the Python it runs on: any other is refused
    monkeypatch.setattr(package.sys, "version_info", SimpleNamespace(major=3, minor=12))
    assert package.main([STAGE, str(tmp_path)]) == 2
    assert not (tmp_path / "merge-template.json").exists()


def test_only_the_functions_that_sign_keyvaluestore_calls_get_the_awscrt_layer(sam: dict[str, Any]) -> None:
    layered = {
        name: function["Properties"]["Layers"]
        for name, function in _functions(sam).items()
        if "Layers" in function["Properties"]
    }
    assert layered == {"RouteSync": [{"Ref": AWSCRT_LAYER}], "PreviewScheduler": [{"Ref": AWSCRT_LAYER}]}
    layer = sam["Resources"][AWSCRT_LAYER]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    # the package chalicelib.infra.deployment_zip writes next to deployment.zip, for the functions' runtime
    assert layer["Properties"]["ContentUri"] == "./awscrt-layer.zip"
    assert layer["Properties"]["CompatibleRuntimes"] == [LAMBDA_RUNTIME]


def test_build_events_sends_what_it_failed_to_handle_to_its_failure_queue_after_bounded_retries(
    sam: dict[str, Any],
) -> None:
    config = _functions(sam)["BuildEvents"]["Properties"]["EventInvokeConfig"]
    assert 0 <= config["MaximumRetryAttempts"] <= 2
    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["BuildEventsFailureQueue", "Arn"]},
    }
    assert sam["Resources"]["BuildEventsFailureQueue"]["Type"] == "AWS::SQS::Queue"
    # The function's role may send there (SAM adds no policy to a role it did not make) ...
    statements = sam["Resources"]["BuildEventsRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert {
        "Effect": "Allow",
        "Action": ["sqs:SendMessage"],
        "Resource": config["DestinationConfig"]["OnFailure"]["Destination"],
    } in statements
    # ... and a message there is an alarm
    alarm = sam["Resources"]["BuildEventsFailureQueueAlarm"]["Properties"]
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["BuildEventsFailureQueue", "QueueName"]}}
    ]
    assert (alarm["MetricName"], alarm["Threshold"]) == ("ApproximateNumberOfMessagesVisible", 0)


def test_the_state_machine_logs_errors_without_execution_data_and_is_traced(sam: dict[str, Any]) -> None:
    machine = sam["Resources"]["DeploymentPipeline"]["Properties"]
    logging = machine["LoggingConfiguration"]
    assert logging["Level"] in ("ERROR", "ALL")
    assert logging["IncludeExecutionData"] is False  # inputs carry task tokens
    (destination,) = logging["Destinations"]
    group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    assert sam["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
    assert sam["Resources"][group]["Properties"]["LogGroupName"].startswith("/aws/vendedlogs/states/")
    assert machine["TracingConfiguration"] == {"Enabled": True}


def _alarms(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::CloudWatch::Alarm"}


def test_the_apis_5xx_answers_and_p99_latency_have_alarms_on_this_stages_api(sam: dict[str, Any]) -> None:
    alarms = _alarms(sam)
    title = sam["Resources"][REST_API]["Properties"]["DefinitionBody"]["info"]["title"]
    assert title == resource_prefix(STAGE)  # the API's name: each stage's metrics apart
    dimensions = [{"Name": "ApiName", "Value": title}, {"Name": "Stage", "Value": "api"}]
    errors = alarms["Api5XXErrorAlarm"]["Properties"]
    assert (errors["Namespace"], errors["MetricName"], errors["Statistic"]) == ("AWS/ApiGateway", "5XXError", "Sum")
    assert errors["Dimensions"] == dimensions and errors["Threshold"] == 0
    latency = alarms["ApiLatencyAlarm"]["Properties"]
    assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("Latency", "p99")
    assert latency["Dimensions"] == dimensions and "Statistic" not in latency
    assert all(a["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms.values())


def test_the_sites_5xx_rate_and_router_errors_have_alarms_where_cloudfront_publishes_them(sam: dict[str, Any]) -> None:
    alarms = _alarms(sam)
    rate = alarms["Sites5xxErrorRateAlarm"]
    router = alarms["SiteRouterErrorsAlarm"]
    assert rate["Properties"]["MetricName"] == "5xxErrorRate"
    assert {"Name": "DistributionId", "Value": {"Ref": "SitesCdnDistribution"}} in rate["Properties"]["Dimensions"]
    assert router["Properties"]["MetricName"] == "FunctionExecutionErrors"
    function_name = sam["Resources"]["SitesCdnRouter"]["Properties"]["Name"]
    assert {"Name": "FunctionName", "Value": function_name} in router["Properties"]["Dimensions"]
    for alarm in (rate, router):
        assert alarm["Properties"]["Namespace"] == "AWS/CloudFront"
        assert {"Name": "Region", "Value": "Global"} in alarm["Properties"]["Dimensions"]
        # CloudFront's metrics are in us-east-1 only: the alarms exist when the stack is there
        assert sam["Conditions"][alarm["Condition"]] == {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]}


def test_only_the_platforms_failed_deployments_raise_an_alarm(sam: dict[str, Any]) -> None:
    on_failures = [
        a["Properties"] for a in _alarms(sam).values() if a["Properties"]["MetricName"] == DEPLOYMENT_EVENTS["failed"]
    ]
    assert [(a["Namespace"], a["Dimensions"]) for a in on_failures] == [
        (METRICS_NAMESPACE, [{"Name": "service", "Value": "deployd"}, {"Name": "cause", "Value": "platform"}])
    ]


def test_the_build_events_rule_matches_the_stacks_build_project(sam: dict[str, Any]) -> None:
    if "BuildEvents" not in _functions(sam):
        pytest.skip("app.py has no build_events handler yet")
    (event,) = _functions(sam)["BuildEvents"]["Properties"]["Events"].values()
    project = sam["Resources"][codebuild.project_id(BUILD_PROJECT)]["Properties"]["Name"]
    assert event["Properties"]["Pattern"]["detail"]["project-name"] == [project]
    assert project == f"{resource_prefix(STAGE)}-{BUILD_PROJECT.logical}"


def test_parameters_and_outputs(sam: dict[str, Any]) -> None:
    parameters = sam["Parameters"]
    assert {"SitesDomain", "CertificateArn", "AdminToken", "AlarmEmail", "PublicApiUrl"} <= set(parameters)
    certificate = parameters["CertificateArn"]
    assert "Default" not in certificate  # required
    pattern = re.compile(certificate["AllowedPattern"])
    assert pattern.match("arn:aws:acm:us-east-1:123456789012:certificate/0c8a7e1d-2b3f-4c5d-9e6f-7a8b9c0d1e2f")
    assert not pattern.match("arn:aws:acm:eu-west-1:123456789012:certificate/0c8a7e1d-2b3f-4c5d-9e6f-7a8b9c0d1e2f")
    assert parameters["AlarmEmail"]["Default"] == "" and parameters["PublicApiUrl"]["Default"] == ""
    assert parameters["AdminToken"]["NoEcho"] is True
    outputs = sam["Outputs"]
    assert {"ApiUrl", "SitesDomain", "SitesDistributionDomainName", "SitesUrlTemplate", "DeploymentPipelineArn"} <= set(
        outputs
    )
    assert outputs["SitesDistributionDomainName"]["Value"] == {"Fn::GetAtt": ["SitesCdnDistribution", "DomainName"]}


def test_cfn_lint_reports_nothing_on_the_packaged_template(sam: dict[str, Any]) -> None:
    pytest.importorskip("cfnlint")
    from cfnlint.api import ManualArgs, lint

    # As `make package` runs it (its default region, us-east-1), errors and warnings alike.
    found = lint(json.dumps(sam), config=ManualArgs(regions=["us-east-1"]))
    assert [f"{m.rule.id} {m.message} ({m.path})" for m in found if m.rule.id[0] in "EW"] == []


def _documented_deploy_commands() -> list[list[str]]:
    """Every `aws cloudformation deploy` and `sam deploy` in README's shell blocks and inline code."""
    text = README.read_text()
    snippets = [block.replace("\\\n", " ") for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)]
    snippets += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    lines = [line.strip() for snippet in snippets for line in snippet.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith(("aws cloudformation deploy ", "sam deploy "))]


def test_the_documented_deploy_commands_upload_a_template_too_large_to_pass_inline(sam: dict[str, Any]) -> None:
    # Given the template as `make package` writes it (chalice's serialisation: JSON, two-space indent)
    size = len(json.dumps(sam, indent=2).encode())
    # When the README's deploy commands are read
    commands = _documented_deploy_commands()
    assert [c[0] for c in commands] == ["aws", "sam"], commands  # the walkthrough's, and the SAM alternative
    # Then a template over CloudFormation's inline limit is deployed from S3: every command names a bucket
    if size > INLINE_TEMPLATE_LIMIT:
        for command in commands:
            assert "--s3-bucket" in command or (command[0] == "sam" and "--resolve-s3" in command), command


# --- the merge template on its own ---


def test_every_data_plane_resource_is_in_the_merge_template_and_the_state_machine_has_its_role() -> None:
    resources = merge_template(STAGE, functions=())["Resources"]
    for name, resource in data_plane().items():
        assert resources[name]["Type"] == resource["Type"]
    role = resources["DeploymentPipeline"]["Properties"]["RoleArn"]
    assert role == {"Fn::GetAtt": [iam.PIPELINE_ROLE_LOGICAL_ID, "Arn"]}


def test_the_merge_template_configures_only_the_functions_it_is_given() -> None:
    # Given app.py without the stream consumer (as before it was added)
    functions = (Function("api_handler", "api"), Function("build_worker", "sqs", "deployd-local-builds"))
    # When the merge template is made
    resources = merge_template(STAGE, functions=functions)["Resources"]
    # Then nothing is added for a function Chalice would not generate (a partial resource breaks the stack)
    assert {"APIHandler", "BuildWorker", "ApiHandlerRole", "BuildWorkerRole"} <= set(resources)
    assert not {"RouteSync", "RouteSyncRole", "ActivationWorker", "PreviewScheduler"} & set(resources)
    # And the consumed queue gets the stage's name, whatever prefix app.py was imported with
    assert resources["BuildsQueue"]["Properties"]["QueueName"] == f"{resource_prefix(STAGE)}-builds"
    assert "QueueName" not in resources["ActivationsQueue"]["Properties"]


def test_the_queues_chalice_subscribes_to_are_named_per_stage() -> None:
    functions = (
        Function("build_worker", "sqs", "deployd-test-builds"),
        Function("activation_worker", "sqs", "deployd-test-activations"),
    )
    for stage in ("dev", "prod"):
        resources = merge_template(stage, functions=functions)["Resources"]
        for queue in SQS_CONSUMERS.values():
            name = resources[logical_id(queue.logical, "Queue")]["Properties"]["QueueName"]
            assert name == f"{resource_prefix(stage)}-{queue.logical}" == f"deployd-{stage}-{queue.logical}"


def test_the_slack_secrets_are_secrets_only_the_api_is_told_of_and_tokens_have_their_own_key(
    sam: dict[str, Any],
) -> None:
    parameters = sam["Parameters"]
    # The signing and client secrets are NoEcho parameters, optional, that land in Secrets Manager only
    for name, store in (
        ("SlackSigningSecret", "SlackSigningSecretStore"),
        ("SlackClientSecret", "SlackClientSecretStore"),
    ):
        assert parameters[name]["NoEcho"] is True and parameters[name]["Default"] == ""
        assert sam["Resources"][store]["Type"] == "AWS::SecretsManager::Secret"
        assert [r for r, resource in sam["Resources"].items() if name in _references(resource)] == [store]
    # Only the API is told where they are, and only when the stack has a Slack app (else /slack is a 404)
    for name, function in _functions(sam).items():
        variables = function["Properties"]["Environment"]["Variables"]
        slack = {v: variables[v] for v in variables if v.startswith("DEPLOYD_SLACK_")}
        if name != "APIHandler":
            assert slack == {}, name
            continue
        assert slack["DEPLOYD_SLACK_SIGNING_SECRET_ARN"] == {
            "Fn::If": ["HasSlack", {"Ref": "SlackSigningSecretStore"}, {"Ref": "AWS::NoValue"}]
        }
        assert "DEPLOYD_SLACK_SIGNING_SECRET" not in variables and "DEPLOYD_SLACK_CLIENT_SECRET" not in variables
    # Bot tokens: a rotating customer-managed key, its alias the name every function is given
    key = sam["Resources"]["SlackTokensKey"]
    assert key["Type"] == "AWS::KMS::Key" and key["Properties"]["EnableKeyRotation"] is True
    alias = sam["Resources"]["SlackTokensKeyAlias"]["Properties"]
    assert alias["TargetKeyId"] == {"Ref": "SlackTokensKey"}
    assert alias["AliasName"] == {"Fn::Sub": "alias/${AWS::StackName}-slack-tokens"}
    api = _functions(sam)["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert api["DEPLOYD_RESOURCE_SLACK_TOKENS"] == {"Fn::Sub": "${AWS::StackName}-slack-tokens"}
