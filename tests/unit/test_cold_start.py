"""Cold start: importing the app creates no AWS client, makes no network call, and leaves the heavy
libraries to the requests and invocations that need them.

Each test imports the app in a fresh interpreter (this one has imported everything long ago), with
botocore's client creation and every socket connection made to fail loudly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import json, socket, sys

import botocore.session


def refuse(*args, **kwargs):
    raise AssertionError("importing the app made an AWS client or opened a connection")


botocore.session.Session.create_client = refuse
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

import app

print(json.dumps(sorted(sys.modules)))
"""


def modules_after_importing_the_app() -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
    result = subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def imported() -> set[str]:
    return modules_after_importing_the_app()


def test_importing_the_app_makes_no_client_and_no_connection(imported):
    # The child fails if either happens; the app's routes and handlers are all there
    assert "app" in imported


@pytest.mark.parametrize(
    "heavy",
    [
        "boto3",  # clients are made on first use (chalicelib.aws); PynamoDB needs botocore only
        "aws_xray_sdk",  # the Tracer is made on Lambda's first invocation
        "dulwich",  # git operations import it
        "aws_lambda_powertools.utilities.batch",  # the SQS consumers import it
        "chalicelib.services.inputs",  # request models: views that validate a body import them
    ],
)
def test_heavy_libraries_wait_for_their_first_use(imported, heavy):
    assert heavy not in imported


def test_pydantic_waits_for_the_first_request_body(imported):
    assert "pydantic" not in imported
