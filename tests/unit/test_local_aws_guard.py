"""The embedded stack's local AWS endpoint (chalicelib.local.moto_compat.LocalAwsServer) answers only requests
signed with an IAM user's key, and never moto's control API, however its path is spelled."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib.local.moto_compat import LocalAwsServer
from chalicelib.local.stack import free_port


@pytest.fixture(scope="module")
def endpoint() -> Iterator[tuple[LocalAwsServer, dict[str, Any]]]:
    """A guarded server with one IAM user allowed everything (made before the guard is on, as the stack does),
    and a bucket that user made."""
    server = LocalAwsServer("127.0.0.1", free_port())
    server.start()
    url = f"http://127.0.0.1:{server.port}"
    iam = boto3.client(
        "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    user = f"guard-test-{uuid.uuid4().hex[:8]}"  # moto's state is the process's: names of this test's own
    iam.create_user(UserName=user)
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=json.dumps(allow))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    credentials = {
        "endpoint_url": url,
        "region_name": "us-east-1",
        "aws_access_key_id": key["AccessKeyId"],
        "aws_secret_access_key": key["SecretAccessKey"],
        "bucket": f"guarded-sites-{uuid.uuid4().hex[:8]}",
    }
    server.authenticate = True
    s3 = _s3(credentials)
    s3.create_bucket(Bucket=credentials["bucket"])
    yield server, credentials
    s3.delete_bucket(Bucket=credentials["bucket"])
    server.authenticate = False  # what the test made goes the way the user came
    iam.delete_user_policy(UserName=user, PolicyName="all")
    iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=user)
    server.stop()


def _s3(credentials: dict[str, Any]) -> Any:
    return boto3.client("s3", **{k: v for k, v in credentials.items() if k != "bucket"})


def _post(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", path, body=b"100", headers={"Content-Length": "3"})
    return connection.getresponse().status


@pytest.mark.parametrize(
    "path",
    ["/moto-api/reset", "//moto-api/reset", "/./moto-api/reset", "/x/../moto-api/reset", "/MOTO-API/reset-auth"],
)
def test_moto_control_api_is_refused_however_spelled(
    endpoint: tuple[LocalAwsServer, dict[str, Any]], path: str
) -> None:
    server, credentials = endpoint

    # When a caller asks moto to reset (or to stop checking signatures)
    status = _post(server.port, path)

    # Then it is refused, and nothing was reset
    assert status == 403
    assert credentials["bucket"] in [b["Name"] for b in _s3(credentials).list_buckets()["Buckets"]]


@pytest.mark.parametrize(
    "key_id, secret", [(None, None), ("embedded", "embedded"), ("AKIAIOSFODNN7EXAMPLE", "wrong-secret")]
)
def test_requests_without_the_stacks_key_are_refused(
    endpoint: tuple[LocalAwsServer, dict[str, Any]], key_id: str | None, secret: str | None
) -> None:
    server, credentials = endpoint
    # Given a client unsigned, with the old fixed key, or with a key the endpoint never issued
    config = {"endpoint_url": credentials["endpoint_url"], "region_name": "us-east-1"}
    if key_id is None:
        from botocore import UNSIGNED
        from botocore.config import Config

        s3 = boto3.client("s3", config=Config(signature_version=UNSIGNED), **config)
    else:
        s3 = boto3.client("s3", aws_access_key_id=key_id, aws_secret_access_key=secret, **config)

    # When it writes into the bucket
    with pytest.raises(ClientError) as refused:
        s3.put_object(Bucket=credentials["bucket"], Key="deployments/1/index.html", Body=b"defaced")

    # Then it is refused, and the bucket holds nothing
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (401, 403)
    assert "Contents" not in _s3(credentials).list_objects_v2(Bucket=credentials["bucket"])
