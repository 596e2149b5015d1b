"""The embedded site server (the stand-in for CloudFront) at its edges: what it redirects, what it refuses,
how it serves large files, and how many clients it answers at once. Sites are published as the pipeline
publishes them: objects under a deployment's prefix in the sites bucket and a route naming that prefix."""

from __future__ import annotations

import http.client
import socket
import tracemalloc
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
import requests

from chalicelib.local.stack import EmbeddedStack

Publish = Callable[[dict[str, bytes]], str]


@pytest.fixture
def publish(stack: EmbeddedStack) -> Publish:
    """Publishes files as a deployment's site under a fresh label; returns the label."""
    from chalicelib.adapters import sites
    from chalicelib.aws import client
    from chalicelib.infra.resources import SITES_BUCKET
    from chalicelib.models.route import Route
    from chalicelib.settings import get_settings

    def make(files: dict[str, bytes]) -> str:
        deployment_id = int(uuid.uuid4().int % 10**9) + 10**9
        prefix = sites.artifact_prefix(deployment_id)
        bucket = get_settings().resource_name(SITES_BUCKET.logical)
        for name, body in files.items():
            client("s3").put_object(Bucket=bucket, Key=prefix + name, Body=body, ContentType=sites.content_type(name))
        label = f"site-{uuid.uuid4().hex[:8]}--acme"
        Route(host=label, artifact_prefix=prefix, deployment_id=deployment_id, project_id=1).save()
        return label

    return make


def _raw_get(stack: EmbeddedStack, path: str, method: str = "GET") -> http.client.HTTPResponse:
    """The path sent exactly as written (requests would re-encode some of it)."""
    parts = urlsplit(stack.sites_url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_a_site_without_its_trailing_slash_is_redirected_to_itself_with_the_query_kept(
    stack: EmbeddedStack, publish: Publish
) -> None:
    # Given a published site
    label = publish({"index.html": b"<h1>home</h1>"})

    # When its label is requested without the trailing slash, with a query string
    response = _raw_get(stack, f"/{label}?utm=a%20b&x=\\y")

    # Then the answer is a permanent redirect to the same site, the query kept and percent-encoded
    assert response.status == 308
    assert response.getheader("Location") == f"/{label}/?utm=a%20b&x=%5Cy"


@pytest.mark.parametrize(
    "path",
    [
        "/evil%0d%0aSet-Cookie:%20session=stolen",  # header injection through a decoded label
        "/%5Cevil.example",  # Location: /\evil.example/ is an open redirect in browsers
        "/%5Cevil.example/",
        "/Site--Acme",  # labels are lowercase: no redirect to a case-folded site either
        "/nothing-here",  # well formed, but no site uses it
        "/%00",
        "/%ff%fe/",  # not UTF-8
    ],
)
def test_anything_but_a_known_label_is_a_404_that_echoes_nothing(stack: EmbeddedStack, path: str) -> None:
    # When a path whose first segment is not a published site's label is requested
    response = requests.get(stack.sites_url + path, allow_redirects=False, timeout=10)

    # Then it is a plain 404: no redirect, no header made from the request, nothing of it in the body
    assert response.status_code == 404
    assert "Location" not in response.headers and "Set-Cookie" not in response.headers
    assert response.text == "no site is served at this address\n"


@pytest.mark.parametrize("suffix", ["%00", "index%00.html", "a%0d%0ab", "%7f", "%1b[31m"])
def test_control_characters_in_a_sites_path_are_a_404_not_a_502(
    stack: EmbeddedStack, publish: Publish, suffix: str
) -> None:
    # Given a published site
    label = publish({"index.html": b"<h1>home</h1>"})

    # When a path of it carries a NUL or another control character
    response = requests.get(f"{stack.sites_url}/{label}/{suffix}", allow_redirects=False, timeout=10)

    # Then no file is named by it: 404, never the server failing
    assert response.status_code == 404


def test_a_large_file_is_streamed_whole_and_head_gives_its_length_without_a_body(
    stack: EmbeddedStack, publish: Publish
) -> None:
    # Given a site with a 24 MB file
    size = 24 * 1024 * 1024
    content = bytes(range(256)) * (size // 256)
    label = publish({"index.html": b"home", "big.bin": content})
    url = f"{stack.sites_url}/{label}/big.bin"

    # When it is downloaded, with allocations in this process (the site server's and moto's) traced
    tracemalloc.start()
    try:
        with requests.get(url, stream=True, timeout=30) as response:
            received = bytearray()
            for chunk in response.iter_content(256 * 1024):
                received += chunk
            tracemalloc.reset_peak()  # the client's own copy is not the server's doing
            _, before = tracemalloc.get_traced_memory()
        with requests.get(url, stream=True, timeout=30) as again:
            length = 0
            for chunk in again.iter_content(256 * 1024):
                length += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Then every byte arrives, with the object's length announced
    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(size)
    assert bytes(received) == content and length == size
    # And serving it never held a whole copy of the file: moto, in this process, holds the object and a
    # copy of it for its response (about 1.4 times its size); the site server adds chunks to that, not a file
    assert peak - before < 1.75 * size, f"serving {size} bytes peaked at {peak - before} bytes"

    # And HEAD announces the same length and sends no body
    head = requests.head(url, timeout=10)
    assert (head.status_code, head.headers["Content-Length"], head.content) == (200, str(size), b"")


def test_fifty_parallel_clients_are_all_answered_at_once(
    stack: EmbeddedStack, publish: Publish, burst: Callable[..., list[int | str]]
) -> None:
    # Given a published site
    label = publish({"index.html": b"<h1>home</h1>"})

    # When fifty clients connect at the same instant
    statuses = burst(f"{stack.sites_url}/{label}/")

    # Then every one of them is let in and gets the page: none waits on a full listen queue
    assert statuses == [200] * 50


def test_oversized_headers_get_a_short_text_answer_not_an_html_page(stack: EmbeddedStack) -> None:
    # When a request carries a header longer than the server reads
    parts = urlsplit(stack.sites_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk

    # Then the answer is 431 in plain text
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 431") or head.startswith(b"HTTP/1.1 431")
    assert b"text/plain" in head and b"<html" not in body.lower()


def test_a_method_sites_do_not_take_is_a_405_naming_get_and_head(stack: EmbeddedStack, publish: Publish) -> None:
    label = publish({"index.html": b"<h1>home</h1>"})
    response = requests.delete(f"{stack.sites_url}/{label}/", timeout=10)
    assert (response.status_code, response.headers["Allow"]) == (405, "GET, HEAD")
    assert response.headers["Content-Type"].startswith("text/plain") and "<html" not in response.text.lower()
