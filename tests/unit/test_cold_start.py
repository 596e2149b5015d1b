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

from chalicelib.infra.function_resources import API_HANDLER, KEY_VALUE_STORE_SIGNERS
from chalicelib.infra.functions import API_HANDLER_NAME

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import importlib, json, socket, sys

import botocore.session


def refuse(*args, **kwargs):
    raise AssertionError("importing the app made an AWS client or opened a connection")


botocore.session.Session.create_client = refuse
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

importlib.import_module(sys.argv[1])

print(json.dumps(sorted(sys.modules)))
"""


def modules_after_importing(module: str = "app") -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
    result = subprocess.run([sys.executable, "-c", CHILD, module], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def imported() -> set[str]:
    return modules_after_importing()


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


def _handler_modules() -> dict[str, str]:
    """Each function's handler module, as the packaged template names it (tests/unit/test_package.py checks that)."""
    import app

    modules = {API_HANDLER_NAME: API_HANDLER.rpartition(".")[0]}
    for source in (*app.app.event_sources, *app.app.pure_lambda_functions):
        modules[source.name] = source.handler_string.rpartition(".")[0]
    return modules


HANDLER_MODULES = _handler_modules()
SLACK = ("slack_sdk", "chalicelib.adapters.slack_", "chalicelib.services.slack_", "chalicelib.workers.slack_")
# What each function's cold start must not load, by module name prefix, beyond the rule for all of them: no
# other function's entry module, and for an event function none of the API's modules (its middleware aside).
MUST_NOT_LOAD = {
    API_HANDLER_NAME: (
        "chalicelib.workers.",  # the event functions' consumers
        "chalicelib.services.deployments",  # a view loads the services it calls, with its first request
        "chalicelib.adapters.runners",  # the build: running it, its sandbox, its git clone
        "chalicelib.adapters.sandbox",
        "chalicelib.adapters.git",
        "chalicelib.services.webhook",
        "chalicelib.services.statuses",  # and the GitLab dialect's parsing, with a GitLab request
        "chalicelib.api.gitlab_parsing",
        "dulwich",
        "pydantic",  # request bodies' models: the views that validate one import them
        "aws_lambda_powertools.utilities.batch",
        *SLACK,
        # Routes name their answers' types by string: the TypedDicts load with the OpenAPI document only
        "chalicelib.api.answers",
        "chalicelib.services.native_json",
        "typing_extensions",
        # Idempotency-Key's machinery loads with the first POST that carries one; a GET never loads it
        "chalicelib.api.idempotency",
        "chalicelib.services.idempotency",
        "chalicelib.adapters.idempotency_records",
        # ... the promotions' model with the first read that names a promotion (a GET of a deployment never does)
        "chalicelib.models.promotion",
        # ... the OpenAPI document's machinery with the first GET /openapi.json
        "chalicelib.api.openapi_document",
        # ... the thread pool's module with the pool, and secrets with the first key issued
        "concurrent.futures.thread",
        "secrets",
    ),
    "build_worker": (*SLACK, "chalicelib.services.webhook", "chalicelib.adapters.webhook_", "pydantic"),
    "activation_worker": (*SLACK, "chalicelib.services.webhook", "chalicelib.adapters.webhook_", "pydantic"),
    # a promotion's steps: health checks and transactions, never a build
    "promotion_worker": (
        *SLACK,
        "chalicelib.services.webhook",
        "chalicelib.adapters.webhook_",
        "chalicelib.adapters.runners",
        "dulwich",
        "pydantic",
    ),
}


@pytest.mark.parametrize("function", sorted(HANDLER_MODULES))
def test_each_function_s_cold_start_loads_only_what_it_serves(function: str) -> None:
    # Given the module Lambda imports for the function's handler
    entry = HANDLER_MODULES[function]

    # When a fresh interpreter imports it
    loaded = modules_after_importing(entry)

    # Then no other function's entry module came with it, nor the API's routes to an event function
    others = set(HANDLER_MODULES.values()) - {entry}
    assert loaded & others == set()
    if function != API_HANDLER_NAME:
        api = {m for m in loaded if m.startswith("chalicelib.api.")}
        assert api == {"chalicelib.api.middleware"}, "an event function loads the API's modules"
        assert "app" not in loaded
    # ... nor what its function never serves
    assert sorted(m for m in loaded if m.startswith(MUST_NOT_LOAD.get(function, ()))) == []
    # ... nor Powertools: its Logger is made with the first log line (observability._FirstUse), its metrics, tracer,
    # batch processing and idempotency with their first use
    assert sorted(m for m in loaded if m.startswith("aws_lambda_powertools")) == []


GENERATED = """
import dataclasses, importlib, json, sys

made = []
process_class = dataclasses._process_class


def recording(cls, *args, **kwargs):
    if cls.__module__.startswith("chalicelib"):
        made.append(f"{cls.__module__}.{cls.__qualname__}")
    return process_class(cls, *args, **kwargs)


dataclasses._process_class = recording
importlib.import_module(sys.argv[1])
print(json.dumps(made))
"""


def test_the_api_s_cold_start_makes_no_dataclass_of_its_own() -> None:
    # Given the API's entry module, imported by a fresh interpreter that records every dataclass deployd makes
    env = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
    entry = HANDLER_MODULES[API_HANDLER_NAME]
    result = subprocess.run([sys.executable, "-c", GENERATED, entry], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

    # Then none was made: a dataclass compiles its methods (six for a frozen one, ~0.6 ms) on every cold start, so
    # the edge's value types are NamedTuples, and the routes' declarations make no type at all
    assert json.loads(result.stdout.splitlines()[-1]) == []


NAMED_TUPLES = """
import importlib, json, sys, typing

annotated_by_strings = []
make = typing._make_nmtuple


def recording(name, types, module, *args, **kwargs):
    if module.startswith("chalicelib"):
        strings = [field for field, annotation in types if isinstance(annotation, str)]
        annotated_by_strings.extend(f"{module}.{name}.{field}" for field in strings)
    return make(name, types, module, *args, **kwargs)


typing._make_nmtuple = recording
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(annotated_by_strings)))
"""


def test_the_api_s_cold_start_makes_its_named_tuples_from_evaluated_annotations() -> None:
    # Given the API's entry module, imported by a fresh interpreter that records which of deployd's modules make a
    # NamedTuple's field annotated by a string (postponed annotations: `from __future__ import annotations`)
    env = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
    entry = HANDLER_MODULES[API_HANDLER_NAME]
    result = subprocess.run(
        [sys.executable, "-c", NAMED_TUPLES, entry], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr

    # Then only the edge's declarations (their fields name admission's types, which the edge may not import) and a
    # read's promotion (its model loads with the first read that names one) are: typing compiles each such string
    # when the class is made, so the resource catalogue, Settings and admission's value types, made by every cold
    # start, evaluate their annotations instead
    fields = json.loads(result.stdout.splitlines()[-1])
    outside_the_edge = [field for field in fields if not field.startswith("chalicelib.api.dialect.")]
    assert outside_the_edge == ["chalicelib.models.project_reads.ProjectRead.promotion"]


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


def _functions_importing(modules: set[str]) -> set[str]:
    """The functions whose entry module (chalicelib.functions.<function>) imports one of `modules`."""
    prefix = "chalicelib.functions."
    return {
        importer.removeprefix(prefix)
        for module in modules
        for importer in _importers(module)
        if importer.startswith(prefix)
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
    assert _functions_importing(mirror_users) == KEY_VALUE_STORE_SIGNERS


# An event function's handler as Lambda calls it, its entry module imported alone (app.py never is on Lambda):
# the blueprint was registered on no app, and still runs the middleware every entry point gets.
ALONE = """
import json, sys
import chalicelib.functions.route_sync as entry
from chalicelib.observability import logger
from chalicelib.workers import route_stream


def consume(event, context):
    logger.info("consumed")
    return {"batchItemFailures": []}


route_stream.consume = consume


class Context:
    function_name = "deployd-prod-route_sync"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:deployd-prod-route_sync"
    aws_request_id = "request-1"


print(json.dumps({"answer": entry.route_sync({"Records": []}, Context()), "app": "app" in sys.modules}))
"""


def test_an_event_function_imported_alone_runs_the_middleware_of_every_entry_point() -> None:
    env = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}
    result = subprocess.run([sys.executable, "-c", ALONE], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    *logged, answer = result.stdout.splitlines()
    assert json.loads(answer) == {"answer": {"batchItemFailures": []}, "app": False}
    (line,) = [json.loads(text) for text in logged if '"consumed"' in text]
    assert line["function_name"] == "deployd-prod-route_sync"
    assert line["function_request_id"] == "request-1"
    assert line["cold_start"] is True


READS = """
import json, sys
from chalicelib.services import deployments
from chalicelib.services.native_json import deployment_json

readers = (deployments.view, deployments.list_page, deployments.logs, deployments.DeploymentView)
print(json.dumps(sorted(sys.modules)))
"""


def test_reading_deployments_loads_neither_the_pipeline_s_start_nor_the_build() -> None:
    # Given what the API's GET views of deployments call (GET deployment, a list page, logs)
    env = {k: v for k, v in os.environ.items() if k != "LAMBDA_TASK_ROOT"}

    # When a fresh interpreter reaches them
    result = subprocess.run([sys.executable, "-c", READS], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.splitlines()[-1]))

    # Then a first GET pays for reading only: not for a trigger's git, the build's runners, activation's sites
    assert "chalicelib.services.deployments.queries" in loaded
    build = ("chalicelib.services.deployments.creation", "chalicelib.services.deployments.activation")
    build += ("chalicelib.adapters.git", "chalicelib.adapters.runners", "chalicelib.adapters.sandbox")
    assert sorted(m for m in loaded if m.startswith(build + ("chalicelib.adapters.sites", "dulwich"))) == []
