"""The embedded stack's local AWS endpoint keeps connections open between requests, as AWS does
(chalicelib.local.moto_compat.LocalAwsServer): botocore's pool reuses one connection for many calls, a body the
application leaves unread does not spill into the next request, a body framed in chunks still closes the connection,
and a stopped server answers no one, not even on a connection it kept."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator

import boto3
import pytest

from chalicelib.local.moto_compat import LocalAwsServer
from chalicelib.local.stack import free_port


@pytest.fixture
def server() -> Iterator[LocalAwsServer]:
    server = LocalAwsServer("127.0.0.1", free_port())
    server.start()
    yield server
    server.stop()


def _dynamodb(server: LocalAwsServer) -> object:
    return boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{server.port}",
        region_name="us-east-1",
        aws_access_key_id="keep-alive",
        aws_secret_access_key="keep-alive",
    )


def _list_tables(port: int) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/", body=b"{}", headers=_LIST_TABLES)
    return connection, connection.getresponse()


_LIST_TABLES = {
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": "AWS4-HMAC-SHA256 Credential=keep-alive/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=0",
}


def test_botocore_calls_share_one_connection(server: LocalAwsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a DynamoDB client of the local endpoint
    dynamodb = _dynamodb(server)
    connects: list[object] = []
    connect = socket.socket.connect

    def counted(self: socket.socket, address: object) -> None:
        connects.append(address)
        connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", counted)

    # When it makes twenty calls one after another
    for _ in range(20):
        assert "TableNames" in dynamodb.list_tables()  # type: ignore[attr-defined]

    # Then they went over one connection
    assert len(connects) == 1


def test_a_body_left_unread_does_not_become_the_next_request(server: LocalAwsServer) -> None:
    # Given a connection whose first request's body the endpoint never reads (moto's control API is refused)
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", "/moto-api/reset", body=b"GET /moto-api/ HTTP/1.1\r\n\r\n")
    refused = connection.getresponse()
    assert refused.status == 403 and not refused.will_close
    refused.read()
    first_socket = connection.sock

    # When a second request follows on the same connection
    connection.request("POST", "/", body=b"{}", headers=_LIST_TABLES)
    answered = connection.getresponse()

    # Then it is answered as itself, over the same connection
    assert connection.sock is first_socket
    assert answered.status == 200 and b"TableNames" in answered.read()


def test_a_chunked_body_or_a_request_to_close_ends_the_connection(server: LocalAwsServer) -> None:
    # Given a request whose body comes in chunks, and one that asks to close
    chunked = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    chunked.request("POST", "/", body=iter([b"{", b"}"]), headers=_LIST_TABLES, encode_chunked=True)
    closing = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    closing.request("POST", "/", body=b"{}", headers={**_LIST_TABLES, "Connection": "close"})

    # When they are answered
    answers = [chunked.getresponse(), closing.getresponse()]

    # Then each answer closes its connection, as werkzeug's server always did
    for answer in answers:
        assert answer.status == 200 and b"TableNames" in answer.read()
        assert answer.getheader("Connection") == "close"


def test_a_stopped_server_cuts_the_connections_it_kept() -> None:
    # Given a connection the endpoint kept open
    server = LocalAwsServer("127.0.0.1", free_port())
    server.start()
    connection, answer = _list_tables(server.port)
    assert answer.status == 200 and not answer.will_close
    answer.read()

    # When the server stops
    server.stop()

    # Then the kept connection answers nothing more
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        connection.request("POST", "/", body=b"{}", headers=_LIST_TABLES)
        connection.getresponse()
