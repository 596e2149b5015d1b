"""CloudFormation resources generated from the resource catalogue: the same definitions the embedded stack
provisions from (chalicelib.local.provision), so the two cannot drift.

This covers the data plane (tables with their indexes, TTL and streams, queues with their dead-letter
queues, buckets, the state machine with its definition substitutions). The rest of the stack is generated
beside it (chalicelib.infra.codebuild, .cdn, .iam, .monitoring) and put together with the Lambda functions
by chalicelib.infra.package.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.infra.resources import (
    ACTIVATION_QUEUE,
    BUILD_QUEUE,
    CATALOGUE,
    DEPLOYMENTS,
    ENVIRONMENTS,
    PROMOTION_QUEUE,
    Bucket,
    Catalogue,
    EncryptionKey,
    Queue,
    Table,
)
from chalicelib.infra.state_machine import (
    PROMOTION_SUBSTITUTIONS,
    SUBSTITUTIONS,
    pipeline_definition,
    promotion_definition,
)


def logical_id(logical: str, suffix: str = "") -> str:
    """`deployment-statuses` → `DeploymentStatusesTable`."""
    return "".join(part.capitalize() for part in logical.split("-")) + suffix


def _key_schema(hash_key: Any, range_key: Any) -> list[dict[str, str]]:
    keys = [{"AttributeName": hash_key.name, "KeyType": "HASH"}]
    if range_key is not None:
        keys.append({"AttributeName": range_key.name, "KeyType": "RANGE"})
    return keys


def table_resource(table: Table) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": _key_schema(table.hash_key, table.range_key),
        "AttributeDefinitions": [
            {"AttributeName": k.name, "AttributeType": k.type} for k in table.attribute_definitions()
        ],
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    if table.indexes:
        properties["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": _key_schema(index.hash_key, index.range_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.indexes
        ]
    if table.ttl_attribute:
        properties["TimeToLiveSpecification"] = {"AttributeName": table.ttl_attribute, "Enabled": True}
    if table.stream_view:
        properties["StreamSpecification"] = {"StreamViewType": table.stream_view}
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def queue_resources(queue: Queue) -> dict[str, Any]:
    dlq = logical_id(queue.dead_letter_logical, "Queue")
    return {
        dlq: {
            "Type": "AWS::SQS::Queue",
            "Properties": {"MessageRetentionPeriod": queue.dead_letter_retention_seconds, "SqsManagedSseEnabled": True},
        },
        logical_id(queue.logical, "Queue"): {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": queue.visibility_timeout_seconds,
                "MessageRetentionPeriod": queue.message_retention_seconds,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
                    "maxReceiveCount": queue.max_receive_count,
                },
            },
        },
    }


def bucket_resource(bucket: Bucket) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
    }
    if bucket.expiries:
        properties["LifecycleConfiguration"] = {
            "Rules": [
                {"Id": e.rule_id, "Prefix": e.prefix, "Status": "Enabled", "ExpirationInDays": e.days}
                for e in bucket.expiries
            ]
        }
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": properties,
    }


def state_machine_resources(heartbeat_seconds: int) -> dict[str, Any]:
    substitutions = {
        "BuildQueueUrl": {"Ref": logical_id(BUILD_QUEUE.logical, "Queue")},
        "ActivationQueueUrl": {"Ref": logical_id(ACTIVATION_QUEUE.logical, "Queue")},
        "DeploymentsTable": {"Ref": logical_id(DEPLOYMENTS.logical, "Table")},
        "EnvironmentsTable": {"Ref": logical_id(ENVIRONMENTS.logical, "Table")},
    }
    assert set(substitutions) == set(SUBSTITUTIONS), "every ASL placeholder needs a substitution"
    promotion_substitutions = {"PromotionQueueUrl": {"Ref": logical_id(PROMOTION_QUEUE.logical, "Queue")}}
    assert set(promotion_substitutions) == set(PROMOTION_SUBSTITUTIONS)
    return {
        "DeploymentPipeline": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "DefinitionString": json.dumps(pipeline_definition(heartbeat_seconds)),
                "DefinitionSubstitutions": substitutions,
                "RoleArn": {"Fn::GetAtt": ["DeploymentPipelineRole", "Arn"]},
            },
        },
        "PromotionFlow": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "DefinitionString": json.dumps(promotion_definition()),
                "DefinitionSubstitutions": promotion_substitutions,
                "RoleArn": {"Fn::GetAtt": ["PromotionFlowRole", "Arn"]},
            },
        },
    }


def key_name(key: EncryptionKey) -> dict[str, Any]:
    """The key's physical name, as its alias spells it after `alias/` (settings.resource_name reads it back)."""
    return {"Fn::Sub": f"${{AWS::StackName}}-{key.logical}"}


def encryption_key_resources(key: EncryptionKey) -> dict[str, Any]:
    """A symmetric KMS key with yearly rotation whose key policy defers to IAM (the functions' policies say who
    may use it), and its alias."""
    key_id = logical_id(key.logical, "Key")
    account_root = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    return {
        key_id: {
            "Type": "AWS::KMS::Key",
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": {
                "Description": key.description,
                "EnableKeyRotation": True,
                "PendingWindowInDays": 7,
                "KeyPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AccountAdministersTheKeyAndIamGrantsItsUse",
                            "Effect": "Allow",
                            "Principal": {"AWS": account_root},
                            "Action": "kms:*",
                            "Resource": "*",
                        }
                    ],
                },
            },
        },
        logical_id(key.logical, "KeyAlias"): {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": {"Fn::Sub": f"alias/${{AWS::StackName}}-{key.logical}"},
                "TargetKeyId": {"Ref": key_id},
            },
        },
    }


def data_plane(catalogue: Catalogue = CATALOGUE, heartbeat_seconds: int = 60) -> dict[str, Any]:
    """The catalogue's resources as CloudFormation (the state machine's IAM role is referenced, not built here)."""
    resources: dict[str, Any] = {}
    for table in catalogue.tables:
        resources[logical_id(table.logical, "Table")] = table_resource(table)
    for queue in catalogue.queues:
        resources.update(queue_resources(queue))
    for bucket in catalogue.buckets:
        resources[logical_id(bucket.logical, "Bucket")] = bucket_resource(bucket)
    for key in catalogue.encryption_keys:
        resources.update(encryption_key_resources(key))
    resources.update(state_machine_resources(heartbeat_seconds))
    return resources
