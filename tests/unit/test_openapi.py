"""The OpenAPI document is made from the route table that serves requests: it is a valid OpenAPI 3.1 document,
it lacks no route of a documented dialect, and its schemas are those of the models that validate the bodies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from chalicelib.api import openapi_document as openapi
from chalicelib.api.dialect import Dialect

FUZZ_MODULE = "tests/e2e/test_openapi_fuzz.py"

SERVER = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.document(SERVER)


def _app_routes() -> list[tuple[str, str, str]]:
    from app import app
    from chalicelib.api.dialect import DECLARED_BY

    return [
        (method, path, getattr(entry.view_function, DECLARED_BY))
        for path, methods in app.routes.items()
        for method, entry in methods.items()
    ]


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    # When openapi-spec-validator reads the document
    validate(document)

    # Then it is OpenAPI 3.1, served from the API's own URL
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": SERVER}]


def test_every_route_of_a_documented_dialect_is_in_the_document(document: dict[str, Any]) -> None:
    # Given every route the app serves
    routes = _app_routes()
    documented = {d.name for d in openapi.DOCUMENTED_DIALECTS}

    # When each is looked up in the document
    missing = [
        f"{method} {path}"
        for method, path, dialect in routes
        if dialect in documented and method.lower() not in document["paths"].get(path, {})
    ]
    undecided = sorted({dialect for _, _, dialect in routes} - documented - openapi.FOREIGN_DIALECTS)

    # Then none is missing, and a new dialect must be documented or named as another vendor's contract
    assert missing == []
    assert undecided == []
    assert {"/api/v1/public/projects", "/api/v1/admin/orgs", "/api/v1/openapi.json"} <= set(document["paths"])


def test_a_route_added_to_a_documented_dialect_appears_in_the_document() -> None:
    # Given a dialect in the document and a route declared on it
    from chalicelib.api.renderers import NATIVE

    extra = Dialect("extra", "/api/v1/extra", NATIVE, lambda request, meter, scope: None, bucket=None)
    before = openapi.DOCUMENTED_DIALECTS

    @extra.route("/things/{project_id}", methods=["GET", "DELETE"], scope=None, answers={204: None})
    def things(caller: Any, project_id: str) -> Any:
        """Things."""

    # When the document is made with it
    openapi.DOCUMENTED_DIALECTS = (*before, extra)
    try:
        paths = openapi.document.__wrapped__(SERVER)["paths"]
    finally:
        openapi.DOCUMENTED_DIALECTS = before

    # Then both of its methods are operations, with the 404 its path parameter can answer and the 415 of a
    # Content-Type it does not read
    assert set(paths["/api/v1/extra/things/{project_id}"]) == {"get", "delete"}
    assert set(paths["/api/v1/extra/things/{project_id}"]["get"]["responses"]) == {"204", "404", "415"}


def test_request_bodies_are_the_models_that_validate_them(document: dict[str, Any]) -> None:
    from chalicelib.services.inputs import ProjectCreate

    # Given the operation that creates a project
    create = document["paths"]["/api/v1/public/projects"]["post"]
    schema = document["components"]["schemas"]["ProjectCreate"]

    # Then its body is ProjectCreate's own JSON Schema: unknown fields refused, limits stated
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProjectCreate"
    }
    assert schema == ProjectCreate.model_json_schema(ref_template="#/components/schemas/{model}")
    assert schema["additionalProperties"] is False
    assert schema["properties"]["name"]["maxLength"] == 100


def test_operations_state_scope_answers_and_errors_in_the_native_shape(document: dict[str, Any]) -> None:
    # Given the operation that triggers a deployment
    trigger = document["paths"]["/api/v1/public/projects/{project_id}/deployments"]["post"]

    # Then it names its scope, its success and every error it may answer, each in the native error shape
    assert trigger["security"] == [{"apiKey": ["deployments:write"]}]
    assert set(trigger["responses"]) == {"201", "400", "401", "403", "404", "409", "415", "422", "429"}
    for status in ("404", "415"):
        assert trigger["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    # ... and a deploy hook, which reads any Content-Type, never answers 415
    assert "415" not in document["paths"]["/api/v1/hooks/deploy/{secret}"]["post"]["responses"]
    error = document["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["code", "message"]
    assert set(error["properties"]) == {"code", "message", "field"}
    deployment = document["components"]["schemas"]["DeploymentJson"]
    assert deployment["additionalProperties"] is False
    assert deployment["properties"]["created_at"]["format"] == "date-time"
    assert "deployed" in deployment["properties"]["status"]["enum"]


def test_the_fuzz_test_has_one_case_per_operation_each_with_its_own_id(document: dict[str, Any]) -> None:
    # Given the operations the document states
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}

    # When the fuzz module is collected, as pytest-xdist's workers collect it
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", FUZZ_MODULE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )

    # Then each operation is a test of its own id (one id for all of them let xdist run a single one)
    ids = [line for line in collected.stdout.splitlines() if line.startswith(FUZZ_MODULE + "::")]
    assert len(ids) == len(set(ids)), collected.stdout[-2000:]
    fuzzed = {i.split("[", 1)[1].rstrip("]") for i in ids if "test_every_operation_holds_to_the_document[" in i}
    assert fuzzed == operations


def test_projects_state_their_promotion_settings_in_answers_and_bodies(document: dict[str, Any]) -> None:
    from chalicelib.services.inputs import HEALTH_CHECK_PATH_PATTERN

    # Given the schemas of a project's answer and of the bodies that create and change it
    schemas = document["components"]["schemas"]
    answer, create, update = schemas["ProjectJson"], schemas["ProjectCreate"], schemas["ProjectUpdate"]

    # Then every answer carries both settings, and both bodies take them with their rules and defaults
    assert {"health_check_path", "auto_rollback"} <= set(answer["required"])
    assert answer["properties"]["auto_rollback"]["type"] == "boolean"
    for body in (create, update):
        path = body["properties"]["health_check_path"]
        assert (path["type"], path["pattern"], path["maxLength"]) == ("string", HEALTH_CHECK_PATH_PATTERN, 1024)
        assert body["properties"]["auto_rollback"]["type"] == "boolean"
    assert (create["properties"]["health_check_path"]["default"], create["properties"]["auto_rollback"]["default"]) == (
        "/",
        True,
    )
