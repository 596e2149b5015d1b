"""CloudFront KeyValueStore's API takes only SigV4A signatures: the packaged dependencies must sign them."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

KVS_ARN = "arn:aws:cloudfront::123456789012:key-value-store/6bd0e9d8-5ec4-4bd0-8d1c-3c2c9d7e6a11"


class Sent(Exception):
    def __init__(self, request: Any) -> None:
        self.request = request


def test_a_keyvaluestore_request_leaves_signed_with_sigv4a() -> None:
    session = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
    kvs = session.client("cloudfront-keyvaluestore", region_name="us-east-1")

    def capture(request: Any, **_: Any) -> None:
        raise Sent(request)

    kvs.meta.events.register("before-send.cloudfront-keyvaluestore.DescribeKeyValueStore", capture)

    # When the mirror's first call goes out (it never reaches the network: the hook stops it)
    with pytest.raises(Sent) as sent:
        kvs.describe_key_value_store(KvsARN=KVS_ARN)

    # Then it is signed with SigV4A (ECDSA), for every region, at the store's own endpoint
    headers = sent.value.request.headers
    assert headers["Authorization"].startswith(b"AWS4-ECDSA-P256-SHA256 ")
    assert headers["X-Amz-Region-Set"] == b"*"
    assert sent.value.request.url.startswith("https://123456789012.cloudfront-kvs.global.api.aws/")
