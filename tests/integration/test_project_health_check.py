"""A project's promotion settings over HTTP: `health_check_path` (what a promotion GETs to verify a deployment) and
`auto_rollback` (whether production refuses or reverts a deployment that fails it), set on create and update,
answered by every native project answer, and refused in the native format when they are not what they say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from chalicelib.local.stack import EmbeddedStack

PROJECTS = "/api/v1/public/projects"


@pytest.fixture
def call(stack: EmbeddedStack, api_key: tuple[str, dict[str, str]]) -> Callable[..., requests.Response]:
    """An HTTP call to the native API with a key of a fresh organization."""
    _, headers = api_key

    def send(method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{stack.api_url}{PROJECTS}{path}", headers=headers, timeout=30, **kwargs)

    return send


def _settings(project: dict[str, Any]) -> tuple[Any, Any]:
    return project["health_check_path"], project["auto_rollback"]


def test_the_settings_default_to_get_root_and_on_and_are_set_on_create_and_update(
    call: Callable[..., requests.Response], repo_factory: Any
) -> None:
    repo = repo_factory()

    # When a project is created without the settings, and another with them
    plain = call("POST", "", json={"name": "plain", "repo_url": repo.url})
    checked = call(
        "POST",
        "",
        json={"name": "checked", "repo_url": repo.url, "health_check_path": "/healthz", "auto_rollback": False},
    )

    # Then the first checks GET / and rolls back automatically, the second as asked
    assert plain.status_code == 201, plain.text
    assert checked.status_code == 201, checked.text
    assert _settings(plain.json()["data"]) == ("/", True)
    assert _settings(checked.json()["data"]) == ("/healthz", False)
    pid = plain.json()["data"]["id"]

    # When one setting is changed, Then only it changes, and every answer naming the project says so
    changed = call("PATCH", f"/{pid}", json={"health_check_path": "/status?deep=1"})
    assert changed.status_code == 200, changed.text
    assert _settings(changed.json()["data"]) == ("/status?deep=1", True)
    changed = call("PATCH", f"/{pid}", json={"auto_rollback": False})
    assert _settings(changed.json()["data"]) == ("/status?deep=1", False)
    assert _settings(call("GET", f"/{pid}").json()["data"]) == ("/status?deep=1", False)
    listed = {p["id"]: _settings(p) for p in call("GET", "").json()["data"]}
    assert listed == {pid: ("/status?deep=1", False), checked.json()["data"]["id"]: ("/healthz", False)}


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("health_check_path", "health", 'must start with "/"'),
        ("health_check_path", "https://example.com/health", 'must start with "/"'),
        ("health_check_path", "//evil.example/health", 'must not start with "//"'),
        ("health_check_path", "/health check", "whitespace or control characters"),
        ("health_check_path", "/health\r\nX-Injected: 1", "whitespace or control characters"),
        ("health_check_path", "/" + "a" * 1024, "at most 1024 characters"),
        ("health_check_path", None, ("valid string", "cannot be null")),
        ("health_check_path", 200, "valid string"),
        ("auto_rollback", "true", "valid boolean"),
        ("auto_rollback", 1, "valid boolean"),
        ("auto_rollback", None, ("valid boolean", "cannot be null")),
    ],
)
def test_a_bad_setting_is_a_400_naming_the_field_and_changes_nothing(
    call: Callable[..., requests.Response], repo_factory: Any, field: str, value: Any, says: str | tuple[str, str]
) -> None:
    # Given a project
    project = call("POST", "", json={"name": "site", "repo_url": repo_factory().url}).json()["data"]

    # When it is created, or updated, with a bad value of the setting
    created = call("POST", "", json={"name": "other", "repo_url": project["repo_url"], field: value})
    updated = call("PATCH", f"/{project['id']}", json={field: value})

    # Then each is the native 400 naming the field and saying why, and the project is as it was
    for response, why in zip((created, updated), (says, says) if isinstance(says, str) else says, strict=True):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert (error["code"], error["field"]) == ("invalid_input", field)
        assert why in error["message"], error
    assert _settings(call("GET", f"/{project['id']}").json()["data"]) == ("/", True)
    assert [p["name"] for p in call("GET", "").json()["data"]] == ["site"]
