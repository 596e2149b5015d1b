"""Every botocore session deployd makes, PynamoDB's included, reads botocore's model and endpoint files through one
shared loader, so a second client or connection does not parse them again (chalicelib.aws, chalicelib.models.base)."""

from __future__ import annotations

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
