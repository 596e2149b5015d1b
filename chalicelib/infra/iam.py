"""Every IAM permission of the stack, in one place: each function's, the state machine's, the build's.

Least privilege: explicit actions only (never `service:*`), each on this stack's own resources (tables and
the indexes a function queries, queues, bucket prefixes, the state machine and its executions, the build
project and its log group, the KeyValueStore, the admin token's secret). `"*"` is only for actions that have
no resource to scope to: X-Ray's, and the CloudWatch Logs log-delivery actions Step Functions' logging needs.

A function's grants follow from what its code calls (boto3 clients, PynamoDB operations) on the paths its
handler reaches; a transaction needs the item action of each of its parts (Put: PutItem, Update:
UpdateItem, Delete: DeleteItem, ConditionCheck: ConditionCheckItem). Grants are kept symbolic (`Grant`:
actions on named targets, chalicelib/infra/grants.py) so tests can ask what a function may do.

The build (CodeBuild) runs users' build commands, and anything in its container can fetch its role's
credentials: the role may write its own log group and nothing else, no S3 at all. The build uploads its
output through a presigned POST the build worker signs for its staging prefix (the worker may PutObject
under `staging/` for that, and nothing else in the sites bucket); the build-events function promotes it into
`deployments/`. It needs no source permission: the buildspec fetches the repository with git over HTTPS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chalicelib.infra import codebuild, resources
from chalicelib.infra.cdn import ARTIFACTS_PREFIX
from chalicelib.infra.functions import Function, consumed_queue
from chalicelib.infra.grants import (
    ADMIN_TOKEN_SECRET,
    ANY,
    BUILD_LOG_GROUP,
    BUILD_PROJECT_TARGET,
    EXECUTIONS,
    KEY_VALUE_STORE,
    PROMOTION_FLOW,
    SLACK_CLIENT_SECRET,
    SLACK_SIGNING_SECRET,
    STATE_MACHINE,
    Grant,
    assume_role,
    bucket,
    encryption_key,
    failure_queue,
    function_log_group,
    index,
    objects,
    policy_document,
    queue,
    stream,
    streams,
    table,
)

# Names the packager and tests read through this module.
from chalicelib.infra.grants import ADMIN_TOKEN_SECRET_LOGICAL_ID as ADMIN_TOKEN_SECRET_LOGICAL_ID
from chalicelib.infra.grants import PIPELINE_LOGICAL_ID as PIPELINE_LOGICAL_ID
from chalicelib.infra.grants import PIPELINE_ROLE_LOGICAL_ID as PIPELINE_ROLE_LOGICAL_ID
from chalicelib.infra.grants import PROMOTION_FLOW_LOGICAL_ID as PROMOTION_FLOW_LOGICAL_ID
from chalicelib.infra.grants import PROMOTION_FLOW_ROLE_LOGICAL_ID as PROMOTION_FLOW_ROLE_LOGICAL_ID
from chalicelib.infra.grants import allowed as allowed
from chalicelib.infra.grants import failure_queue_id as failure_queue_id
from chalicelib.infra.grants import function_log_group_id as function_log_group_id
from chalicelib.infra.resources import (
    API_KEYS,
    BUILD_LOGS_BUCKET,
    BUILD_PROJECT,
    DEPLOY_HOOKS,
    DEPLOYMENT_STATUSES,
    DEPLOYMENTS,
    ENVIRONMENTS,
    IDEMPOTENCY,
    ORGANIZATIONS,
    PROJECTS,
    PROMOTION_QUEUE,
    PROMOTIONS,
    REGISTRY,
    ROUTES,
    SITES_BUCKET,
    SLACK_COMMAND_QUEUE,
    SLACK_INSTALLATIONS,
    SLACK_LIVE_MESSAGES,
    SLACK_NOTIFY_QUEUE,
    SLACK_SUBSCRIPTIONS,
    SLACK_TOKEN_KEY,
    SLOT_WAITS,
    STAGING_PREFIX,
    WEBHOOK_DELIVERIES,
    WEBHOOK_QUEUE,
    WEBHOOKS,
    Queue,
    Table,
)

# ---- DynamoDB: the item actions each function uses, table by table ----

GET, QUERY, SCAN = "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"
BATCH_GET, BATCH_WRITE = "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"
PUT, UPDATE, DELETE, CHECK = (
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
)

# What ending a deployment touches, whoever ends it (deployments.terminal._end, statuses.report_pipeline_state,
# build_slots.release, which hands the freed slot to the organization's oldest waiting deployment).
_ENDING: dict[Table, tuple[str, ...]] = {
    DEPLOYMENTS: (GET, UPDATE),
    ENVIRONMENTS: (GET, UPDATE),
    DEPLOYMENT_STATUSES: (PUT,),
    ORGANIZATIONS: (GET,),
    REGISTRY: (GET, UPDATE),
    SLOT_WAITS: (QUERY, DELETE),
}


def _tables(*parts: Mapping[Table, Sequence[str]]) -> dict[Table, tuple[str, ...]]:
    merged: dict[Table, set[str]] = {}
    for part in parts:
        for t, actions in part.items():
            merged.setdefault(t, set()).update(actions)
    return {t: tuple(sorted(actions)) for t, actions in merged.items()}


# What the API's services do to the ledger (triggers, cancels, rollbacks, logs, listings), whoever calls them:
# the API, and the Slack command worker, which acts through the same services.
_API_LEDGER: dict[Table, tuple[str, ...]] = _tables(
    _ENDING,
    {
        REGISTRY: (GET, PUT, UPDATE, DELETE),  # sequences, slug claims, rate-limit counters
        PROJECTS: (GET, PUT, UPDATE, DELETE),
        DEPLOYMENTS: (GET, PUT, UPDATE, DELETE, CHECK),
        DEPLOYMENT_STATUSES: (GET, QUERY, PUT, BATCH_WRITE),
        ENVIRONMENTS: (GET, QUERY, UPDATE, DELETE, CHECK),
        ROUTES: (PUT, DELETE),
        PROMOTIONS: (GET, PUT),  # a rollback records its promotion and waits for it to switch
    },
)

# Every table action of each function. Projects and deployments are only ever queried through their indexes,
# which need Query on their own ARNs (INDEX_ACCESS).
TABLE_ACCESS: dict[str, dict[Table, tuple[str, ...]]] = {
    # The API: every dialect, organizations and keys, projects, triggers, cancels, rollbacks, deletes; the Slack
    # installation (connect, allowed users, disconnect) and its subscriptions (shown by GET).
    "api": _tables(
        _ENDING,
        _API_LEDGER,
        {
            SLACK_INSTALLATIONS: (GET, PUT, UPDATE, DELETE),
            SLACK_SUBSCRIPTIONS: (QUERY,),
        },
        {
            ORGANIZATIONS: (GET, PUT),
            API_KEYS: (GET, PUT, DELETE),
            WEBHOOKS: (GET, PUT, UPDATE, DELETE),
            WEBHOOK_DELIVERIES: (GET, QUERY, UPDATE),  # the delivery log; a redelivery reopens a message
            # deploy hooks: made, listed (by-project index), deleted; a call reads its hook and claims its job
            DEPLOY_HOOKS: (GET, PUT, UPDATE, DELETE),
            # Idempotency-Key records: claimed (put), completed (update), dropped when the request failed (delete)
            IDEMPOTENCY: (GET, PUT, UPDATE, DELETE),
        },
    ),
    # The slow half of a Slack command or button: the API's own services on the ledger (deploy, rollback, cancel,
    # status, logs), the installation (read), the channel subscriptions and the live message `deploy` announces.
    "sqs:slack-commands": _tables(
        _API_LEDGER,
        {
            ORGANIZATIONS: (GET,),  # the plan, for the trigger's rate limit
            SLACK_INSTALLATIONS: (GET, DELETE),  # DELETE: Slack answers `deploy`'s post token_revoked (disconnect)
            SLACK_SUBSCRIPTIONS: (QUERY, PUT, DELETE),
            SLACK_LIVE_MESSAGES: (GET, QUERY, PUT, UPDATE),
        },
    ),
    # A batch of webhook messages: read them and their webhooks together, record each attempt, note failing or
    # disable the webhook.
    "sqs:webhook-deliveries": {WEBHOOKS: (BATCH_GET, UPDATE), WEBHOOK_DELIVERIES: (BATCH_GET, UPDATE)},
    # Claims a deployment, starts its build (locally or on CodeBuild), records a build that could not start.
    "sqs:builds": _tables(_ENDING, {PROJECTS: (GET,), DEPLOYMENTS: (GET, UPDATE), ENVIRONMENTS: (GET, UPDATE)}),
    # Build slots (join the line, hand out slots), the end of a deployment the state machine failed, going live
    # (an older build at once; otherwise its promotion recorded, with the environment's line).
    "sqs:activations": _tables(
        _ENDING,
        {PROJECTS: (GET,), SLOT_WAITS: (PUT, QUERY, DELETE), ROUTES: (PUT,), PROMOTIONS: (PUT,)},
    ),
    # A promotion's steps (services.promotions): its items read together with the project, the environment and the
    # deployment; the switch (the activation's transaction, or a rollback's), a refusal, a revert (the switch back
    # and its auto_revert promotion), the line handed on; a step that failed ends its deployment like the pipeline.
    "sqs:promotions": _tables(
        _ENDING,
        {
            PROMOTIONS: (GET, PUT, UPDATE, BATCH_GET),
            PROJECTS: (GET, BATCH_GET),
            ENVIRONMENTS: (GET, UPDATE, BATCH_GET),
            DEPLOYMENTS: (GET, UPDATE, BATCH_GET),
            DEPLOYMENT_STATUSES: (PUT,),
            ROUTES: (PUT,),
            REGISTRY: (UPDATE,),
        },
    ),
    # A CodeBuild build changed state: record its outcome and answer the state machine.
    "cloudwatch_event": _tables(_ENDING),
    # Scheduled previews (trigger, supersede), retention (routes, artifacts), the KeyValueStore's reconcile (its
    # markers are the registry's route-mirror item).
    "schedule": _tables(
        _ENDING,
        {
            PROJECTS: (GET, UPDATE),
            DEPLOYMENTS: (GET, PUT, UPDATE),
            ENVIRONMENTS: (GET, QUERY, UPDATE),
            REGISTRY: (UPDATE,),
            ROUTES: (GET, DELETE, SCAN),
        },
    ),
    # The routes stream's mirror: reads the current rows of the hosts it was told about, and counts the changes
    # (an ADD to the registry's route-mirror item) so that the hourly reconcile knows there were some.
    "lambda:route_sync": {ROUTES: (BATCH_GET,), REGISTRY: (UPDATE,)},
    # The deployments stream's webhook fan-out: the organization's webhooks (by-org index), the project and its
    # environment (the body's project and is_active), and an event's messages read and stored together (the
    # ones not stored yet; a retried record sees which were stored and whether they were ever tried).
    "lambda:deployment_events": {
        PROJECTS: (GET,),
        ENVIRONMENTS: (GET,),
        WEBHOOK_DELIVERIES: (BATCH_GET, BATCH_WRITE),
        # the Slack channels that show the deployment's live message, and the organization's subscribed ones
        SLACK_LIVE_MESSAGES: (QUERY,),
        SLACK_SUBSCRIPTIONS: (QUERY,),
    },
    # One live Slack message brought up to date: the installation (its token; an uninstalled app disconnects it,
    # releasing the workspace's registry claim), the message's claim and lease, the deployment and its project,
    # and a failed deployment's build log.
    "sqs:slack-notifications": {
        SLACK_INSTALLATIONS: (GET, DELETE),
        REGISTRY: (DELETE,),
        SLACK_LIVE_MESSAGES: (GET, PUT, UPDATE),
        DEPLOYMENTS: (GET,),
        PROJECTS: (GET,),
    },
}

INDEX_ACCESS: dict[str, tuple[tuple[Table, str], ...]] = {
    "api": (
        (PROJECTS, "by-org"),
        (DEPLOYMENTS, "by-project"),
        (WEBHOOKS, "by-org"),
        (SLACK_INSTALLATIONS, "by-team"),
        (DEPLOY_HOOKS, "by-project"),
    ),
    "sqs:slack-commands": ((PROJECTS, "by-org"), (DEPLOYMENTS, "by-project"), (SLACK_INSTALLATIONS, "by-team")),
    "schedule": ((PROJECTS, "by-schedule"), (DEPLOYMENTS, "by-project")),
    "lambda:deployment_events": ((WEBHOOKS, "by-org"),),
}

# ---- the other services ----

TASK_ANSWERS = ("states:SendTaskSuccess", "states:SendTaskFailure")
ENQUEUE = ("sqs:GetQueueUrl", "sqs:SendMessage")  # adapters.webhook_queue finds the queue by name
CONSUME_QUEUE = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
KVS_WRITES = (
    "cloudfront-keyvaluestore:DescribeKeyValueStore",
    "cloudfront-keyvaluestore:PutKey",
    "cloudfront-keyvaluestore:DeleteKey",
    "cloudfront-keyvaluestore:UpdateKeys",
)

OTHER_ACCESS: dict[str, tuple[Grant, ...]] = {
    "api": (
        Grant(("secretsmanager:GetSecretValue",), (ADMIN_TOKEN_SECRET,)),  # the admin token; no other function's
        Grant(("s3:GetObject",), (objects(BUILD_LOGS_BUCKET, "deployments/"),)),
        Grant(("states:StartExecution",), (STATE_MACHINE,)),
        Grant(("states:StartExecution",), (PROMOTION_FLOW,)),  # a rollback's promotion
        Grant(TASK_ANSWERS, (STATE_MACHINE,)),  # a cancel frees a build slot for the next deployment
        Grant(("states:StopExecution",), (EXECUTIONS,)),
        Grant(("codebuild:StopBuild",), (BUILD_PROJECT_TARGET,)),
        Grant(("logs:GetLogEvents",), (BUILD_LOG_GROUP,)),
        Grant(ENQUEUE, (queue(WEBHOOK_QUEUE),)),  # a redelivery asked for
        # Slack: the app's secrets, the bot token encrypted when a workspace connects, a command's slow half queued
        Grant(("secretsmanager:GetSecretValue",), (SLACK_SIGNING_SECRET, SLACK_CLIENT_SECRET)),
        Grant(("kms:Encrypt",), (encryption_key(SLACK_TOKEN_KEY),)),
        Grant(ENQUEUE, (queue(SLACK_COMMAND_QUEUE),)),
    ),
    "sqs:slack-commands": (
        # what the API's services call beyond the tables: a trigger starts its pipeline; a cancel stops it; a
        # rollback starts its promotion
        Grant(("states:StartExecution",), (STATE_MACHINE, PROMOTION_FLOW)),
        Grant(TASK_ANSWERS, (STATE_MACHINE,)),
        Grant(("states:StopExecution",), (EXECUTIONS,)),
        Grant(("codebuild:StopBuild",), (BUILD_PROJECT_TARGET,)),
        Grant(("s3:GetObject",), (objects(BUILD_LOGS_BUCKET, "deployments/"),)),  # View logs
        Grant(("logs:GetLogEvents",), (BUILD_LOG_GROUP,)),
        # the bot token, to post the announced live message; its later edits go through the notifications queue
        Grant(("kms:Decrypt",), (encryption_key(SLACK_TOKEN_KEY),)),
        Grant(ENQUEUE, (queue(SLACK_NOTIFY_QUEUE),)),
    ),
    "sqs:builds": (
        Grant(("s3:PutObject",), (objects(BUILD_LOGS_BUCKET, "deployments/"),)),  # deployd's own log lines
        # Signs each CodeBuild build's presigned POST: a POST is authorized by its signer's permission.
        Grant(("s3:PutObject",), (objects(SITES_BUCKET, STAGING_PREFIX),)),
        Grant((*TASK_ANSWERS, "states:SendTaskHeartbeat"), (STATE_MACHINE,)),
        # starts the build; stops one it cannot hand over (the deployment was cancelled meanwhile)
        Grant(("codebuild:StartBuild", "codebuild:StopBuild"), (BUILD_PROJECT_TARGET,)),
    ),
    "sqs:activations": (
        Grant(TASK_ANSWERS, (STATE_MACHINE,)),
        Grant(("states:StartExecution",), (PROMOTION_FLOW,)),  # the build's promotion, when the line is free
        # the state machine failed a deployment itself (silence, time limit): its build may still be running
        Grant(("codebuild:StopBuild",), (BUILD_PROJECT_TARGET,)),
    ),
    "sqs:webhook-deliveries": (Grant(ENQUEUE, (queue(WEBHOOK_QUEUE),)),),  # the next retry
    "sqs:promotions": (
        Grant(TASK_ANSWERS, (PROMOTION_FLOW,)),
        Grant(("states:StartExecution",), (PROMOTION_FLOW,)),  # the next promotion in the line
    ),
    "sqs:slack-notifications": (
        Grant(ENQUEUE, (queue(SLACK_NOTIFY_QUEUE),)),  # the next try (Retry-After, a busy message)
        Grant(("kms:Decrypt",), (encryption_key(SLACK_TOKEN_KEY),)),  # the bot token it posts and edits with
        Grant(("s3:GetObject",), (objects(BUILD_LOGS_BUCKET, "deployments/"),)),  # a failed build's log tail
        Grant(("logs:GetLogEvents",), (BUILD_LOG_GROUP,)),  # ... of a build that ran on CodeBuild
    ),
    "cloudwatch_event": (
        Grant(TASK_ANSWERS, (STATE_MACHINE,)),
        Grant(("codebuild:StopBuild",), (BUILD_PROJECT_TARGET,)),
        # Promotes a build's staged output: lists and reads it, copies it into the deployment's prefix
        # (CopyObject: read the source, put the copy), deletes the staging and a refused promotion's copies.
        Grant(("s3:ListBucket",), (bucket(SITES_BUCKET),)),
        Grant(("s3:GetObject", "s3:DeleteObject"), (objects(SITES_BUCKET, STAGING_PREFIX),)),
        Grant(("s3:PutObject", "s3:DeleteObject"), (objects(SITES_BUCKET, ARTIFACTS_PREFIX),)),
    ),
    "schedule": (
        Grant(("s3:ListBucket",), (bucket(SITES_BUCKET),)),  # retention lists a deployment's artifacts ...
        Grant(("s3:DeleteObject",), (objects(SITES_BUCKET, ARTIFACTS_PREFIX),)),  # ... and deletes them
        Grant(("states:StartExecution",), (STATE_MACHINE,)),
        Grant(TASK_ANSWERS, (STATE_MACHINE,)),
        Grant(("states:StopExecution",), (EXECUTIONS,)),  # a newer push supersedes a preview's build
        Grant(("codebuild:StopBuild",), (BUILD_PROJECT_TARGET,)),
        Grant((*KVS_WRITES, "cloudfront-keyvaluestore:ListKeys"), (KEY_VALUE_STORE,)),  # reconcile
    ),
    "lambda:route_sync": (
        Grant(
            ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"),
            (stream(ROUTES),),
        ),
        Grant(("dynamodb:ListStreams",), (streams(ROUTES),)),
        Grant(KVS_WRITES, (KEY_VALUE_STORE,)),
    ),
    "lambda:deployment_events": (
        Grant(
            ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"),
            (stream(DEPLOYMENTS),),
        ),
        Grant(("dynamodb:ListStreams",), (streams(DEPLOYMENTS),)),
        # enqueues each new message's first attempt (adapters.webhook_queue looks the queue up by name)
        Grant(("sqs:GetQueueUrl", "sqs:SendMessage"), (queue(WEBHOOK_QUEUE),)),
        Grant(ENQUEUE, (queue(SLACK_NOTIFY_QUEUE),)),  # a notification per Slack channel
    ),
}

SQS_CONSUMERS: dict[str, Queue] = {
    q.logical: q
    for q in (
        resources.BUILD_QUEUE,
        resources.ACTIVATION_QUEUE,
        resources.WEBHOOK_QUEUE,
        SLACK_COMMAND_QUEUE,
        resources.SLACK_NOTIFY_QUEUE,
        PROMOTION_QUEUE,
    )
}


def access_key(function: Function) -> str:
    """Which entry of the tables above a function's code is: by kind, and by name where a kind has several."""
    if function.kind == "sqs":
        consumed = consumed_queue(function, list(SQS_CONSUMERS.values()))
        if consumed is None:
            raise KeyError(f"no access defined for {function.handler}, the consumer of {function.queue}")
        return f"sqs:{consumed.logical}"
    if function.kind == "lambda":
        return f"lambda:{function.handler}"
    return function.kind


def function_grants(function: Function) -> tuple[Grant, ...]:
    """Everything `function` may do."""
    key = access_key(function)
    if key not in TABLE_ACCESS and key not in OTHER_ACCESS:
        raise KeyError(f"no access defined for {function.handler} ({key}): add it to chalicelib.infra.iam")
    grants = [
        Grant(("logs:CreateLogStream", "logs:PutLogEvents"), (function_log_group(function),)),
        Grant(("xray:PutTraceSegments", "xray:PutTelemetryRecords"), (ANY,)),
    ]
    for t, actions in TABLE_ACCESS.get(key, {}).items():
        grants.append(Grant(actions, (table(t),)))
    indexes = INDEX_ACCESS.get(key, ())
    if indexes:
        grants.append(Grant((QUERY,), tuple(index(t, name) for t, name in indexes)))
    if key.startswith("sqs:"):
        grants.append(Grant(CONSUME_QUEUE, (queue(SQS_CONSUMERS[key.split(":", 1)[1]]),)))
    if function.kind == "cloudwatch_event":  # invoked asynchronously by EventBridge: Lambda sends failures on
        grants.append(Grant(("sqs:SendMessage",), (failure_queue(function),)))
    grants += OTHER_ACCESS.get(key, ())
    return tuple(grants)


def function_role_override(function: Function) -> dict[str, Any]:
    """Replaces the Policies of the role Chalice generates for `function` (lists are replaced by the merge)."""
    document = policy_document(function_grants(function))
    return {"Properties": {"Policies": [{"PolicyName": f"{function.logical_id}Access", "PolicyDocument": document}]}}


# ---- the state machine ----


# What Step Functions needs to deliver an execution's logs to CloudWatch Logs (none takes a resource) ...
LOG_DELIVERY = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)
# ... and to send its traces to X-Ray.
STATE_MACHINE_TRACING = (
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
)


def pipeline_grants() -> tuple[Grant, ...]:
    """The state machine sends to the two queues and updates the two tables its definition names; it logs and
    traces its executions; nothing else."""
    return (
        Grant(("sqs:SendMessage",), (queue(resources.BUILD_QUEUE), queue(resources.ACTIVATION_QUEUE))),
        Grant((UPDATE,), (table(DEPLOYMENTS), table(ENVIRONMENTS))),
        Grant(LOG_DELIVERY, (ANY,)),
        Grant(STATE_MACHINE_TRACING, (ANY,)),
    )


def pipeline_role() -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": assume_role("states.amazonaws.com"),
            "Policies": [{"PolicyName": "DeploymentPipeline", "PolicyDocument": policy_document(pipeline_grants())}],
        },
    }


def promotion_flow_grants() -> tuple[Grant, ...]:
    """The promotion flow only sends its steps to the promotion queue and traces its executions."""
    return (
        Grant(("sqs:SendMessage",), (queue(PROMOTION_QUEUE),)),
        Grant(STATE_MACHINE_TRACING, (ANY,)),
    )


def promotion_flow_role() -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": assume_role("states.amazonaws.com"),
            "Policies": [{"PolicyName": "PromotionFlow", "PolicyDocument": policy_document(promotion_flow_grants())}],
        },
    }


# ---- the build ----


def build_grants() -> tuple[Grant, ...]:
    """Its own log streams. No bucket, no table, no queue, no state machine: the output goes through a POST."""
    return (Grant(("logs:CreateLogStream", "logs:PutLogEvents"), (BUILD_LOG_GROUP,)),)


def build_role(prefix: str) -> dict[str, Any]:
    # The trust names the project by its fixed name: a Ref to the project would make the two depend on each other.
    trust = assume_role("codebuild.amazonaws.com", codebuild.project_arn(BUILD_PROJECT, prefix))
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": trust,
            "Policies": [{"PolicyName": "Build", "PolicyDocument": policy_document(build_grants())}],
        },
    }
