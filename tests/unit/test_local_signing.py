"""The embedded stack signs SigV4 with botocore's own signers, as the API and the workers do on AWS where awscrt is
only in the KeyValueStore signers' layer (chalicelib.local.signing); SigV4A keeps awscrt's. The guarded local
endpoint accepts those signatures and still refuses a wrong one."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore import auth
from botocore.exceptions import ClientError

from chalicelib.local.signing import sign_sigv4_as_on_lambda
from tests.support.aws import guarded_endpoint


@pytest.fixture(scope="module")
def credentials() -> Iterator[dict[str, Any]]:
    """A guarded endpoint and the key of an IAM user allowed everything (tests.support.aws.guarded_endpoint)."""
    with guarded_endpoint("signing-test") as arguments:
        yield arguments


def test_sigv4_is_signed_by_botocore_and_sigv4a_by_awscrt(
    credentials: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the stack's signing (applied twice: it is idempotent)
    sign_sigv4_as_on_lambda()
    sign_sigv4_as_on_lambda()
    signers: list[str] = []
    for signer in (auth.SigV4Auth, auth.S3SigV4Auth):
        own = signer.add_auth

        def recorded(self: Any, request: Any, own: Any = own) -> Any:
            signers.append(type(self).__name__)
            return own(self, request)

        monkeypatch.setattr(signer, "add_auth", recorded)

    # When the stack's clients call DynamoDB and S3 on the guarded endpoint
    tables = boto3.client("dynamodb", **credentials).list_tables()
    s3 = boto3.client("s3", **credentials)
    bucket = f"signing-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.delete_bucket(Bucket=bucket)

    # Then botocore's own signers signed them, and the endpoint accepted the signatures
    assert "TableNames" in tables
    assert signers[0] == "SigV4Auth" and set(signers[1:]) == {"S3SigV4Auth"}
    assert auth.AUTH_TYPE_MAPS["v4"] is auth.SigV4Auth
    # SigV4A (CloudFront KeyValueStore) has no signer but awscrt's
    assert auth.AUTH_TYPE_MAPS["v4a"].__module__ == "botocore.crt.auth"


def test_a_wrong_secret_is_still_refused(credentials: dict[str, Any]) -> None:
    sign_sigv4_as_on_lambda()
    wrong = {**credentials, "aws_secret_access_key": "not-the-secret"}

    with pytest.raises(ClientError) as refused:
        boto3.client("dynamodb", **wrong).list_tables()

    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "signature" in str(refused.value).lower()
