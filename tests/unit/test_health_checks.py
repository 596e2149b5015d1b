"""The verifier a promotion uses: a pass is a 2xx that the intended deployment served, within a few attempts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.adapters import health_checks
from chalicelib.local.stack import free_port

# path -> the answers it gives, one per request, the last repeated: (status, serving deployment or None)
Script = dict[str, list[tuple[int, int | None]]]


@pytest.fixture
def site() -> Iterator[Callable[[Script], str]]:
    """A site on loopback answering each path from a script; returns its base URL."""
    script: Script = {}
    seen: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            answers = script.get(self.path, [(404, None)])
            index = seen.get(self.path, 0)
            seen[self.path] = index + 1
            status, served_by = answers[min(index, len(answers) - 1)]
            body = b"ok\n"
            self.send_response(status)
            if served_by is not None:
                self.send_header(health_checks.SERVED_BY_HEADER, str(served_by))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(given: Script) -> str:
        script.update(given)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    server.shutdown()
    server.server_close()


def test_a_2xx_from_the_intended_deployment_passes_at_once(site: Callable[[Script], str]) -> None:
    base = site({"/health": [(200, 7)]})
    result = health_checks.check(f"{base}/health", 7)
    assert (result.ok, result.attempts, result.status_code, result.served_by, result.error) == (True, 1, 200, 7, None)


def test_a_missing_file_fails_after_every_attempt_naming_the_status(site: Callable[[Script], str]) -> None:
    base = site({})
    result = health_checks.check(f"{base}/health", 7)
    assert (result.ok, result.attempts, result.status_code, result.error) == (False, 3, 404, "answered 404")


def test_a_2xx_served_by_another_deployment_is_not_a_pass(site: Callable[[Script], str]) -> None:
    base = site({"/": [(200, 6)], "/anonymous": [(200, None)]})
    other = health_checks.check(f"{base}/", 7)
    anonymous = health_checks.check(f"{base}/anonymous", 7)
    assert (other.ok, other.served_by, other.error) == (False, 6, "served by deployment 6")
    assert (anonymous.ok, anonymous.served_by, anonymous.error) == (False, None, "no deployment named itself")


def test_a_site_that_recovers_within_the_attempts_passes(site: Callable[[Script], str]) -> None:
    base = site({"/": [(503, None), (200, 7)]})
    result = health_checks.check(f"{base}/", 7)
    assert (result.ok, result.attempts, result.status_code) == (True, 2, 200)


def test_no_answer_at_all_is_a_failure_without_a_status() -> None:
    result = health_checks.check(f"http://127.0.0.1:{free_port()}/", 7, attempts=2)
    assert (result.ok, result.attempts, result.status_code) == (False, 2, None)
    assert result.error is not None and result.error.startswith("no answer: ")


def test_the_health_check_path_joins_the_site_url() -> None:
    assert health_checks.site_url("http://sites.example/d7--site/", "/health") == "http://sites.example/d7--site/health"
    assert health_checks.site_url("https://site.example/", "/") == "https://site.example/"


def test_an_object_that_names_its_deployment_in_its_s3_metadata_passes_as_on_aws(site: Callable[[Script], str]) -> None:
    # Given an answer naming its deployment the way S3 (through CloudFront) answers an object's metadata
    class MetadataHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            return

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header(health_checks.SERVED_BY_METADATA_HEADER, "7")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), MetadataHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = health_checks.check(f"http://127.0.0.1:{server.server_address[1]}/", 7)
    finally:
        server.shutdown()
        server.server_close()
    # Then it is the deployment that served it
    assert (result.ok, result.served_by) == (True, 7)


def test_every_artifact_names_its_deployment_in_its_metadata_and_nothing_else_does() -> None:
    from chalicelib.adapters import sites

    assert sites.artifact_metadata("deployments/42/") == {"deployd-deployment-id": "42"}
    assert sites.artifact_metadata("staging/abc/files/") == {}
