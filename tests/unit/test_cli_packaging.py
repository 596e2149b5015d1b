"""The command line's packaging and its client's rate-limit handling: what needs no embedded stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import import_module
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _requirements(name: str) -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


def test_pip_install_gives_the_deployd_script_whose_pins_are_requirements_cli() -> None:
    # Given the project's metadata
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())

    # Then `deployd` is a console script naming the CLI's entry point
    module, _, function = project["project"]["scripts"]["deployd"].partition(":")
    assert callable(getattr(import_module(module), function))
    # And its dependencies are read from requirements-cli.txt, every one pinned, which the dev requirements include
    assert project["tool"]["setuptools"]["dynamic"]["dependencies"]["file"] == ["requirements-cli.txt"]
    pins = _requirements("requirements-cli.txt")
    assert pins and all("==" in pin for pin in pins)
    assert "-r requirements-cli.txt" in _requirements("requirements-dev.txt")
    # And none of them goes into the Lambda package (requirements.txt)
    lambda_names = {line.split("==")[0].lower() for line in _requirements("requirements.txt")}
    assert not lambda_names & {"click", "rich", "requests"}


class _Limited(BaseHTTPRequestHandler):
    """Answers 429 with Retry-After: 1 once, then the whoami object."""

    calls: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.calls.append(self.headers.get("Authorization", ""))
        limited = len(self.calls) == 1
        body = (
            {"error": {"code": "rate_limited", "message": "rate limit of the api bucket exceeded"}}
            if limited
            else {"data": {"org": "acme", "key_id": "k1", "scopes": ["projects:read"]}}
        )
        payload = json.dumps(body).encode()
        self.send_response(429 if limited else 200)
        if limited:
            self.send_header("Retry-After", "1")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def limited_api() -> Iterator[str]:
    _Limited.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Limited)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _deployd(api: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEPLOYD_API_URL": api, "DEPLOYD_TOKEN": "dpl_test", "XDG_CONFIG_HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "deployd_cli", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )


def test_a_rate_limited_request_waits_for_retry_after_only_when_asked(limited_api: str, tmp_path: Path) -> None:
    # When the API answers 429 and the CLI was not asked to wait
    refused = _deployd(limited_api, "whoami", tmp_path=tmp_path)

    # Then it says so in one line, with when to retry and how to wait instead
    assert refused.returncode == 1
    assert refused.stderr == (
        "deployd: HTTP 429: rate limited: rate limit of the api bucket exceeded; retry in 1 s, "
        "or pass --wait-on-limit\n"
    )

    # When it is asked to wait
    _Limited.calls = []
    waited = _deployd(limited_api, "whoami", "--json", "--wait-on-limit", tmp_path=tmp_path)

    # Then it waits as Retry-After says, tells stderr, and the retried request's object is all stdout holds
    assert waited.returncode == 0, waited.stderr
    assert "waiting 1 s" in waited.stderr
    assert json.loads(waited.stdout)["org"] == "acme"
    assert _Limited.calls == ["Bearer dpl_test", "Bearer dpl_test"]
