"""Request bodies: strict types, unknown fields refused, slug and branch rules, slugify."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.services.inputs import DeploymentTrigger, ProjectCreate, ProjectUpdate, slugify


@pytest.fixture
def project_body() -> Callable[..., dict[str, Any]]:
    """A valid project creation body; keyword arguments override or add fields."""

    def make(**fields: Any) -> dict[str, Any]:
        return {"name": "My Site", "repo_url": "https://github.com/example/site.git", **fields}

    return make


def _failing_fields(model: Any, body: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    return {".".join(str(p) for p in error["loc"]) for error in raised.value.errors()}


def test_a_minimal_project_body_gets_the_documented_defaults(project_body: Callable[..., dict[str, Any]]) -> None:
    # When a body with only a name and a repository is parsed
    project = ProjectCreate.model_validate(project_body())

    # Then the defaults apply
    assert project.default_branch == "main"
    assert project.output_dir == "."
    assert project.build_command is None and project.slug is None and project.build_timeout_seconds is None


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", 123),
        ("build_timeout_seconds", "10"),
        ("build_timeout_seconds", 10.5),
        ("build_timeout_seconds", True),
        ("repo_url", ["https://github.com/example/site.git"]),
        ("build_command", 1),
    ],
)
def test_values_of_the_wrong_type_are_not_coerced(
    project_body: Callable[..., dict[str, Any]], field: str, value: Any
) -> None:
    # When a body carries a value of the wrong JSON type, Then that field is rejected
    assert _failing_fields(ProjectCreate, project_body(**{field: value})) == {field}


@pytest.mark.parametrize("timeout", [0, 3601])
def test_build_timeouts_outside_one_second_to_an_hour_are_rejected(
    project_body: Callable[..., dict[str, Any]], timeout: int
) -> None:
    assert _failing_fields(ProjectCreate, project_body(build_timeout_seconds=timeout)) == {"build_timeout_seconds"}


@pytest.mark.parametrize("model", [ProjectCreate, ProjectUpdate, DeploymentTrigger])
def test_unknown_fields_are_rejected(model: Any, project_body: Callable[..., dict[str, Any]]) -> None:
    # Given a body with a misspelt field
    body = project_body(buildCommand="npm run build") if model is ProjectCreate else {"buildCommand": "x"}

    # When it is parsed, Then the unknown field is named
    assert _failing_fields(model, body) == {"buildCommand"}


@pytest.mark.parametrize("slug", ["Bad Slug", "a--b", "-a", "a-", "UPPER", "a_b", "", "x" * 41])
def test_bad_slugs_are_rejected(project_body: Callable[..., dict[str, Any]], slug: str) -> None:
    assert _failing_fields(ProjectCreate, project_body(slug=slug)) == {"slug"}


@pytest.mark.parametrize("slug", ["a", "my-site", "site2", "a-b-c", "x" * 40])
def test_good_slugs_are_accepted(project_body: Callable[..., dict[str, Any]], slug: str) -> None:
    assert ProjectCreate.model_validate(project_body(slug=slug)).slug == slug


@pytest.mark.parametrize("branch", ["a..b", " x", "x ", "has space", "a~1", "a^", "a:b", "a?", "a*", "a[b", "a\\b", ""])
def test_bad_branch_names_are_rejected(project_body: Callable[..., dict[str, Any]], branch: str) -> None:
    # When a project or a deployment names an impossible branch, Then the branch field is rejected
    assert _failing_fields(ProjectCreate, project_body(default_branch=branch)) == {"default_branch"}
    assert _failing_fields(DeploymentTrigger, {"branch": branch}) == {"branch"}


@pytest.mark.parametrize("branch", ["main", "feature/login", "release-1.2", "v2_beta"])
def test_ordinary_branch_names_are_accepted(branch: str) -> None:
    assert DeploymentTrigger.model_validate({"branch": branch}).branch == branch


@pytest.mark.parametrize(
    "name, slug",
    [
        ("My Site!!", "my-site"),
        ("!!!", "project"),
        ("", "project"),
        ("  Hello   World  ", "hello-world"),
        ("Café 2024", "caf-2024"),
        ("a" * 39 + " b", "a" * 39),
    ],
)
def test_slugify_turns_names_into_valid_slugs(name: str, slug: str) -> None:
    # When a project name is slugified
    result = slugify(name)

    # Then the slug is the expected one, and is itself accepted as a slug
    assert result == slug
    assert ProjectCreate.model_validate({"name": name or "x", "repo_url": "/r", "slug": result}).slug == result


BRANCH_SAMPLES = [
    "main",
    "feature/login",
    "release-1.2",
    "ünïcode",
    " main",
    "main ",
    "a b",
    "a..b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "a\tb",
    "a\nb",
    "a\x7fb",
    "\u3000main",
    "main\u00a0",
    ".hidden",
    "a.b",
]
TEXT_SAMPLES = ["plain", "tab\there", "line\nbreak", "cr\rhere", "nul\x00", "esc\x1b[0m", "del\x7f", "ünï"]


@pytest.mark.parametrize("value", BRANCH_SAMPLES)
def test_the_documented_branch_pattern_accepts_exactly_what_the_validator_accepts(value: str) -> None:
    import re

    # Given the pattern the OpenAPI document states for a branch
    pattern = DeploymentTrigger.model_json_schema()["properties"]["branch"]["anyOf"][0]["pattern"]

    # When the model and the pattern judge the same branch name
    accepted = _accepts(DeploymentTrigger, {"branch": value})

    # Then they agree
    assert (re.search(pattern, value) is not None) == accepted, value


@pytest.mark.parametrize("value", TEXT_SAMPLES)
def test_the_documented_text_patterns_accept_exactly_what_the_validators_accept(value: str) -> None:
    import re

    # Given a name (no control character) and a build command (free text: tab, LF and CR allowed)
    properties = ProjectUpdate.model_json_schema()["properties"]
    name_pattern = properties["name"]["pattern"]
    command_pattern = properties["build_command"]["anyOf"][0]["pattern"]

    # When the model and the patterns judge the same text
    # Then they agree
    assert (re.search(name_pattern, value) is not None) == _accepts(ProjectUpdate, {"name": value}), value
    assert (re.search(command_pattern, value) is not None) == _accepts(ProjectUpdate, {"build_command": value}), value


def test_fields_that_cannot_be_cleared_are_not_nullable_in_the_schema() -> None:
    # Given the schema of a project update
    properties = ProjectUpdate.model_json_schema()["properties"]

    # Then a field the service refuses to clear says so, and one it clears takes null
    assert properties["name"]["type"] == "string" and "anyOf" not in properties["name"]
    assert {"type": "null"} in properties["build_command"]["anyOf"]


def _accepts(model: Any, body: dict[str, Any]) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


def test_an_integral_number_is_an_integer_as_json_schema_says() -> None:
    # Given bodies whose integers are written with a fraction of zero, or a real fraction
    whole = ProjectUpdate.model_validate({"build_timeout_seconds": 600.0, "preview_ttl_hours": 24.0})

    # Then 600.0 is 600 (JSON Schema's "integer", the document's, takes it), 1.5, "600" and true stay refused
    assert (whole.build_timeout_seconds, whole.preview_ttl_hours) == (600, 24)
    assert type(whole.build_timeout_seconds) is int
    for refused in (1.5, "600", True, 1e300):
        assert not _accepts(ProjectUpdate, {"build_timeout_seconds": refused}), refused


HEALTH_CHECK_PATHS = [
    "/",
    "/health",
    "/healthz?full=1",
    "/ünï/état",
    "/a/b/c.json",
    "",
    "health",
    "//evil.example/health",
    "/a b",
    "/health ",
    "/a\tb",
    "/a\nb",
    "/a\x00",
    "/a\x7f",
    "/a\x85",
    "/a\u00a0",
    "/a\u2028",
    "/a\u3000",
    "/a\ufeff",
    "/" + "a" * 1023,
]


@pytest.mark.parametrize("value", HEALTH_CHECK_PATHS)
def test_the_documented_health_check_path_pattern_accepts_exactly_what_the_validator_accepts(value: str) -> None:
    import re

    # Given the pattern the OpenAPI document states for a project's health check path
    pattern = ProjectCreate.model_json_schema()["properties"]["health_check_path"]["pattern"]

    # When the model and the pattern judge the same path
    accepted = _accepts(ProjectUpdate, {"health_check_path": value})

    # Then they agree
    assert (re.search(pattern, value) is not None) == accepted, repr(value)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("health", 'must start with "/"'),
        ("//evil.example/health", 'must not start with "//"'),
        ("/a b", "whitespace or control characters (U+0020 found)"),
        ("/a\x1b[0m", "whitespace or control characters (U+001B found)"),
        ("/a\u3000", "whitespace or control characters (U+3000 found)"),
        ("/" + "a" * 1024, "at most 1024 characters"),
        (True, "valid string"),
    ],
)
def test_a_bad_health_check_path_is_refused_naming_the_field_and_why(
    project_body: Callable[..., dict[str, Any]], value: Any, says: str
) -> None:
    # When a project is created, or changed, with a health check path that is no path from the deployment's root
    for model, body in (
        (ProjectCreate, project_body(health_check_path=value)),
        (ProjectUpdate, {"health_check_path": value}),
    ):
        with pytest.raises(ValidationError) as raised:
            model.model_validate(body)

        # Then that field alone is refused, saying why
        errors = raised.value.errors()
        assert [e["loc"] for e in errors] == [("health_check_path",)]
        assert says in errors[0]["msg"]


def test_health_check_path_and_auto_rollback_default_to_the_root_and_on(
    project_body: Callable[..., dict[str, Any]],
) -> None:
    # When a project is created without them, Then its health check is GET / and production rolls back automatically
    project = ProjectCreate.model_validate(project_body())
    assert (project.health_check_path, project.auto_rollback) == ("/", True)

    # And an update that names neither changes neither
    assert ProjectUpdate.model_validate({"name": "x"}).model_dump(exclude_unset=True) == {"name": "x"}


@pytest.mark.parametrize("value", ["true", 1, 0, "false", None])
def test_auto_rollback_is_a_json_boolean(project_body: Callable[..., dict[str, Any]], value: Any) -> None:
    # When auto_rollback is anything but true or false, Then it is refused on create (null included: it has a default)
    assert _failing_fields(ProjectCreate, project_body(auto_rollback=value)) == {"auto_rollback"}
    # ... and on update, where null is the service's to refuse (it cannot be cleared), as the schema says
    if value is not None:
        assert _failing_fields(ProjectUpdate, {"auto_rollback": value}) == {"auto_rollback"}
    assert ProjectUpdate.model_json_schema()["properties"]["auto_rollback"] == {
        "title": "Auto Rollback",
        "type": "boolean",
    }
