"""The packaged template, created as a stack in moto's CloudFormation, holds the catalogue's resources with
the catalogue's settings, and the same settings as what the embedded stack provisions.

The template is the one `make package STAGE=prod` writes (the package module, then `chalice package
--merge-template`): out/prod/sam.json, built by the same two commands in a temporary copy of the project
(the deployment zip is built too, without its third-party packages: see _seed_dependency_cache). moto
cannot create all of it, so tests/unit/moto_cloudformation.py drops, and only drops:

- AWS::Serverless::* (the functions, the REST API): moto does not run the SAM transform;
- types moto's CloudFormation has no model for, read from moto itself (with moto 5.2 among those the
  template declares or will: AWS::CodeBuild::Project, AWS::CloudFront::Distribution, ::Function,
  ::KeyValueStore and ::OriginAccessControl, AWS::CloudWatch::Alarm, AWS::SNS::Subscription and
  ::TopicPolicy, AWS::S3::BucketPolicy); moto would skip them and then fail on every reference to them;
- every resource and output that references a dropped resource (Ref, Fn::GetAtt, Fn::Sub, DependsOn),
  transitively: today AWS::Lambda::Permission (the API's invoke permission) and the outputs naming the API
  and its function.

What stays is created as packaged, DynamoDB tables, SQS queues, S3 buckets, the Step Functions state
machine and the IAM roles included; a test fails if any of them would have to go. moto accepts but ignores
three properties the template sets (TTL, public access block, definition substitutions); the helper module
makes moto apply them through its own backend calls.

The embedded stack is provisioned into the same moto account under its own prefix (chalicelib.local
.provision, as chalicelib.local.stack does), and compared resource by resource with the stack's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chalicelib.aws import client
from chalicelib.infra.iam import PROMOTION_FLOW_LOGICAL_ID, PROMOTION_FLOW_ROLE_LOGICAL_ID
from chalicelib.infra.package import PIPELINE_LOGICAL_ID, PIPELINE_ROLE_LOGICAL_ID
from chalicelib.infra.resources import (
    ACTIVATION_QUEUE,
    BUILD_QUEUE,
    CATALOGUE,
    DEPLOYMENTS,
    ENVIRONMENTS,
    PIPELINE,
    PROMOTION_FLOW,
    PROMOTION_QUEUE,
    SITES_BUCKET,
    STAGING_PREFIX,
    Bucket,
    Queue,
    Table,
)
from chalicelib.infra.state_machine import SUBSTITUTIONS, pipeline_definition, promotion_definition, render
from chalicelib.infra.template import logical_id
from chalicelib.settings import Settings, get_settings
from tests.support.aws import forget_aws_state
from tests.unit.moto_cloudformation import (
    creatable,
    moto_honours_properties,
    moto_types,
    parameter_values,
)

STAGE = "prod"
STACK_NAME = f"deployd-{STAGE}"
EMBEDDED_PREFIX = "deployd-embedded"  # not deployd-prod: the stack names two queues deployd-prod-<logical>
REGION = "us-east-1"
PROJECT_DIR = Path(__file__).resolve().parents[2]
# What must survive the filter: the data plane and the roles.
REQUIRED_TYPES = {
    "AWS::DynamoDB::Table",
    "AWS::SQS::Queue",
    "AWS::S3::Bucket",
    "AWS::StepFunctions::StateMachine",
    "AWS::IAM::Role",
}


# What `chalice package` reads from the project directory. The packaging runs in a copy: Chalice caches a
# 20 MB zip per version of the code in .chalice/deployments and writes it in place, so a copy keeps the
# working tree clean and concurrent runs from reading each other's half-written zip.
PROJECT_FILES = ("app.py", "requirements.txt", "chalicelib", "vendor", ".chalice")


def _copy_project(destination: Path) -> None:
    caches = shutil.ignore_patterns("__pycache__", "*.pyc")
    # Chalice's own caches (.chalice/deployments, .chalice/deployed); chalicelib/services/deployments is code.
    chalice_caches = shutil.ignore_patterns("__pycache__", "*.pyc", "deployments", "deployed")
    for name in PROJECT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=chalice_caches if name == ".chalice" else caches)
        elif source.exists():
            shutil.copy2(source, destination / name)


def _seed_dependency_cache(project: Path) -> None:
    """An empty zip where Chalice looks for the cached package of this code and these requirements.

    Chalice then skips building the third-party packages (pip and compressing them: ten seconds or more)
    and adds the app's own files to that zip, as it does whenever the cache is warm. The template does not
    depend on the zip's contents. If the name is not the one Chalice computes, it builds them: slower, same sam.json.
    """
    from chalice.deploy.packager import LambdaDeploymentPackager
    from chalice.utils import UI, OSUtils

    packager = LambdaDeploymentPackager(OSUtils(), None, UI())  # type: ignore[arg-type]
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    cached = Path(packager.deployment_package_filename(str(project), runtime))
    cached.parent.mkdir(parents=True, exist_ok=True)
    zipfile.ZipFile(cached, "w").close()


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=170)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"


@pytest.fixture(scope="module")
def packaged_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """sam.json as `make package STAGE=prod` writes it: the same two commands, in a clean environment."""
    project = tmp_path_factory.mktemp("project")
    _copy_project(project)
    _seed_dependency_cache(project)
    out = project / "out" / STAGE
    # Like a shell running make: none of the suite's AWS or deployd variables reach Chalice's import of app.py.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DEPLOYD_"))}
    env["AWS_DEFAULT_REGION"] = REGION
    chalice = str(Path(sysconfig.get_path("scripts")) / "chalice")
    _run([sys.executable, "-m", "chalicelib.infra.package", STAGE, str(out)], project, env)
    _run(
        [chalice, "package", "--stage", STAGE, "--merge-template", str(out / "merge-template.json"), str(out)],
        project,
        env,
    )
    template: dict[str, Any] = json.loads((out / "sam.json").read_text())
    return template


@dataclass
class Deployment:
    """The CloudFormation stack and the embedded stack's resources, side by side in one moto account."""

    template: dict[str, Any]  # what was passed to create_stack
    dropped: dict[str, str]  # logical id -> why it is not in the stack
    status: str
    physical: dict[str, str]  # logical id -> physical id, from describe_stack_resources
    outputs: dict[str, str]
    embedded: Settings

    def table(self, table: Table) -> str:
        return self.physical[logical_id(table.logical, "Table")]

    def queue_url(self, logical: str) -> str:
        return self.physical[logical_id(logical, "Queue")]

    def bucket(self, bucket: Bucket) -> str:
        return self.physical[logical_id(bucket.logical, "Bucket")]

    def embedded_queue_url(self, logical: str) -> str:
        return str(client("sqs").get_queue_url(QueueName=self.embedded.resource_name(logical))["QueueUrl"])


@pytest.fixture(scope="module")
def deployment(packaged_template: dict[str, Any]) -> Iterator[Deployment]:
    from moto import mock_aws

    from chalicelib.local.provision import provision

    template, dropped = creatable(packaged_template, moto_types())
    try:
        with pytest.MonkeyPatch.context() as env:
            env.delenv("AWS_ENDPOINT_URL", raising=False)
            env.delenv("DEPLOYD_HEARTBEAT_SECONDS", raising=False)  # the default is what the functions run with
            for name in [n for n in os.environ if n.startswith("DEPLOYD_RESOURCE_")]:
                env.delenv(name)
            env.setenv("AWS_DEFAULT_REGION", REGION)
            env.setenv("DEPLOYD_RESOURCE_PREFIX", EMBEDDED_PREFIX)
            forget_aws_state()
            with mock_aws(), moto_honours_properties():
                cloudformation = client("cloudformation")
                cloudformation.create_stack(
                    StackName=STACK_NAME,
                    TemplateBody=json.dumps(template),
                    Parameters=parameter_values(template),
                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
                )
                stack = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
                listed = cloudformation.describe_stack_resources(StackName=STACK_NAME)["StackResources"]
                physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in listed}

                settings = get_settings()
                provision({name: client(name) for name in ("dynamodb", "sqs", "s3", "stepfunctions", "kms")}, settings)
                outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
                yield Deployment(template, dropped, stack["StackStatus"], physical, outputs, settings)
    finally:
        forget_aws_state()


def table_settings(name: str) -> dict[str, Any]:
    """What matters about a live table, in a shape both paths and the catalogue can be compared in."""
    dynamodb = client("dynamodb")
    table = dynamodb.describe_table(TableName=name)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    stream = table.get("StreamSpecification", {})
    return {
        "KeySchema": table["KeySchema"],
        "AttributeDefinitions": sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]),
        "GlobalSecondaryIndexes": {
            index["IndexName"]: {"KeySchema": index["KeySchema"], "Projection": index["Projection"]}
            for index in table.get("GlobalSecondaryIndexes", [])
        },
        "BillingMode": table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED"),
        "TimeToLive": ttl.get("AttributeName") if ttl["TimeToLiveStatus"] == "ENABLED" else None,
        "Stream": stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
    }


def _key_schema(hash_key: Any, range_key: Any) -> list[dict[str, str]]:
    keys = [{"AttributeName": hash_key.name, "KeyType": "HASH"}]
    if range_key is not None:
        keys.append({"AttributeName": range_key.name, "KeyType": "RANGE"})
    return keys


def catalogue_table_settings(table: Table) -> dict[str, Any]:
    """table_settings as the catalogue defines them, but for the stream (its own test, below)."""
    attributes = [{"AttributeName": k.name, "AttributeType": k.type} for k in table.attribute_definitions()]
    return {
        "KeySchema": _key_schema(table.hash_key, table.range_key),
        "AttributeDefinitions": sorted(attributes, key=lambda a: a["AttributeName"]),
        "GlobalSecondaryIndexes": {
            index.name: {
                "KeySchema": _key_schema(index.hash_key, index.range_key),
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in table.indexes
        },
        "BillingMode": "PAY_PER_REQUEST",
        "TimeToLive": table.ttl_attribute,
    }


def queue_settings(url: str) -> dict[str, Any]:
    attributes = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
    return {
        "VisibilityTimeout": int(attributes["VisibilityTimeout"]),
        "MessageRetentionPeriod": int(attributes["MessageRetentionPeriod"]),
        "maxReceiveCount": redrive.get("maxReceiveCount") and int(redrive["maxReceiveCount"]),
        "deadLetterTargetArn": redrive.get("deadLetterTargetArn"),
    }


def queue_arn(url: str) -> str:
    attributes = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


def state_machine_definition(arn: str) -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(
        client("stepfunctions").describe_state_machine(stateMachineArn=arn)["definition"]
    )
    return definition


def substitutions(table_name: Any, queue_url: Any) -> dict[str, str]:
    """The physical names the pipeline's placeholders stand for, given how a path names tables and queues."""
    names = {
        "BuildQueueUrl": queue_url(BUILD_QUEUE.logical),
        "ActivationQueueUrl": queue_url(ACTIVATION_QUEUE.logical),
        "DeploymentsTable": table_name(DEPLOYMENTS),
        "EnvironmentsTable": table_name(ENVIRONMENTS),
    }
    assert set(names) == set(SUBSTITUTIONS)
    return names


def with_placeholders(definition: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The definition with each substituted physical name turned back into its ${placeholder}."""
    text = json.dumps(definition)
    for placeholder, value in sorted(names.items(), key=lambda item: -len(item[1])):
        text = text.replace(json.dumps(value)[1:-1], "${" + placeholder + "}")
    result: dict[str, Any] = json.loads(text)
    return result


# --- the stack itself ---


def test_moto_creates_everything_the_filter_keeps_and_keeps_the_data_plane_and_the_roles(
    deployment: Deployment,
) -> None:
    # Given the packaged template without what moto cannot create
    kept = deployment.template["Resources"]
    # Then the stack is complete with exactly those resources
    assert deployment.status == "CREATE_COMPLETE"
    assert set(deployment.physical) == set(kept)
    # And nothing of the data plane had to go
    catalogue_ids = (
        [logical_id(t.logical, "Table") for t in CATALOGUE.tables]
        + [logical_id(n, "Queue") for q in CATALOGUE.queues for n in (q.logical, q.dead_letter_logical)]
        + [logical_id(b.logical, "Bucket") for b in CATALOGUE.buckets]
        + [PIPELINE_LOGICAL_ID, PIPELINE_ROLE_LOGICAL_ID, PROMOTION_FLOW_LOGICAL_ID, PROMOTION_FLOW_ROLE_LOGICAL_ID]
    )
    assert {name: deployment.dropped[name] for name in catalogue_ids if name in deployment.dropped} == {}
    assert REQUIRED_TYPES <= {resource["Type"] for resource in kept.values()}
    # And every role the template declares (Chalice's function roles included) exists
    iam = client("iam")
    for name, resource in kept.items():
        if resource["Type"] == "AWS::IAM::Role":
            assert iam.get_role(RoleName=deployment.physical[name])["Role"]["Arn"]


def test_the_outputs_name_the_resources_the_stack_created(deployment: Deployment) -> None:
    expected = {f"{logical_id(t.logical, 'Table')}Name": deployment.table(t) for t in CATALOGUE.tables}
    expected |= {f"{logical_id(b.logical, 'Bucket')}Name": deployment.bucket(b) for b in CATALOGUE.buckets}
    for queue in CATALOGUE.queues:
        url = deployment.queue_url(queue.logical)
        expected[f"{logical_id(queue.logical, 'Queue')}Url"] = url
        expected[f"{logical_id(queue.logical, 'Queue')}Name"] = url.rsplit("/", 1)[1]
    expected[f"{PIPELINE_LOGICAL_ID}Arn"] = deployment.physical[PIPELINE_LOGICAL_ID]
    assert {name: deployment.outputs.get(name) for name in expected} == expected


@pytest.mark.parametrize("table", CATALOGUE.tables, ids=lambda t: t.logical)
def test_every_table_has_the_catalogues_keys_indexes_billing_and_ttl(deployment: Deployment, table: Table) -> None:
    settings = table_settings(deployment.table(table))
    del settings["Stream"]
    assert settings == catalogue_table_settings(table)


def test_every_table_streams_what_the_catalogue_says_in_both_stacks(deployment: Deployment) -> None:
    for table in CATALOGUE.tables:
        stack = table_settings(deployment.table(table))["Stream"]
        embedded = table_settings(deployment.embedded.resource_name(table.logical))["Stream"]
        assert (table.logical, stack, embedded) == (table.logical, table.stream_view, table.stream_view)


@pytest.mark.parametrize("queue", CATALOGUE.queues, ids=lambda q: q.logical)
def test_every_queue_has_the_catalogues_timeouts_and_redrives_to_its_dead_letter_queue(
    deployment: Deployment, queue: Queue
) -> None:
    dead_letter_url = deployment.queue_url(queue.dead_letter_logical)
    assert queue_settings(deployment.queue_url(queue.logical)) == {
        "VisibilityTimeout": queue.visibility_timeout_seconds,
        "MessageRetentionPeriod": queue.message_retention_seconds,
        "maxReceiveCount": queue.max_receive_count,
        "deadLetterTargetArn": queue_arn(dead_letter_url),
    }
    # A message keeps its first enqueue time in the dead-letter queue: that queue must keep messages longer.
    dead_letter = queue_settings(dead_letter_url)
    assert dead_letter["MessageRetentionPeriod"] == queue.dead_letter_retention_seconds
    assert queue.dead_letter_retention_seconds > queue.message_retention_seconds
    assert dead_letter["deadLetterTargetArn"] is None


@pytest.mark.parametrize("bucket", CATALOGUE.buckets, ids=lambda b: b.logical)
def test_every_bucket_is_encrypted_and_blocks_public_access(deployment: Deployment, bucket: Bucket) -> None:
    s3 = client("s3")
    name = deployment.bucket(bucket)
    rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    assert [rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for rule in rules] == ["AES256"]
    block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
    assert block == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": True,
    }


def test_the_state_machine_runs_the_catalogues_pipeline_on_the_stacks_queues_and_tables_with_its_role(
    deployment: Deployment,
) -> None:
    arn = deployment.physical[PIPELINE_LOGICAL_ID]
    names = substitutions(deployment.table, deployment.queue_url)
    expected = json.loads(render(pipeline_definition(deployment.embedded.heartbeat_seconds), names))
    assert state_machine_definition(arn) == expected
    role = client("iam").get_role(RoleName=deployment.physical[PIPELINE_ROLE_LOGICAL_ID])["Role"]["Arn"]
    assert client("stepfunctions").describe_state_machine(stateMachineArn=arn)["roleArn"] == role


# --- the stack against the embedded stack ---


@pytest.mark.parametrize("table", CATALOGUE.tables, ids=lambda t: t.logical)
def test_every_table_is_the_same_in_the_stack_and_in_the_embedded_stack(deployment: Deployment, table: Table) -> None:
    embedded = table_settings(deployment.embedded.resource_name(table.logical))
    assert table_settings(deployment.table(table)) == embedded


@pytest.mark.parametrize("queue", CATALOGUE.queues, ids=lambda q: q.logical)
def test_every_queue_is_the_same_in_the_stack_and_in_the_embedded_stack(deployment: Deployment, queue: Queue) -> None:
    stack = queue_settings(deployment.queue_url(queue.logical))
    embedded = queue_settings(deployment.embedded_queue_url(queue.logical))
    # Each redrives to its own dead-letter queue; the rest must be equal.
    assert stack.pop("deadLetterTargetArn") == queue_arn(deployment.queue_url(queue.dead_letter_logical))
    assert embedded.pop("deadLetterTargetArn") == queue_arn(deployment.embedded_queue_url(queue.dead_letter_logical))
    assert stack == embedded
    stack_dead_letter = queue_settings(deployment.queue_url(queue.dead_letter_logical))
    embedded_dead_letter = queue_settings(deployment.embedded_queue_url(queue.dead_letter_logical))
    assert stack_dead_letter == embedded_dead_letter


def _expiries(bucket_name: str) -> set[tuple[str, str, str, int]]:
    """(rule id, prefix, status, days) of each lifecycle rule of a bucket; none when it has no configuration."""
    s3 = client("s3")
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket_name)["Rules"]
    except s3.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration", exc
        return set()
    return {(r["ID"], r["Filter"]["Prefix"], r["Status"], r["Expiration"]["Days"]) for r in rules}


@pytest.mark.parametrize("bucket", CATALOGUE.buckets, ids=lambda b: b.logical)
def test_every_bucket_expires_what_the_catalogue_says_in_both_stacks(deployment: Deployment, bucket: Bucket) -> None:
    expected = {(e.rule_id, e.prefix, "Enabled", e.days) for e in bucket.expiries}
    assert _expiries(deployment.bucket(bucket)) == expected
    assert _expiries(deployment.embedded.resource_name(bucket.logical)) == expected


def test_what_a_build_stages_in_the_sites_bucket_expires_after_a_day() -> None:
    assert [(e.prefix, e.days) for e in SITES_BUCKET.expiries] == [(STAGING_PREFIX, 1)]


def test_every_bucket_of_the_stack_exists_in_the_embedded_stack(deployment: Deployment) -> None:
    names = {bucket["Name"] for bucket in client("s3").list_buckets()["Buckets"]}
    for bucket in CATALOGUE.buckets:
        assert {deployment.bucket(bucket), deployment.embedded.resource_name(bucket.logical)} <= names


def test_the_state_machine_is_the_same_in_the_stack_and_in_the_embedded_stack_but_for_the_names(
    deployment: Deployment,
) -> None:
    from chalicelib.local.provision import state_machine_arn

    settings = deployment.embedded
    stack_names = substitutions(deployment.table, deployment.queue_url)
    embedded_names = substitutions(lambda t: settings.resource_name(t.logical), deployment.embedded_queue_url)
    stack = state_machine_definition(deployment.physical[PIPELINE_LOGICAL_ID])
    embedded = state_machine_definition(state_machine_arn(settings, PIPELINE.logical))
    assert with_placeholders(stack, stack_names) == with_placeholders(embedded, embedded_names)
    assert embedded == json.loads(render(pipeline_definition(settings.heartbeat_seconds), embedded_names))


def test_the_promotion_flow_runs_on_the_stacks_promotion_queue_with_its_own_role_as_in_the_embedded_stack(
    deployment: Deployment,
) -> None:
    # Given the promotion flow CloudFormation created, and the embedded stack's
    from chalicelib.local.provision import state_machine_arn

    arn = deployment.physical[PROMOTION_FLOW_LOGICAL_ID]
    stack = state_machine_definition(arn)
    embedded = state_machine_definition(state_machine_arn(deployment.embedded, PROMOTION_FLOW.logical))

    # Then both are the catalogue's definition on their own promotion queue
    queue = PROMOTION_QUEUE.logical
    assert stack == json.loads(render(promotion_definition(), {"PromotionQueueUrl": deployment.queue_url(queue)}))
    assert embedded == json.loads(
        render(promotion_definition(), {"PromotionQueueUrl": deployment.embedded_queue_url(queue)})
    )
    # And it runs with its own role, not the pipeline's
    role = client("iam").get_role(RoleName=deployment.physical[PROMOTION_FLOW_ROLE_LOGICAL_ID])["Role"]["Arn"]
    assert client("stepfunctions").describe_state_machine(stateMachineArn=arn)["roleArn"] == role
    assert deployment.physical[PROMOTION_FLOW_ROLE_LOGICAL_ID] != deployment.physical[PIPELINE_ROLE_LOGICAL_ID]
