"""The vocabulary of deployd's IAM policies: grants (actions on named targets), the targets themselves (this
stack's tables, indexes, queues, buckets, the state machine, the build project, ...) and their rendering to
policy documents. Which function may do what is chalicelib/infra/iam.py's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.infra import codebuild
from chalicelib.infra.cdn import key_value_store_arn
from chalicelib.infra.functions import Function
from chalicelib.infra.resources import BUILD_PROJECT, SITES_CDN, Bucket, EncryptionKey, Queue, Table
from chalicelib.infra.template import logical_id

PIPELINE_LOGICAL_ID = "DeploymentPipeline"
PIPELINE_ROLE_LOGICAL_ID = "DeploymentPipelineRole"
PROMOTION_FLOW_LOGICAL_ID = "PromotionFlow"
PROMOTION_FLOW_ROLE_LOGICAL_ID = "PromotionFlowRole"
ADMIN_TOKEN_SECRET_LOGICAL_ID = "AdminTokenSecret"
# The Slack app's signing and client secrets (the parameters SlackSigningSecret and SlackClientSecret).
SLACK_SIGNING_SECRET_LOGICAL_ID = "SlackSigningSecretStore"
SLACK_CLIENT_SECRET_LOGICAL_ID = "SlackClientSecretStore"


@dataclass(frozen=True)
class Target:
    """One resource (or set of ARNs under it) a grant names: `key` for tests, `arn` for the template."""

    key: str
    arn: Any


@dataclass(frozen=True)
class Grant:
    actions: tuple[str, ...]
    targets: tuple[Target, ...]


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def table(t: Table) -> Target:
    return Target(f"table/{t.logical}", {"Fn::GetAtt": [logical_id(t.logical, "Table"), "Arn"]})


def index(t: Table, name: str) -> Target:
    assert name in {i.name for i in t.indexes}, f"{t.logical} has no index {name}"
    return Target(f"table/{t.logical}/index/{name}", _sub(f"${{{logical_id(t.logical, 'Table')}.Arn}}/index/{name}"))


def stream(t: Table) -> Target:
    assert t.stream_view, f"{t.logical} has no stream"
    return Target(f"table/{t.logical}/stream", {"Fn::GetAtt": [logical_id(t.logical, "Table"), "StreamArn"]})


def streams(t: Table) -> Target:
    """Every stream of the table (ListStreams is asked of the table's streams, not of one)."""
    return Target(f"table/{t.logical}/stream/*", _sub(f"${{{logical_id(t.logical, 'Table')}.Arn}}/stream/*"))


def queue(q: Queue) -> Target:
    return Target(f"queue/{q.logical}", {"Fn::GetAtt": [logical_id(q.logical, "Queue"), "Arn"]})


def bucket(b: Bucket) -> Target:
    return Target(f"bucket/{b.logical}", {"Fn::GetAtt": [logical_id(b.logical, "Bucket"), "Arn"]})


def objects(b: Bucket, prefix: str) -> Target:
    return Target(f"bucket/{b.logical}/{prefix}*", _sub(f"${{{logical_id(b.logical, 'Bucket')}.Arn}}/{prefix}*"))


STATE_MACHINE = Target("state-machine", {"Ref": PIPELINE_LOGICAL_ID})
EXECUTIONS = Target(
    "state-machine/executions",
    _sub(
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
        f"${{{PIPELINE_LOGICAL_ID}.Name}}:*"
    ),
)
PROMOTION_FLOW = Target("promotion-flow", {"Ref": PROMOTION_FLOW_LOGICAL_ID})
BUILD_PROJECT_TARGET = Target("build-project", {"Fn::GetAtt": [codebuild.project_id(BUILD_PROJECT), "Arn"]})
BUILD_LOG_GROUP = Target("build-log-group", {"Fn::GetAtt": [codebuild.log_group_id(BUILD_PROJECT), "Arn"]})
KEY_VALUE_STORE = Target("key-value-store", key_value_store_arn(SITES_CDN))
ADMIN_TOKEN_SECRET = Target("secret/admin-token", {"Ref": ADMIN_TOKEN_SECRET_LOGICAL_ID})  # Ref: the secret's ARN
SLACK_SIGNING_SECRET = Target("secret/slack-signing", {"Ref": SLACK_SIGNING_SECRET_LOGICAL_ID})
SLACK_CLIENT_SECRET = Target("secret/slack-client", {"Ref": SLACK_CLIENT_SECRET_LOGICAL_ID})
ANY = Target("*", "*")


def encryption_key(key: EncryptionKey) -> Target:
    return Target(f"key/{key.logical}", {"Fn::GetAtt": [logical_id(key.logical, "Key"), "Arn"]})


def function_log_group_id(function: Function) -> str:
    return f"{function.logical_id}LogGroup"


def failure_queue_id(function: Function) -> str:
    """The queue an asynchronously invoked function's failed events go to (its on-failure destination)."""
    return f"{function.logical_id}FailureQueue"


def failure_queue(function: Function) -> Target:
    return Target(f"queue/{function.logical_id}-failures", {"Fn::GetAtt": [failure_queue_id(function), "Arn"]})


def function_log_group(function: Function) -> Target:
    return Target(f"log-group/{function.logical_id}", {"Fn::GetAtt": [function_log_group_id(function), "Arn"]})


def allowed(grants: Sequence[Grant]) -> set[tuple[str, str]]:
    """(action, target key) pairs: what the grants allow, for tests."""
    return {(action, target.key) for grant in grants for action in grant.actions for target in grant.targets}


def policy_document(grants: Sequence[Grant]) -> dict[str, Any]:
    statements = []
    for grant in grants:
        arns = [target.arn for target in grant.targets]
        statements.append(
            {"Effect": "Allow", "Action": sorted(grant.actions), "Resource": arns[0] if len(arns) == 1 else arns}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def assume_role(service: str, source_arn: Any = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    if source_arn is not None:
        condition["ArnLike"] = {"aws:SourceArn": source_arn}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole", "Condition": condition}
        ],
    }
