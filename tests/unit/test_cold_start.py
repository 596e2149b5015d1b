"""Cold start: importing the app creates no AWS client, makes no network call, and leaves the heavy
libraries to the requests and invocations that need them.

Each test imports the app in a fresh interpreter (this one has imported everything long ago), with
botocore's client creation and every socket connection made to fail loudly.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.infra.function_resources import KEY_VALUE_STORE_SIGNERS

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
        "asyncio",  # the webhook delivery worker's batches run on it
    ],
)
def test_heavy_libraries_wait_for_their_first_use(imported, heavy):
    assert heavy not in imported


def test_pydantic_waits_for_the_first_request_body(imported):
    assert "pydantic" not in imported


# The API function's package has no awscrt (it is a layer only the KeyValueStore signers get): botocore then
# signs with its own SigV4, and the app must neither need awscrt nor miss it.
WITHOUT_AWSCRT = """
import importlib.abc, json, sys


class NoAwscrt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("awscrt", "_awscrt"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoAwscrt())

import boto3
from chalice.test import Client

import app


class Sent(Exception):
    pass


def stop(request, **_):
    raise Sent(request.headers["Authorization"].decode())


with Client(app.app) as client:
    health = client.http.get("/healthz")
dynamodb = boto3.session.Session(aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret").client(
    "dynamodb", region_name="us-east-1"
)
dynamodb.meta.events.register("before-send.dynamodb", stop)
try:
    dynamodb.get_item(TableName="deployments", Key={"pk": {"S": "x"}})
except Sent as sent:
    authorization = str(sent)
print(json.dumps({"status": health.status_code, "authorization": authorization.split(" ")[0],
                  "awscrt": "awscrt" in sys.modules}))
"""


def test_the_api_handler_imports_and_answers_without_awscrt() -> None:
    env = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
    result = subprocess.run([sys.executable, "-c", WITHOUT_AWSCRT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "status": 200,
        "authorization": "AWS4-HMAC-SHA256",
        "awscrt": False,
    }


def _handlers_calling(modules: set[str]) -> set[str]:
    """The handlers of app.py whose body names one of `modules` (imported there by their last name)."""
    tree = ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))
    names = {module.rsplit(".", 1)[1] for module in modules}
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any(isinstance(inner, ast.Name) and inner.id in names for inner in ast.walk(node))
    }


def _importers(module: str) -> set[str]:
    """The modules of chalicelib that import `module`, as `import module` or `from package import name`."""
    found = set()
    for path in (ROOT / "chalicelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            imported = {alias.name for alias in node.names} if isinstance(node, ast.Import) else set()
            if isinstance(node, ast.ImportFrom) and node.module:
                imported = {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
            if module in imported:
                found.add(".".join(path.relative_to(ROOT).with_suffix("").parts))
    return found


def test_the_awscrt_layer_goes_to_exactly_the_handlers_that_reach_the_keyvaluestore() -> None:
    # KeyValueStore calls are made by the adapter, which the route mirror alone uses
    assert _importers("chalicelib.adapters.key_value_store") == {"chalicelib.services.route_mirror"}
    mirror_users = _importers("chalicelib.services.route_mirror")
    assert mirror_users == {"chalicelib.workers.route_stream", "chalicelib.workers.scheduler"}
    assert _handlers_calling(mirror_users) == KEY_VALUE_STORE_SIGNERS
