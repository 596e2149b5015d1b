"""The local endpoint reads a plain request header block without email's parser
(chalicelib.local.moto_compat.read_request_headers_quickly): the message it makes is the one the parser makes, on
plain blocks and on blocks it leaves to the parser; and only the endpoint's own request reading takes that way."""

from __future__ import annotations

import http.client
import io
import random
from typing import Any

import pytest

from chalicelib.local import moto_compat


def _both(block: bytes) -> tuple[Any, Any]:
    own = moto_compat._own_parse_headers or http.client.parse_headers
    lines = http.client._read_headers(io.BytesIO(block))  # type: ignore[attr-defined]
    return own(io.BytesIO(block)), moto_compat._headers_of(lines, http.client.HTTPMessage)


def _seen(message: Any) -> tuple[Any, ...]:
    names = {name.lower() for name in message.keys()}
    return (
        message.items(),
        {name: message.get_all(name) for name in names},
        message.get_payload(),
        [type(defect) for defect in message.defects],
        message.get_content_type(),
        message.get("content-length"),
    )


_PLAIN = [
    b"Host: 127.0.0.1:5000\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\nContent-Length: 12\r\n\r\n",
    b"Host: a\r\nX-Dup: 1\r\nx-dup:  two  \r\nEmpty:\r\nColon: a:b:c\r\nTab:\tv\r\n\r\n",
    b"Content-Type: application/x-amz-json-1.0; charset=utf-8\r\nConnection: close\r\n\r\n",
    b"A: 1\nB: 2\n\n",  # bare line feeds
    b"\r\n",  # no headers at all
]
_NOT_PLAIN = [
    b"Folded: one\r\n  two\r\nNext: 3\r\n\r\n",  # an obsolete folded line
    b"Bad Name: 1\r\nOk: 2\r\n\r\n",  # a space in the name
    b"NoColon\r\nOk: 2\r\n\r\n",
    b": no name\r\n\r\n",
    b"From someone\r\nOk: 1\r\n\r\n",
    b"Caf\xe9: 1\r\nX: caf\xe9\r\n\r\n",  # bytes past ASCII
]


@pytest.mark.parametrize("block", _PLAIN + _NOT_PLAIN)
def test_the_message_is_the_parser_s(block: bytes) -> None:
    own, quick = _both(block)
    assert _seen(quick) == _seen(own)


def test_random_plain_blocks_read_as_the_parser_reads_them() -> None:
    rng = random.Random(14)
    names = ["Host", "X-Amz-Date", "Authorization", "Content-Length", "x-amz-target", "amz-sdk-request", "Accept"]
    values = ["", " ", "a", " padded ", "a=b; c=d", "AWS4-HMAC-SHA256 Credential=x/y, Signature=0", "1\t2", "é"]
    for _ in range(300):
        lines = [f"{rng.choice(names)}:{rng.choice(values)}" for _ in range(rng.randint(0, 8))]
        block = ("\r\n".join(lines) + "\r\n\r\n" if lines else "\r\n").encode("latin-1")
        own, quick = _both(block)
        assert _seen(quick) == _seen(own), block


def test_only_the_endpoint_s_request_reading_takes_the_quick_way(monkeypatch: pytest.MonkeyPatch) -> None:
    moto_compat.read_request_headers_quickly()
    moto_compat.read_request_headers_quickly()  # idempotent
    parsed: list[str] = []
    monkeypatch.setattr(
        moto_compat,
        "_headers_of",
        lambda lines, cls: parsed.append("quick") or moto_compat._own_parse_headers(io.BytesIO(b"".join(lines))),  # noqa: E501
    )
    block = b"Host: a\r\n\r\n"
    assert http.client.parse_headers(io.BytesIO(block)).get("Host") == "a"  # anyone else: email's parser
    assert parsed == []
    moto_compat._reading_local_headers.active = True
    try:
        http.client.parse_headers(io.BytesIO(block))
    finally:
        moto_compat._reading_local_headers.active = False
    assert parsed == ["quick"]


def test_botocore_reads_its_answers_the_quick_way_and_gets_the_same_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import boto3

    # Given a loopback endpoint answering every call with a few headers, one of them twice
    class Answer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            body = b'{"TableNames": []}'
            self.send_response(200)
            for name, value in (("Content-Type", "application/x-amz-json-1.0"), ("X-Dup", "1"), ("x-dup", " two")):
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        dynamodb = boto3.session.Session().client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
            region_name="us-east-1",
            aws_access_key_id="a",
            aws_secret_access_key="b",
        )
        email_way = dynamodb.list_tables()["ResponseMetadata"]["HTTPHeaders"]

        # When botocore's sends read their answers quickly
        moto_compat.read_answer_headers_quickly()
        moto_compat.read_answer_headers_quickly()  # idempotent
        parsed: list[str] = []
        quick = moto_compat._headers_of
        monkeypatch.setattr(moto_compat, "_headers_of", lambda lines, cls: parsed.append("quick") or quick(lines, cls))
        quick_way = dynamodb.list_tables()["ResponseMetadata"]["HTTPHeaders"]
    finally:
        server.shutdown()
        server.server_close()

    # Then the answer's block took the quick way, botocore saw the same headers, and the thread reads the next
    # block (not botocore's) with email's parser again
    assert parsed == ["quick"]

    def shown(headers: dict[str, str]) -> dict[str, str]:
        return {name: value for name, value in headers.items() if name != "date"}  # the two calls' seconds differ

    assert shown(quick_way) == shown(email_way) and quick_way["x-dup"] == "1, two"
    assert not getattr(moto_compat._reading_local_headers, "active", False)
