"""The embedded stack's local AWS endpoint checks a JSON call's SigV4 signature (a POST to "/") from the request as it
came, with the signing key derived once (chalicelib.local.moto_compat): the calls botocore signs are accepted without
moto's general check, and every request that is not signed right gets moto's own refusal, as before."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from chalicelib.local import moto_compat
from tests.support.aws import guarded_endpoint


@pytest.fixture(scope="module")
def credentials() -> Iterator[dict[str, Any]]:
    """A guarded endpoint and the key of an IAM user allowed everything (tests.support.aws.guarded_endpoint)."""
    with guarded_endpoint("signature-test") as arguments:
        yield arguments


@pytest.fixture
def general_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each request moto's own signature check was asked about (its action)."""
    from moto.iam.access_control import IAMRequestBase

    asked: list[str] = []
    own = IAMRequestBase.check_signature

    def counted(self: Any) -> None:
        asked.append(self._action)
        own(self)

    monkeypatch.setattr(IAMRequestBase, "check_signature", counted)
    return asked


def test_calls_signed_by_botocore_skip_moto_s_general_check(
    credentials: dict[str, Any], general_checks: list[str]
) -> None:
    # When botocore's clients make JSON calls (DynamoDB, SQS) on the guarded endpoint, two of each
    dynamodb = boto3.client("dynamodb", **credentials)
    sqs = boto3.client("sqs", **credentials)
    for _ in range(2):
        assert "TableNames" in dynamodb.list_tables()
        sqs.list_queues()

    # Then all were accepted, and moto's general check was asked about none of them
    assert general_checks == []


class _SigningEveryHeader(SigV4Auth):
    """SigV4 over every header, User-Agent included (botocore's signer leaves it out, and so does moto's check)."""

    def headers_to_sign(self, request: AWSRequest) -> Any:
        headers = super().headers_to_sign(request)
        headers["user-agent"] = request.headers["User-Agent"]
        return headers


def _signed(
    credentials: dict[str, Any], body: bytes, secret: str | None = None, signer: type[SigV4Auth] = SigV4Auth
) -> dict[str, str]:
    """The headers of a DynamoDB ListTables POST signed with the user's key (or `secret`)."""
    url = credentials["endpoint_url"] + "/"
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "X-Amz-Target": "DynamoDB_20120810.ListTables",
            "Content-Type": "application/x-amz-json-1.0",
            "Host": urlsplit(url).netloc,
            "User-Agent": "signature-test",
        },
    )
    key = Credentials(credentials["aws_access_key_id"], secret or credentials["aws_secret_access_key"])
    signer(key, "dynamodb", "us-east-1").add_auth(request)
    return dict(request.headers.items())


def _answer(credentials: dict[str, Any], headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(urlsplit(credentials["endpoint_url"]).netloc, timeout=10)
    connection.request("POST", "/", body=body, headers=headers)
    response = connection.getresponse()
    raw = response.read()
    answer = response.status, (json.loads(raw) if raw.startswith(b"{") else raw)
    connection.close()
    return answer


def _tampered(credentials: dict[str, Any]) -> list[tuple[str, dict[str, str], bytes]]:
    body = b"{}"
    good = _signed(credentials, body)
    other_target = {**good, "X-Amz-Target": "DynamoDB_20120810.DescribeLimits"}
    no_host = {**good, "Authorization": good["Authorization"].replace("SignedHeaders=", "SignedHeaders=x-")}
    other_day = {**good, "X-Amz-Date": "20200101T000000Z"}
    unknown_key = {
        **good,
        "Authorization": good["Authorization"].replace(credentials["aws_access_key_id"], "AKIANOSUCHKEY"),
    }
    return [
        ("the signed request", good, body),
        ("another body", good, b'{"Limit": 1}'),
        ("another target", other_target, body),
        ("a wrong secret", _signed(credentials, body, secret="not-the-secret"), body),
        ("a header list naming a missing header", no_host, body),
        ("another date", other_day, body),
        ("an unknown key", unknown_key, body),
        ("a signature over the user agent", _signed(credentials, body, signer=_SigningEveryHeader), body),
    ]


def test_every_refusal_is_moto_s_own(credentials: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    requests = _tampered(credentials)

    # Given what moto's own check answers each request (the first signed right, the others not)
    monkeypatch.setattr(moto_compat, "_signature_holds", lambda *args: False)
    expected = [_answer(credentials, headers, body) for _, headers, body in requests]
    monkeypatch.undo()

    # When the endpoint checks them from the request as it came
    answered = [_answer(credentials, headers, body) for _, headers, body in requests]

    # Then every answer is the same: the signed request is answered, every other one refused as moto refuses it
    assert answered == expected
    assert "TableNames" in answered[0][1]
    assert all(status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body for status, body in answered[1:6])
    assert answered[6][0] == 403 and b"<Code>InvalidClientTokenId</Code>" in answered[6][1]
    assert answered[7][0] == 403 and b"<Code>SignatureDoesNotMatch</Code>" in answered[7][1]
