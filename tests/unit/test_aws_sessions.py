"""Every botocore session deployd makes, PynamoDB's included, reads botocore's model and endpoint files through one
shared loader, so a second client or connection does not parse them again (chalicelib.aws, chalicelib.models.base)."""

from __future__ import annotations

from typing import Any

from pynamodb.connection import Connection

from chalicelib import aws
from chalicelib.models import base  # noqa: F401  (points PynamoDB's session factory at chalicelib.aws)


def test_sessions_of_clients_and_of_pynamodb_share_one_loader_that_parses_each_file_once() -> None:
    shared = aws._loader()
    assert aws.botocore_session().get_component("data_loader") is shared
    assert Connection(region="us-east-1").session.get_component("data_loader") is shared

    # A model parsed for one session is not parsed again for the next
    first = aws.botocore_session().get_service_model("sqs")
    second = aws.botocore_session().get_service_model("sqs")
    assert first._service_description is second._service_description


def test_clients_and_pynamodb_send_deployd_s_fixed_user_agent() -> None:
    # Given a client made here (each request would otherwise rebuild botocore's header), answered without a network
    from botocore.awsrequest import AWSResponse

    sqs = aws.botocore_session().create_client("sqs", region_name="us-east-1")
    sent: list[str] = []  # the header as sent (bytes once prepared)

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append(request.headers["User-Agent"].decode())
        return AWSResponse(request.url, 200, {}, _Body(b'{"QueueUrls": []}'))

    sqs.meta.events.register("before-send", answer)

    # When it makes a request
    sqs.list_queues()

    # Then the request carries the fixed header, and PynamoDB's client is configured alike
    assert len(sent) == 1 and sent[0].startswith("deployd botocore/")
    assert Connection(region="us-east-1").client.meta.config.user_agent.startswith("deployd botocore/")


class _Body:
    """A raw HTTP body as botocore's AWSResponse reads it."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> list[bytes]:
        return [self.body]
