"""What a test that runs moto's in-process AWS sets and forgets, so no client or connection outlives its mock."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3

from chalicelib.aws import reset_clients
from chalicelib.models import reset_connections
from chalicelib.settings import get_settings

# AWS's own endpoint and fake credentials: an earlier suite's embedded stack may have left its endpoint behind.
MOCK_AWS_ENV: dict[str, str | None] = {
    "AWS_ENDPOINT_URL": None,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "DEPLOYD_RESOURCE_PREFIX": "deployd-test",
}


def forget_aws_state() -> None:
    """Drops the cached settings, boto3 clients and PynamoDB connections: the next use builds them anew."""
    get_settings.cache_clear()
    reset_clients()
    reset_connections()


@contextmanager
def guarded_endpoint(user_prefix: str) -> Iterator[dict[str, Any]]:
    """A local AWS endpoint that authenticates every call, and the client arguments of an IAM user allowed everything
    (made before the guard is on, as the embedded stack makes its own); all of it removed on the way out."""
    from chalicelib.local.moto_compat import LocalAwsServer
    from chalicelib.local.stack import free_port

    server = LocalAwsServer("127.0.0.1", free_port())
    server.start()
    url = f"http://127.0.0.1:{server.port}"
    iam = boto3.client(
        "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    user = f"{user_prefix}-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="all", PolicyDocument=json.dumps(allow))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    server.authenticate = True
    try:
        yield {
            "endpoint_url": url,
            "region_name": "us-east-1",
            "aws_access_key_id": key["AccessKeyId"],
            "aws_secret_access_key": key["SecretAccessKey"],
        }
    finally:
        server.authenticate = False
        iam.delete_user_policy(UserName=user, PolicyName="all")
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName=user)
        server.stop()
