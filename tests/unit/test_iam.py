"""Least privilege, checked on the packaged template's roles and on chalicelib.infra.iam's grants.

No role may use a wildcard action on DynamoDB, S3, SQS or Step Functions, nor name `*` as a resource for
them; every resource is one of the stack's own. Each function has only what its code calls: a test per
function states something it must not be able to do.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.infra import build_upload, codebuild, iam
from chalicelib.infra.buildspec import SCRIPT_VARIABLE
from chalicelib.infra.functions import Function, functions_of
from chalicelib.infra.resources import (
    BUILD_PROJECT,
    CATALOGUE,
    DEPLOYMENTS,
    REGISTRY,
    ROUTES,
    SITES_BUCKET,
    SLACK_LIVE_MESSAGES,
    SLACK_SUBSCRIPTIONS,
    STAGING_PREFIX,
    WEBHOOK_DELIVERIES,
    Table,
)
from chalicelib.infra.template import logical_id
from tests.unit.chalice_sam import packaged_template

GUARDED = ("dynamodb", "s3", "sqs", "states")
S3_WRITE_VERBS = ("Put", "Delete", "Copy", "Restore", "Replicate", "Create", "Abort", "Bypass")


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return packaged_template("prod")


# Every kind of function the stack has, as Chalice would generate them (independent of what app.py has today).
FUNCTIONS = (
    Function("api_handler", "api"),
    Function("build_worker", "sqs", "deployd-prod-builds"),
    Function("activation_worker", "sqs", "deployd-prod-activations"),
    Function("promotion_worker", "sqs", "deployd-prod-promotions"),
    Function("webhook_delivery", "sqs", "deployd-prod-webhook-deliveries"),
    Function("slack_command_worker", "sqs", "deployd-prod-slack-commands"),
    Function("slack_notifications", "sqs", "deployd-prod-slack-notifications"),
    Function("preview_scheduler", "schedule"),
    Function("build_events", "cloudwatch_event"),
    Function("route_sync", "lambda"),
    Function("deployment_events", "lambda"),
)


@pytest.fixture(scope="module")
def functions() -> dict[str, Function]:
    return {f.logical_id: f for f in FUNCTIONS}


@pytest.fixture(scope="module")
def app_functions() -> dict[str, Function]:
    import app

    return {f.logical_id: f for f in functions_of(app.app)}


def _roles(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::IAM::Role"}


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allowed(function: Function) -> set[tuple[str, str]]:
    return iam.allowed(iam.function_grants(function))


def _table_actions(function: Function, table: Table) -> set[str]:
    return {a for a, target in _allowed(function) if target == f"table/{table.logical}"}


# --- every role of the stack ---


def test_no_role_has_a_wildcard_action_or_resource_for_dynamodb_s3_sqs_or_step_functions(sam: dict[str, Any]) -> None:
    roles = _roles(sam)
    assert len(roles) >= 8  # six functions, the state machine, the build
    for name, role in roles.items():
        for statement in _statements(role):
            assert statement["Effect"] == "Allow"
            actions = _listed(statement["Action"])
            assert "*" not in actions, name
            guarded = [a for a in actions if a.split(":")[0] in GUARDED]
            assert not [a for a in guarded if "*" in a], (name, guarded)
            if guarded:
                assert "*" not in _listed(statement["Resource"]), (name, statement)


def test_every_resource_a_role_names_is_one_of_the_stacks_own(sam: dict[str, Any]) -> None:
    for name, role in _roles(sam).items():
        for statement in _statements(role):
            for resource in _listed(statement["Resource"]):
                if resource == "*":  # X-Ray's and Step Functions' log-delivery actions have no resource to name
                    assert set(_listed(statement["Action"])) <= {*iam.STATE_MACHINE_TRACING, *iam.LOG_DELIVERY}
                    continue
                assert isinstance(resource, dict), (name, resource)
                if "Ref" in resource or "Fn::GetAtt" in resource:
                    target = resource.get("Ref") or resource["Fn::GetAtt"][0]
                    assert target in sam["Resources"], (name, target)
                else:  # an ARN built from one of the stack's resources, e.g. ${DeploymentsTable.Arn}/index/by-project
                    assert resource["Fn::Sub"].count("${") >= 1
                    named = [v.split(".")[0] for v in resource["Fn::Sub"].split("${")[1:] if not v.startswith("AWS::")]
                    assert named and all(n.split("}")[0] in sam["Resources"] for n in named), (name, resource)


def test_chalices_default_policies_are_replaced_by_the_functions_own(sam: dict[str, Any], app_functions: dict) -> None:
    roles = _roles(sam)
    for function in app_functions.values():
        policies = roles[function.role_id]["Properties"]["Policies"]
        assert [p["PolicyName"] for p in policies] == [f"{function.logical_id}Access"]
        # .chalice/policy-<stage>.json's logs statement on arn:*:logs:*:*:* is gone: only the function's log group
        statements = _statements(roles[function.role_id])
        writes = [s for s in statements if "logs:PutLogEvents" in s["Action"]]
        assert [s["Resource"] for s in writes] == [{"Fn::GetAtt": [iam.function_log_group_id(function), "Arn"]}]
        assert not [s for s in statements if "logs:CreateLogGroup" in s["Action"]]


def test_every_function_of_app_py_has_its_access_defined(app_functions: dict[str, Function]) -> None:
    assert {"APIHandler", "BuildWorker", "ActivationWorker", "PreviewScheduler"} <= set(app_functions)
    for function in app_functions.values():
        assert iam.function_grants(function)  # raises for a function nobody defined the access of


def test_only_the_api_functions_role_may_read_the_admin_token_and_slack_secrets(sam: dict[str, Any]) -> None:
    readers: dict[str, list[Any]] = {}
    for name, role in _roles(sam).items():
        for statement in _statements(role):
            actions = _listed(statement["Action"])
            if any(action.startswith("secretsmanager:") for action in actions):
                assert actions == ["secretsmanager:GetSecretValue"]
                readers.setdefault(name, []).extend(_listed(statement["Resource"]))
    assert list(readers) == ["ApiHandlerRole"]
    assert sorted(r["Ref"] for r in readers["ApiHandlerRole"]) == [
        "AdminTokenSecret",
        "SlackClientSecretStore",
        "SlackSigningSecretStore",
    ]


# --- the build ---


def test_the_build_writes_its_own_logs_and_touches_nothing_of_the_platform(sam: dict[str, Any]) -> None:
    role = sam["Resources"]["BuildProjectRole"]
    statements = _statements(role)
    granted = {(a, str(r)) for s in statements for a in _listed(s["Action"]) for r in _listed(s["Resource"])}
    log_group = str({"Fn::GetAtt": ["BuildProjectLogGroup", "Arn"]})
    assert granted == {("logs:CreateLogStream", log_group), ("logs:PutLogEvents", log_group)}
    text = str(statements)
    assert not any(logical in text for logical in (f"{t.logical.title()}" for t in CATALOGUE.tables))
    assert "Table" not in text and "Queue" not in text and "DeploymentPipeline" not in text and "Bucket" not in text
    trust = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":project/deployd-prod-build-project")


def _writes_s3(action: str) -> bool:
    """Whether an action could write S3 objects or the bucket: a wildcard, or any s3 write verb."""
    if action in ("*", "s3:*"):
        return True
    service, _, name = action.partition(":")
    return service == "s3" and ("*" in name or name.startswith(S3_WRITE_VERBS))


def _names_the_sites_bucket(resource: Any) -> bool:
    bucket_id = logical_id(SITES_BUCKET.logical, "Bucket")
    return resource == "*" or bucket_id in json.dumps(resource)


def test_no_credential_a_build_can_reach_allows_writing_the_sites_bucket(sam: dict[str, Any]) -> None:
    # The credentials a build's commands can fetch are those of the role of the project they run in
    projects = {k: v for k, v in sam["Resources"].items() if v["Type"] == "AWS::CodeBuild::Project"}
    assert projects, "the template has no CodeBuild project"
    reachable = {project["Properties"]["ServiceRole"]["Fn::GetAtt"][0] for project in projects.values()}
    # (and no other role lets CodeBuild assume it)
    trusting = {
        name
        for name, role in _roles(sam).items()
        if "codebuild.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
    }
    assert trusting == reachable
    for name in reachable:
        role = sam["Resources"][name]
        assert "ManagedPolicyArns" not in role["Properties"] and "PermissionsBoundary" not in role["Properties"]
        for statement in _statements(role):
            writes = [a for a in _listed(statement["Action"]) if _writes_s3(a)]
            assert not (writes and any(_names_the_sites_bucket(r) for r in _listed(statement["Resource"]))), (
                name,
                statement,
            )
            assert not [a for a in _listed(statement["Action"]) if a.startswith("s3:")], (name, statement)
    # Nor does any role that the build could be handed grant more: the role is the build's only credential
    assert not [
        r for r in sam["Resources"].values() if r["Type"] == "AWS::IAM::Policy" and "BuildProjectRole" in json.dumps(r)
    ]


def test_the_buildspec_uploads_only_through_the_builds_presigned_post_never_with_the_role(sam: dict) -> None:
    project = sam["Resources"][codebuild.project_id(BUILD_PROJECT)]
    spec = json.loads(project["Properties"]["Source"]["BuildSpec"])
    commands = [c for phase in spec["phases"].values() for c in phase["commands"]]
    # No AWS CLI, no SDK, no credentials endpoint: nothing in the buildspec uses the role's credentials
    for command in commands:
        assert not re.search(r"(^|[\s;&|(])aws\s", command), command
        assert "s3://" not in command and "169.254.170.2" not in command, command
        assert "AWS_CONTAINER_CREDENTIALS" not in command, command
    # The output is uploaded by the upload script, piped into python3, and by nothing else
    upload = spec["phases"]["post_build"]["commands"][-1]
    assert upload.endswith(f'echo "${SCRIPT_VARIABLE}" | base64 -d | python3 - "$DEPLOYD_OUTPUT_DIR"'), upload
    script = base64.b64decode(spec["env"]["variables"][SCRIPT_VARIABLE]).decode()
    assert script == Path(build_upload.__file__).read_text(encoding="utf-8")
    assert "boto" not in script and "AWS_" not in script and "169.254" not in script
    assert 'env["DEPLOYD_UPLOAD_URL"]' in script and 'env["DEPLOYD_UPLOAD_FIELDS"]' in script
    # And the project hands the build no other secret: no variables of its own, no privileged mode
    environment = project["Properties"]["Environment"]
    assert "EnvironmentVariables" not in environment and environment["PrivilegedMode"] is False


def test_the_state_machine_sends_to_its_queues_and_updates_its_two_tables_only(sam: dict[str, Any]) -> None:
    role = sam["Resources"][iam.PIPELINE_ROLE_LOGICAL_ID]
    assert [s["Principal"] for s in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]] == [
        {"Service": "states.amazonaws.com"}
    ]
    assert iam.allowed(iam.pipeline_grants()) == {
        ("sqs:SendMessage", "queue/builds"),
        ("sqs:SendMessage", "queue/activations"),
        ("dynamodb:UpdateItem", "table/deployments"),
        ("dynamodb:UpdateItem", "table/environments"),
        # its logs and traces: actions that take no resource
        *((action, "*") for action in (*iam.LOG_DELIVERY, *iam.STATE_MACHINE_TRACING)),
    }


# --- each function: what it must not be able to do ---


def test_the_api_cannot_answer_heartbeats_start_builds_or_touch_the_key_value_store(functions: dict) -> None:
    allowed = _allowed(functions["APIHandler"])
    assert ("states:StartExecution", "state-machine") in allowed
    assert ("states:StopExecution", "state-machine/executions") in allowed
    assert ("codebuild:StopBuild", "build-project") in allowed
    assert ("logs:GetLogEvents", "build-log-group") in allowed
    assert ("states:SendTaskHeartbeat", "state-machine") not in allowed
    assert ("codebuild:StartBuild", "build-project") not in allowed
    assert not [a for a, _ in allowed if a.startswith("cloudfront-keyvaluestore:")]
    assert not [t for _, t in allowed if t.startswith("bucket/sites")]  # sites are CloudFront's to read
    # its only queues: a redelivery asked for puts a webhook message on the delivery queue; a Slack command's
    # slow half goes on the Slack command queue
    assert {(a, t) for a, t in allowed if a.startswith("sqs:")} == {
        ("sqs:GetQueueUrl", "queue/webhook-deliveries"),
        ("sqs:SendMessage", "queue/webhook-deliveries"),
        ("sqs:GetQueueUrl", "queue/slack-commands"),
        ("sqs:SendMessage", "queue/slack-commands"),
    }


def test_the_webhook_worker_reaches_only_webhooks_their_messages_and_its_queue(functions: dict) -> None:
    allowed = _allowed(functions["WebhookDelivery"])
    assert ("dynamodb:UpdateItem", "table/webhook-deliveries") in allowed
    assert ("sqs:SendMessage", "queue/webhook-deliveries") in allowed
    assert ("sqs:ReceiveMessage", "queue/webhook-deliveries") in allowed
    assert not [t for _, t in allowed if t.startswith(("table/deployments", "table/projects", "table/api-keys"))]
    assert not [a for a, _ in allowed if a.startswith(("states:", "codebuild:", "s3:"))]


def test_the_slack_worker_reaches_live_messages_and_the_installation_never_deployments_writes(functions: dict) -> None:
    function = functions["SlackNotifications"]
    allowed = _allowed(function)
    assert ("sqs:ReceiveMessage", "queue/slack-notifications") in allowed
    assert ("sqs:SendMessage", "queue/slack-notifications") in allowed  # its retries
    assert _table_actions(function, SLACK_LIVE_MESSAGES) == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    # It reads deployments and projects, never changes them, never sees keys, webhooks or subscriptions
    assert _table_actions(function, DEPLOYMENTS) == {"dynamodb:GetItem"}
    assert not [
        t for _, t in allowed if t.startswith(("table/api-keys", "table/webhooks", "table/slack-subscriptions"))
    ]
    assert not [a for a, _ in allowed if a.startswith(("states:", "codebuild:", "s3:Put", "s3:Delete"))]


def test_the_build_worker_cannot_read_keys_or_organizations_routes_or_upload_sites(functions: dict) -> None:
    function = functions["BuildWorker"]
    allowed = _allowed(function)
    assert ("codebuild:StartBuild", "build-project") in allowed
    assert ("sqs:ReceiveMessage", "queue/builds") in allowed
    assert ("sqs:ReceiveMessage", "queue/activations") not in allowed
    assert _table_actions(function, CATALOGUE.tables[1]) == set()  # api-keys
    assert not [t for _, t in allowed if t.startswith("table/routes")]
    # In the sites bucket it may only sign builds' uploads: PutObject under staging/, never under deployments/
    assert {(a, t) for a, t in allowed if t.startswith(f"bucket/{SITES_BUCKET.logical}")} == {
        ("s3:PutObject", f"bucket/{SITES_BUCKET.logical}/{STAGING_PREFIX}*")
    }
    assert ("states:StartExecution", "state-machine") not in allowed


def test_the_activation_worker_cannot_start_pipelines_or_builds(functions: dict) -> None:
    allowed = _allowed(functions["ActivationWorker"])
    assert ("states:SendTaskSuccess", "state-machine") in allowed
    assert ("dynamodb:PutItem", "table/routes") in allowed  # going live writes the routes
    # Going live is a promotion (issue 16): the worker starts the promotion flow's execution, never a pipeline's.
    starts = [(a, t) for a, t in allowed if a in ("states:StartExecution", "states:StopExecution")]
    assert starts == [("states:StartExecution", "promotion-flow")]
    assert ("codebuild:StartBuild", "build-project") not in allowed
    assert not [a for a, _ in allowed if a.startswith("s3:")]
    assert ("sqs:ReceiveMessage", "queue/builds") not in allowed


def test_the_promotion_worker_and_its_state_machine_reach_only_what_a_promotion_uses(functions: dict) -> None:
    from chalicelib.infra.iam import promotion_flow_grants

    allowed = _allowed(functions["PromotionWorker"])
    tables = {t for _, t in allowed if t.startswith("table/")}
    assert tables <= {
        "table/promotions",
        "table/projects",
        "table/environments",
        "table/deployments",
        "table/deployment-statuses",
        "table/routes",
        "table/registry",
        "table/orgs",
        "table/slot-waits",
    }
    assert ("dynamodb:PutItem", "table/promotions") in allowed  # the auto_revert promotion
    assert not [a for a, _ in allowed if a.startswith(("s3:", "codebuild:", "kms:", "secretsmanager:"))]
    assert {(a, t) for a, t in allowed if a.startswith("states:")} == {
        ("states:SendTaskSuccess", "promotion-flow"),
        ("states:SendTaskFailure", "promotion-flow"),
        ("states:StartExecution", "promotion-flow"),
    }
    flow = {(a, t.key) for grant in promotion_flow_grants() for a in grant.actions for t in grant.targets}
    assert {(a, t) for a, t in flow if not a.startswith("xray:")} == {("sqs:SendMessage", "queue/promotions")}


def test_the_preview_scheduler_cannot_start_builds_or_read_logs(functions: dict) -> None:
    function = functions["PreviewScheduler"]
    allowed = _allowed(function)
    assert ("s3:DeleteObject", "bucket/sites/deployments/*") in allowed  # retention
    assert ("dynamodb:Scan", "table/routes") in allowed  # the KeyValueStore's reconcile
    assert ("codebuild:StartBuild", "build-project") not in allowed
    assert ("logs:GetLogEvents", "build-log-group") not in allowed
    assert ("s3:DeleteObject", "bucket/build-logs/deployments/*") not in allowed
    assert _table_actions(function, CATALOGUE.tables[1]) == set()  # api-keys
    # Scan is the reconcile's, on routes only: every other table is read by key or query
    assert {t for a, t in allowed if a == "dynamodb:Scan"} == {"table/routes"}


def test_build_events_cannot_start_builds_or_executions(functions: dict) -> None:
    allowed = _allowed(functions["BuildEvents"])
    assert ("states:SendTaskFailure", "state-machine") in allowed
    # It promotes a build's staged output: reads and deletes staging, copies into the deployments' prefix
    sites_bucket = f"bucket/{SITES_BUCKET.logical}"
    assert {(a, t) for a, t in allowed if t.startswith(sites_bucket)} == {
        ("s3:ListBucket", sites_bucket),
        ("s3:GetObject", f"{sites_bucket}/{STAGING_PREFIX}*"),
        ("s3:DeleteObject", f"{sites_bucket}/{STAGING_PREFIX}*"),
        ("s3:PutObject", f"{sites_bucket}/deployments/*"),
        ("s3:DeleteObject", f"{sites_bucket}/deployments/*"),
    }
    assert ("codebuild:StartBuild", "build-project") not in allowed
    assert ("states:StartExecution", "state-machine") not in allowed
    # Its only queue is its own failure destination, and only to send to
    assert [(a, t) for a, t in allowed if t.startswith("table/routes") or t.startswith("queue/")] == [
        ("sqs:SendMessage", "queue/BuildEvents-failures")
    ]


def test_route_sync_reads_the_routes_stream_and_rows_and_writes_only_the_key_value_store(functions: dict) -> None:
    function = functions["RouteSync"]
    allowed = _allowed(function)
    assert ("dynamodb:GetRecords", "table/routes/stream") in allowed
    assert ("cloudfront-keyvaluestore:UpdateKeys", "key-value-store") in allowed
    assert _table_actions(function, ROUTES) == {"dynamodb:BatchGetItem"}  # reads, never writes, the routes
    tables = {t for _, t in allowed if t.startswith("table/")}
    # and counts the changes it saw in the registry, for the hourly reconcile
    assert tables <= {"table/routes", "table/routes/stream", "table/routes/stream/*", "table/registry"}
    assert _table_actions(function, REGISTRY) == {"dynamodb:UpdateItem"}
    assert not [a for a, _ in allowed if a.split(":")[0] in ("states", "sqs", "s3", "codebuild")]


def test_deployment_events_reads_the_deployments_stream_stores_messages_and_only_sends_to_its_two_queues(
    functions: dict,
) -> None:
    function = functions["DeploymentEvents"]
    allowed = _allowed(function)
    # It reads the deployments table's stream, never the table itself, and never writes a deployment
    assert ("dynamodb:GetRecords", "table/deployments/stream") in allowed
    assert _table_actions(function, DEPLOYMENTS) == set()
    # It stores each message once (a conditional Put) and reads one back, and changes nothing else in DynamoDB
    assert _table_actions(function, WEBHOOK_DELIVERIES) == {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"}
    writes = {(a, t) for a, t in allowed if a.split(":")[1].startswith(("Put", "Update", "Delete", "BatchWrite"))}
    assert {t for _, t in writes if t.startswith("table/")} == {"table/webhook-deliveries"}
    # Its only queues are the webhook deliveries' and the Slack notifications', to send to; no S3, Step Functions
    # or CodeBuild
    assert {(a, t) for a, t in allowed if t.startswith("queue/")} == {
        ("sqs:GetQueueUrl", "queue/webhook-deliveries"),
        ("sqs:SendMessage", "queue/webhook-deliveries"),
        ("sqs:GetQueueUrl", "queue/slack-notifications"),
        ("sqs:SendMessage", "queue/slack-notifications"),
    }
    # It only reads which Slack channels want the deployment
    assert _table_actions(function, SLACK_SUBSCRIPTIONS) == {"dynamodb:Query"}
    assert _table_actions(function, SLACK_LIVE_MESSAGES) == {"dynamodb:Query"}
    assert not [a for a, _ in allowed if a.split(":")[0] in ("states", "s3", "codebuild", "cloudfront-keyvaluestore")]


def test_only_the_functions_that_query_an_index_may_and_only_that_index(functions: dict) -> None:
    indexes = {f: {t for a, t in _allowed(fn) if "/index/" in t} for f, fn in functions.items()}
    assert indexes["APIHandler"] == {
        "table/projects/index/by-org",
        "table/deployments/index/by-project",
        "table/webhooks/index/by-org",  # an organization's webhooks
        "table/slack-installations/index/by-team",  # the organization a Slack workspace belongs to
        "table/deploy-hooks/index/by-project",  # a project's deploy hooks
    }
    assert indexes["SlackCommandWorker"] == {
        "table/projects/index/by-org",
        "table/deployments/index/by-project",
        "table/slack-installations/index/by-team",
    }
    assert indexes["PreviewScheduler"] == {"table/projects/index/by-schedule", "table/deployments/index/by-project"}
    assert indexes["DeploymentEvents"] == {"table/webhooks/index/by-org"}
    assert not any(
        indexes[f]
        for f in (
            "BuildWorker",
            "ActivationWorker",
            "BuildEvents",
            "RouteSync",
            "WebhookDelivery",
            "SlackNotifications",
        )
    )


def test_the_slack_token_key_encrypts_in_the_api_and_decrypts_only_in_the_slack_workers(functions: dict) -> None:
    kms = {f: {a for a, t in _allowed(fn) if a.startswith("kms:")} for f, fn in functions.items()}
    assert kms["APIHandler"] == {"kms:Encrypt"}  # a workspace connects: its bot token is stored encrypted
    assert kms["SlackCommandWorker"] == {"kms:Decrypt"}  # `deploy` posts the live message as the bot
    assert kms["SlackNotifications"] == {"kms:Decrypt"}  # every later edit, as the bot
    assert {f for f, actions in kms.items() if actions} == {"APIHandler", "SlackCommandWorker", "SlackNotifications"}
    assert {t for _, t in _allowed(functions["SlackCommandWorker"]) if t.startswith("key/")} == {"key/slack-tokens"}


def test_the_slack_command_worker_acts_like_the_api_but_reads_no_keys_and_manages_no_webhooks(functions: dict) -> None:
    allowed = _allowed(functions["SlackCommandWorker"])
    assert ("states:StartExecution", "state-machine") in allowed  # deploy
    assert ("states:StopExecution", "state-machine/executions") in allowed  # cancel
    assert ("dynamodb:GetItem", "table/slack-installations") in allowed
    assert ("dynamodb:PutItem", "table/slack-installations") not in allowed  # only the API connects workspaces
    assert not [t for _, t in allowed if t.startswith(("table/api-keys", "table/webhooks", "secret/"))]
    assert ("sqs:ReceiveMessage", "queue/slack-commands") in allowed


def test_only_the_api_reaches_deploy_hooks_and_never_scans_them(functions: dict) -> None:
    # Deploy hooks are made, listed, called and deleted by the API alone; a call reads one hook by its digest
    reaching = {f for f, fn in functions.items() if any(t.startswith("table/deploy-hooks") for _, t in _allowed(fn))}
    assert reaching == {"APIHandler"}
    actions = {a for a, t in _allowed(functions["APIHandler"]) if t == "table/deploy-hooks"}
    assert actions == {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
