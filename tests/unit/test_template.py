"""The CloudFormation resources are generated from the same catalogue the embedded stack provisions from."""

from __future__ import annotations

import json
import re

from chalicelib.infra import cdn, codebuild, monitoring
from chalicelib.infra.buildspec import BUILDSPEC
from chalicelib.infra.cdn import site_distribution_resources
from chalicelib.infra.codebuild import build_project_resources
from chalicelib.infra.monitoring import alarm_resources, dashboard_resource
from chalicelib.infra.resources import BUILD_PROJECT, CATALOGUE, PIPELINE, SITES_CDN
from chalicelib.infra.template import data_plane, logical_id
from chalicelib.local.provision import table_request
from chalicelib.observability import DEPLOYMENT_EVENTS, METRICS_NAMESPACE
from chalicelib.settings import get_settings


def test_every_table_has_the_same_keys_and_indexes_as_the_embedded_stack() -> None:
    resources = data_plane()
    for table in CATALOGUE.tables:
        properties = resources[logical_id(table.logical, "Table")]["Properties"]
        embedded = table_request(table, get_settings())
        assert properties["KeySchema"] == embedded["KeySchema"]
        assert properties["AttributeDefinitions"] == embedded["AttributeDefinitions"]
        assert properties.get("GlobalSecondaryIndexes") == embedded.get("GlobalSecondaryIndexes")
        if table.ttl_attribute:
            assert properties["TimeToLiveSpecification"] == {"AttributeName": table.ttl_attribute, "Enabled": True}


def test_every_queue_has_a_dead_letter_queue() -> None:
    resources = data_plane()
    for queue in CATALOGUE.queues:
        redrive = resources[logical_id(queue.logical, "Queue")]["Properties"]["RedrivePolicy"]
        dlq = logical_id(queue.dead_letter_logical, "Queue")
        assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq, "Arn"]}
        assert resources[dlq]["Type"] == "AWS::SQS::Queue"


def test_the_state_machine_substitutes_every_placeholder_with_a_resource_of_the_template() -> None:
    resources = data_plane()
    machine = resources["DeploymentPipeline"]["Properties"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", machine["DefinitionString"]))
    assert placeholders == set(machine["DefinitionSubstitutions"])
    for reference in machine["DefinitionSubstitutions"].values():
        assert reference["Ref"] in resources
    json.loads(machine["DefinitionString"])  # valid JSON before substitution


def test_buckets_are_private_and_encrypted() -> None:
    resources = data_plane()
    for bucket in CATALOGUE.buckets:
        properties = resources[logical_id(bucket.logical, "Bucket")]["Properties"]
        assert all(properties["PublicAccessBlockConfiguration"].values())
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]


def test_a_table_with_a_stream_view_has_that_stream() -> None:
    resources = data_plane()
    for table in CATALOGUE.tables:
        properties = resources[logical_id(table.logical, "Table")]["Properties"]
        expected = {"StreamViewType": table.stream_view} if table.stream_view else None
        assert properties.get("StreamSpecification") == expected
    assert any(table.stream_view for table in CATALOGUE.tables)


# --- the rest of the stack, generated from the catalogue too ---


def test_the_build_project_runs_the_buildspec_without_source_or_artifacts_and_logs_to_its_group() -> None:
    project = BUILD_PROJECT
    resources = build_project_resources(project, "deployd-prod")
    properties = resources[codebuild.project_id(project)]["Properties"]
    assert properties["Name"] == "deployd-prod-build-project"  # app.py's event pattern names it
    assert properties["Source"] == {"Type": "NO_SOURCE", "BuildSpec": BUILDSPEC}
    assert properties["Artifacts"] == {"Type": "NO_ARTIFACTS"}
    assert properties["Environment"]["Image"] == project.image
    assert properties["Environment"]["ComputeType"] == project.compute_type
    assert properties["Environment"]["PrivilegedMode"] is False
    assert properties["ServiceRole"] == {"Fn::GetAtt": [codebuild.role_id(project), "Arn"]}
    logs = properties["LogsConfig"]["CloudWatchLogs"]
    assert logs == {"Status": "ENABLED", "GroupName": {"Ref": codebuild.log_group_id(project)}}
    group = resources[codebuild.log_group_id(project)]["Properties"]
    assert group["RetentionInDays"] == project.log_retention_days


def test_the_sites_distribution_serves_every_label_of_the_sites_domain_from_the_bucket_through_the_router() -> None:
    resources = site_distribution_resources(SITES_CDN, "deployd-prod")
    config = resources[cdn.distribution_id(SITES_CDN)]["Properties"]["DistributionConfig"]
    assert config["Aliases"] == [{"Fn::Sub": "*.${SitesDomain}"}]
    assert config["ViewerCertificate"] == {
        "AcmCertificateArn": {"Ref": "CertificateArn"},
        "SslSupportMethod": "sni-only",
        "MinimumProtocolVersion": "TLSv1.2_2021",
    }
    (origin,) = config["Origins"]
    bucket = logical_id(SITES_CDN.origin.logical, "Bucket")
    assert origin["DomainName"] == {"Fn::GetAtt": [bucket, "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [cdn.origin_access_control_id(SITES_CDN), "Id"]}
    behavior = config["DefaultCacheBehavior"]
    assert behavior["CachePolicyId"] == cdn.CACHING_DISABLED_POLICY_ID  # a rollback shows on the next request
    assert behavior["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behavior["FunctionAssociations"] == [
        {
            "EventType": "viewer-request",
            "FunctionARN": {"Fn::GetAtt": [cdn.router_id(SITES_CDN), "FunctionMetadata.FunctionARN"]},
        }
    ]
    router = resources[cdn.router_id(SITES_CDN)]["Properties"]
    assert router["AutoPublish"] is True
    assert router["FunctionCode"] == cdn.SITE_ROUTER_SOURCE.read_text()
    assert router["FunctionConfig"]["Runtime"] == "cloudfront-js-2.0"
    assert router["FunctionConfig"]["KeyValueStoreAssociations"] == [
        {"KeyValueStoreARN": {"Fn::GetAtt": [cdn.key_value_store_id(SITES_CDN), "Arn"]}}
    ]
    assert resources[cdn.key_value_store_id(SITES_CDN)]["Type"] == "AWS::CloudFront::KeyValueStore"


def test_only_the_distribution_may_read_the_sites_bucket() -> None:
    resources = site_distribution_resources(SITES_CDN, "deployd-prod")
    policy = resources[cdn.bucket_policy_id(SITES_CDN)]["Properties"]
    assert policy["Bucket"] == {"Ref": logical_id(SITES_CDN.origin.logical, "Bucket")}
    allows = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    distribution = cdn.distribution_id(SITES_CDN)
    for statement in allows:
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"].endswith(
            f":distribution/${{{distribution}}}"
        )
    assert sorted(s["Action"] for s in allows) == ["s3:GetObject", "s3:ListBucket"]
    (read,) = [s for s in allows if s["Action"] == "s3:GetObject"]
    assert read["Resource"] == {"Fn::Sub": "${SitesBucket.Arn}/deployments/*"}


def test_every_dead_letter_queue_has_an_alarm_on_its_depth() -> None:
    resources = alarm_resources(CATALOGUE, ["APIHandler"], {"RouteSync": "the routes stream is behind"})
    for queue in CATALOGUE.queues:
        alarm = resources[monitoring.dead_letter_alarm_id(queue)]["Properties"]
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Dimensions"] == [
            {
                "Name": "QueueName",
                "Value": {"Fn::GetAtt": [logical_id(queue.dead_letter_logical, "Queue"), "QueueName"]},
            }
        ]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["AlarmActions"] == [{"Ref": monitoring.ALARM_TOPIC}]
    assert resources[monitoring.ALARM_SUBSCRIPTION]["Condition"] == monitoring.HAS_ALARM_EMAIL


def test_the_dashboard_shows_the_deployment_metrics_queues_functions_and_executions() -> None:
    body = dashboard_resource(CATALOGUE, ["APIHandler", "BuildWorker"], PIPELINE, "deployd-prod")["Properties"][
        "DashboardBody"
    ]["Fn::Sub"]
    text = body.replace("${AWS::Region}", "us-east-1")
    for name in re.findall(r"\$\{([^}]+)\}", text):  # every placeholder is a resource (attribute) of the stack
        assert name.split(".")[0] in {"APIHandler", "BuildWorker", "DeploymentPipeline", "SitesCdnDistribution"} | {
            logical_id(n, "Queue") for q in CATALOGUE.queues for n in (q.logical, q.dead_letter_logical)
        }
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", text))["widgets"]
    metrics = {m[1] for w in widgets for m in w["properties"]["metrics"] if m[0] == METRICS_NAMESPACE}
    assert metrics == {*DEPLOYMENT_EVENTS.values(), "BuildDuration", "QueueWait"}
    namespaces = {m[0] for w in widgets for m in w["properties"]["metrics"]}
    assert namespaces == {METRICS_NAMESPACE, "AWS/SQS", "AWS/Lambda", "AWS/States", "AWS/ApiGateway", "AWS/CloudFront"}
    # Failed deployments by cause: the users' builds apart from the platform's failures
    failed = [m for w in widgets for m in w["properties"]["metrics"] if m[1] == DEPLOYMENT_EVENTS["failed"]]
    assert [m[2:6] for m in failed] == [
        ["service", "deployd", "cause", "build"],
        ["service", "deployd", "cause", "platform"],
    ]
    # CloudFront's metrics exist in us-east-1 only, wherever the stack is
    (sites,) = [w for w in widgets if any(m[0] == "AWS/CloudFront" for m in w["properties"]["metrics"])]
    assert sites["properties"]["region"] == "us-east-1"
