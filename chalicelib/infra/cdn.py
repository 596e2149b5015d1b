"""CloudFront in front of the sites bucket, generated from the catalogue's SiteDistribution.

`<label>.<SitesDomain>` reaches one distribution (alias `*.<SitesDomain>`); its CloudFront Function
(site_router.js, beside this module) looks the label up in a KeyValueStore that mirrors the routes table and
rewrites the request to that artifact prefix in the bucket. Production, previews and immutable deployment
hosts are all just keys there, so switching production or rolling back is one write to the store.

Caching: the managed CachingDisabled policy. The URI CloudFront would cache under is the viewer's
(`/index.html` of one host), not the rewritten one, so a cached copy would outlive a rollback by its TTL;
without a cache the next request after the store changes is served from the new prefix. Sites are
static files from S3 behind edge locations, which keeps that affordable; a short TTL is the lever if not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chalicelib.infra.resources import SiteDistribution
from chalicelib.infra.template import logical_id

SITE_ROUTER_SOURCE = Path(__file__).with_name("site_router.js")
SITE_ROUTER_CODE = SITE_ROUTER_SOURCE.read_text()

# AWS managed cache policy "Managed-CachingDisabled".
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
# Where built sites live in the bucket (chalicelib.adapters.sites.artifact_prefix): all CloudFront may read.
ARTIFACTS_PREFIX = "deployments/"


def distribution_id(cdn: SiteDistribution) -> str:
    return logical_id(cdn.logical, "Distribution")


def key_value_store_id(cdn: SiteDistribution) -> str:
    return logical_id(cdn.logical, "KeyValueStore")


def router_id(cdn: SiteDistribution) -> str:
    return logical_id(cdn.logical, "Router")


def router_name(cdn: SiteDistribution, prefix: str) -> str:
    """The router function's name (CloudFront's metrics name functions by it)."""
    return f"{prefix}-site-router"


def origin_access_control_id(cdn: SiteDistribution) -> str:
    return logical_id(cdn.logical, "OriginAccessControl")


def bucket_policy_id(cdn: SiteDistribution) -> str:
    return logical_id(cdn.origin.logical, "BucketPolicy")


def key_value_store_arn(cdn: SiteDistribution) -> dict[str, Any]:
    return {"Fn::GetAtt": [key_value_store_id(cdn), "Arn"]}


def _bucket_policy(cdn: SiteDistribution) -> dict[str, Any]:
    bucket = logical_id(cdn.origin.logical, "Bucket")
    distribution_arn = {
        "Fn::Sub": f"arn:${{AWS::Partition}}:cloudfront::${{AWS::AccountId}}:distribution/${{{distribution_id(cdn)}}}"
    }
    from_the_distribution = {"StringEquals": {"AWS:SourceArn": distribution_arn}}
    cloudfront = {"Service": "cloudfront.amazonaws.com"}
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": bucket},
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TheDistributionReadsArtifacts",
                        "Effect": "Allow",
                        "Principal": cloudfront,
                        "Action": "s3:GetObject",
                        "Resource": {"Fn::Sub": f"${{{bucket}.Arn}}/{ARTIFACTS_PREFIX}*"},
                        "Condition": from_the_distribution,
                    },
                    {
                        # Without it S3 answers a missing file with 403 AccessDenied; with it, 404. CloudFront only
                        # ever asks for an object key (the router rewrites every URI), so nothing is listed.
                        "Sid": "MissingFilesAre404",
                        "Effect": "Allow",
                        "Principal": cloudfront,
                        "Action": "s3:ListBucket",
                        "Resource": {"Fn::GetAtt": [bucket, "Arn"]},
                        "Condition": from_the_distribution,
                    },
                    {
                        "Sid": "TlsOnly",
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": [{"Fn::GetAtt": [bucket, "Arn"]}, {"Fn::Sub": f"${{{bucket}.Arn}}/*"}],
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    },
                ],
            },
        },
    }


def site_distribution_resources(cdn: SiteDistribution, prefix: str) -> dict[str, Any]:
    """The KeyValueStore, the router function, origin access control, the distribution and the bucket policy.

    Names are fixed per stage (`prefix`), like the queues': CloudFront names are unique per account."""
    bucket = logical_id(cdn.origin.logical, "Bucket")
    origin = "sites-bucket"
    return {
        key_value_store_id(cdn): {
            "Type": "AWS::CloudFront::KeyValueStore",
            "Properties": {
                "Name": f"{prefix}-{cdn.routes.logical}",
                "Comment": f"host label -> artifact prefix: the {cdn.routes.logical} table, mirrored",
            },
        },
        router_id(cdn): {
            "Type": "AWS::CloudFront::Function",
            "Properties": {
                "Name": router_name(cdn, prefix),
                "AutoPublish": True,
                "FunctionCode": SITE_ROUTER_CODE,
                "FunctionConfig": {
                    "Comment": "routes <label>.<SitesDomain> to the label's artifact prefix",
                    "Runtime": "cloudfront-js-2.0",
                    "KeyValueStoreAssociations": [{"KeyValueStoreARN": key_value_store_arn(cdn)}],
                },
            },
        },
        origin_access_control_id(cdn): {
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": {
                "OriginAccessControlConfig": {
                    "Name": f"{prefix}-{cdn.origin.logical}",
                    "Description": "CloudFront signs its requests to the sites bucket",
                    "OriginAccessControlOriginType": "s3",
                    "SigningBehavior": "always",
                    "SigningProtocol": "sigv4",
                }
            },
        },
        distribution_id(cdn): {
            "Type": "AWS::CloudFront::Distribution",
            "Properties": {
                "DistributionConfig": {
                    "Comment": f"deployd sites ({prefix})",
                    "Enabled": True,
                    "Aliases": [{"Fn::Sub": "*.${SitesDomain}"}],
                    "ViewerCertificate": {
                        "AcmCertificateArn": {"Ref": "CertificateArn"},
                        "SslSupportMethod": "sni-only",
                        "MinimumProtocolVersion": "TLSv1.2_2021",
                    },
                    "HttpVersion": "http2and3",
                    "IPV6Enabled": True,
                    "PriceClass": "PriceClass_100",
                    "Origins": [
                        {
                            "Id": origin,
                            "DomainName": {"Fn::GetAtt": [bucket, "RegionalDomainName"]},
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                            "OriginAccessControlId": {"Fn::GetAtt": [origin_access_control_id(cdn), "Id"]},
                        }
                    ],
                    "DefaultCacheBehavior": {
                        "TargetOriginId": origin,
                        "ViewerProtocolPolicy": "redirect-to-https",
                        "AllowedMethods": ["GET", "HEAD"],
                        "CachedMethods": ["GET", "HEAD"],
                        "Compress": True,
                        "CachePolicyId": CACHING_DISABLED_POLICY_ID,
                        "FunctionAssociations": [
                            {
                                "EventType": "viewer-request",
                                "FunctionARN": {"Fn::GetAtt": [router_id(cdn), "FunctionMetadata.FunctionARN"]},
                            }
                        ],
                    },
                }
            },
        },
        bucket_policy_id(cdn): _bucket_policy(cdn),
    }
