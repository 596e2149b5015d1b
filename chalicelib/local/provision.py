"""Create every resource of the catalogue in an AWS endpoint (the embedded stack's moto server)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.infra.resources import (
    ACTIVATION_QUEUE,
    BUILD_QUEUE,
    CATALOGUE,
    DEPLOYMENTS,
    ENVIRONMENTS,
    PIPELINE,
    PROMOTION_FLOW,
    PROMOTION_QUEUE,
    Bucket,
    Catalogue,
    Queue,
    Table,
)
from chalicelib.infra.state_machine import pipeline_definition, promotion_definition, render
from chalicelib.infra.template import table_resource
from chalicelib.settings import Settings

ACCOUNT_ID = "123456789012"  # moto's account
PIPELINE_ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/deployd-pipeline"


def state_machine_arn(settings: Settings, logical: str) -> str:
    return f"arn:aws:states:{settings.region}:{ACCOUNT_ID}:stateMachine:{settings.resource_name(logical)}"


def table_request(table: Table, settings: Settings) -> dict[str, Any]:
    """CreateTable arguments: the same keys and indexes as the CloudFormation resource (infra.template)."""
    properties = table_resource(table)["Properties"]
    request: dict[str, Any] = {"TableName": settings.resource_name(table.logical)}
    for name in ("BillingMode", "KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes"):
        if name in properties:
            request[name] = properties[name]
    if table.stream_view:
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": table.stream_view}
    return request


def lifecycle_rules(bucket: Bucket) -> list[dict[str, Any]]:
    """PutBucketLifecycleConfiguration's rules: the CloudFormation resource's (infra.template) in the S3 API's shape."""
    return [
        {"ID": e.rule_id, "Filter": {"Prefix": e.prefix}, "Status": "Enabled", "Expiration": {"Days": e.days}}
        for e in bucket.expiries
    ]


def _create_queue(sqs: Any, queue: Queue, settings: Settings) -> str:
    dlq_url = sqs.create_queue(
        QueueName=settings.resource_name(queue.dead_letter_logical),
        Attributes={"MessageRetentionPeriod": str(queue.dead_letter_retention_seconds)},
    )["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName=settings.resource_name(queue.logical),
        Attributes={
            "VisibilityTimeout": str(queue.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(queue.message_retention_seconds),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}),
        },
    )["QueueUrl"]
    return str(url)


def provision(clients: dict[str, Any], settings: Settings, catalogue: Catalogue = CATALOGUE) -> dict[str, str]:
    """Create tables, queues with their dead-letter queues, buckets and the state machine.

    Returns the queue URLs by logical name.
    """
    for table in catalogue.tables:
        clients["dynamodb"].create_table(**table_request(table, settings))
        if table.ttl_attribute:
            clients["dynamodb"].update_time_to_live(
                TableName=settings.resource_name(table.logical),
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
    queue_urls = {q.logical: _create_queue(clients["sqs"], q, settings) for q in catalogue.queues}
    for bucket in catalogue.buckets:
        clients["s3"].create_bucket(Bucket=settings.resource_name(bucket.logical))
        if bucket.expiries:
            clients["s3"].put_bucket_lifecycle_configuration(
                Bucket=settings.resource_name(bucket.logical), LifecycleConfiguration={"Rules": lifecycle_rules(bucket)}
            )
    definitions = {
        PIPELINE.logical: render(
            pipeline_definition(settings.heartbeat_seconds),
            {
                "BuildQueueUrl": queue_urls[BUILD_QUEUE.logical],
                "ActivationQueueUrl": queue_urls[ACTIVATION_QUEUE.logical],
                "DeploymentsTable": settings.resource_name(DEPLOYMENTS.logical),
                "EnvironmentsTable": settings.resource_name(ENVIRONMENTS.logical),
            },
        ),
        PROMOTION_FLOW.logical: render(
            promotion_definition(), {"PromotionQueueUrl": queue_urls[PROMOTION_QUEUE.logical]}
        ),
    }
    for key in catalogue.encryption_keys:
        key_id = clients["kms"].create_key(Description=key.description)["KeyMetadata"]["KeyId"]
        clients["kms"].create_alias(AliasName=key.alias(settings.resource_name(key.logical)), TargetKeyId=key_id)
    for machine in catalogue.state_machines:
        clients["stepfunctions"].create_state_machine(
            name=settings.resource_name(machine.logical),
            definition=definitions[machine.logical],
            roleArn=PIPELINE_ROLE_ARN,
        )
    return queue_urls
