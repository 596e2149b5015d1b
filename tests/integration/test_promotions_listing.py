"""GET /projects/{id}/promotions and GET .../promotions/{promotion_id} over HTTP: newest first in pages with the
deployments list's meta, one environment's when asked, each promotion with its checks; the native 404 for what the
caller's organization does not own, the native 400 for paging and an environment filter out of bounds.

The promotions are written through the model, as the promotion flow records them (its own tests run it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from chalicelib.local.stack import EmbeddedStack
from chalicelib.models.promotion import (
    CANDIDATE,
    DEPLOY,
    REJECTED,
    ROLLBACK,
    SUCCEEDED,
    Check,
    Promotion,
    environment_key,
)
from chalicelib.models.registry import next_id

AT = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@dataclass
class Tenant:
    stack: EmbeddedStack
    org: str
    headers: dict[str, str]
    project_id: int

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> requests.Response:
        url = f"{self.stack.api_url}/api/v1/public/projects{path}"
        return requests.get(url, headers=headers or self.headers, params=params, timeout=30)


@pytest.fixture
def tenant(
    stack: EmbeddedStack, api_key: tuple[str, dict[str, str]], repo_factory: Any, project_factory: Any
) -> Tenant:
    org, headers = api_key
    project = project_factory(org, repo_factory(), build_command=None).project
    return Tenant(stack, org, headers, int(project.id))


def record(project_id: int, environment: str = "production", **fields: Any) -> Promotion:
    """A promotion as the flow leaves one that ended: a deploy of deployment 2 over 1 that succeeded by default."""
    promotion = Promotion(
        project_id=project_id,
        id=next_id("promotion"),
        environment=environment,
        environment_key=environment_key(project_id, environment),
        **{
            "from_deployment_id": 1,
            "to_deployment_id": 2,
            "reason": DEPLOY,
            "triggered_by": "api-key:k1",
            "status": SUCCEEDED,
            "created_at": AT,
            "updated_at": AT + timedelta(seconds=2),
            **fields,
        },
    )
    promotion.save()
    return promotion


def _ids(response: requests.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


def test_a_promotion_answers_what_it_switched_why_how_it_ended_and_each_check(tenant: Tenant) -> None:
    # Given a production promotion refused by its candidate check, and a first deploy of a preview
    checked = AT + timedelta(seconds=1)
    refused = record(
        tenant.project_id,
        from_deployment_id=41,
        to_deployment_id=42,
        status=REJECTED,
        error_message="GET /health on its deployment URL answered 404 (3 attempts)",
        finished_at=AT + timedelta(seconds=3),
        checks=[
            Check(
                target=CANDIDATE,
                url="http://d-42.example/health",
                attempts=3,
                status_code=404,
                served_by=42,
                ok=False,
                error="answered 404",
                checked_at=checked,
            )
        ],
    )
    first = record(tenant.project_id, "preview/feature", from_deployment_id=None, to_deployment_id=7, status="pending")

    # When each is asked for by id
    answer = tenant.get(f"/{tenant.project_id}/promotions/{refused.id}")
    pending = tenant.get(f"/{tenant.project_id}/promotions/{first.id}")

    # Then the answer is the promotion, its timestamps ISO 8601 in UTC, null where it has not got there yet
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "data": {
            "id": refused.id,
            "project_id": tenant.project_id,
            "environment": "production",
            "from_deployment_id": 41,
            "to_deployment_id": 42,
            "reason": "deploy",
            "triggered_by": "api-key:k1",
            "status": "rejected",
            "error_message": "GET /health on its deployment URL answered 404 (3 attempts)",
            "checks": [
                {
                    "target": "candidate",
                    "url": "http://d-42.example/health",
                    "attempts": 3,
                    "status_code": 404,
                    "served_by_deployment_id": 42,
                    "ok": False,
                    "error": "answered 404",
                    "checked_at": "2026-11-29T12:00:01+00:00",
                }
            ],
            "created_at": "2026-11-29T12:00:00+00:00",
            "updated_at": "2026-11-29T12:00:02+00:00",
            "switched_at": None,
            "finished_at": "2026-11-29T12:00:03+00:00",
        }
    }
    assert pending.status_code == 200, pending.text
    data = pending.json()["data"]
    assert (data["environment"], data["from_deployment_id"], data["status"]) == ("preview/feature", None, "pending")
    assert (data["checks"], data["switched_at"], data["finished_at"]) == ([], None, None)


def test_promotions_list_newest_first_in_pages_of_the_whole_project_or_one_environment(tenant: Tenant) -> None:
    # Given three production promotions and two of a preview, recorded in turn
    pid = tenant.project_id
    production = [record(pid, to_deployment_id=n).id for n in (1, 2, 3)]
    preview = [record(pid, "preview/feature", to_deployment_id=n).id for n in (4, 5)]
    production.append(record(pid, reason=ROLLBACK, to_deployment_id=1).id)
    newest_first = sorted(production + preview, reverse=True)

    # When the project's promotions are listed two to a page
    pages = [tenant.get(f"/{pid}/promotions", per_page=2, page=n) for n in (1, 2, 3, 4)]

    # Then the pages hold every promotion once, newest first, with the deployments list's meta
    assert [_ids(p) for p in pages] == [newest_first[0:2], newest_first[2:4], newest_first[4:6], []]
    assert [p.json()["meta"] for p in pages[::3]] == [
        {"page": 1, "per_page": 2, "total": 6, "total_pages": 3},
        {"page": 4, "per_page": 2, "total": 6, "total_pages": 3},
    ]
    assert _ids(tenant.get(f"/{pid}/promotions")) == newest_first
    assert tenant.get(f"/{pid}/promotions").json()["meta"] == {"page": 1, "per_page": 20, "total": 6, "total_pages": 1}

    # And an environment filter keeps that environment's, newest first; one the project never had lists nothing
    only = tenant.get(f"/{pid}/promotions", environment="production")
    assert _ids(only) == sorted(production, reverse=True)
    assert only.json()["meta"]["total"] == 4
    assert [p["reason"] for p in only.json()["data"]] == ["rollback", "deploy", "deploy", "deploy"]
    assert _ids(tenant.get(f"/{pid}/promotions", environment="preview/feature", per_page=1, page=2)) == [preview[0]]
    staging = tenant.get(f"/{pid}/promotions", environment="staging")
    assert (_ids(staging), staging.json()["meta"]["total_pages"]) == ([], 0)


def test_what_the_organization_does_not_own_or_that_does_not_exist_is_a_native_404(
    tenant: Tenant, org_factory: Callable[..., Any], repo_factory: Any, project_factory: Any
) -> None:
    from chalicelib.services import organizations

    # Given a promotion of the tenant's project, another project of the tenant, and another organization's key
    pid = tenant.project_id
    promotion = record(pid)
    other_project = int(project_factory(tenant.org, repo_factory("other"), build_command=None).project.id)
    intruder = org_factory()
    intruder_headers = {"Authorization": f"Bearer {organizations.create_key(intruder.slug, 'ci', None).token}"}

    # When promotions are asked for through the wrong project, organization or id
    missing = {
        "another organization's list": tenant.get(f"/{pid}/promotions", headers=intruder_headers),
        "another organization's promotion": tenant.get(f"/{pid}/promotions/{promotion.id}", headers=intruder_headers),
        "through another project": tenant.get(f"/{other_project}/promotions/{promotion.id}"),
        "an unknown promotion": tenant.get(f"/{pid}/promotions/{promotion.id + 10**6}"),
        "a promotion id that is no number": tenant.get(f"/{pid}/promotions/latest"),
        "an unknown project's list": tenant.get("/999999999/promotions"),
        "an unknown project's promotion": tenant.get(f"/999999999/promotions/{promotion.id}"),
    }

    # Then each is the native 404, naming nothing of what exists
    for name, response in missing.items():
        assert response.status_code == 404, (name, response.text)
        assert response.json()["error"]["code"] == "not_found", name
    foreign = missing["another organization's list"].json()["error"]["message"]
    unknown = missing["an unknown project's list"].json()["error"]["message"]
    assert (foreign, unknown) == (f"project {pid} not found", "project 999999999 not found")
    # And the other project lists none of the tenant's promotions
    assert _ids(tenant.get(f"/{other_project}/promotions")) == []


def test_a_key_without_deployments_read_is_refused(tenant: Tenant) -> None:
    from chalicelib.services import organizations

    # Given a key that may read projects but not deployments
    token = organizations.create_key(tenant.org, "projects only", ["projects:read"]).token

    # When it lists promotions, Then it is a 403 naming the scope it lacks
    response = tenant.get(f"/{tenant.project_id}/promotions", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403, response.text
    assert "deployments:read" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("page", "0"),
        ("page", "1000001"),
        ("page", "one"),
        ("per_page", "0"),
        ("per_page", "101"),
        ("per_page", "1.5"),
        ("environment", ""),
        ("environment", "x" * 256),
        ("environment", "production\x00"),
        ("environment", "preview/a\nb"),
    ],
)
def test_paging_or_an_environment_out_of_bounds_is_a_400_naming_it(tenant: Tenant, name: str, value: str) -> None:
    response = tenant.get(f"/{tenant.project_id}/promotions", **{name: value})
    assert response.status_code == 400, response.text
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == ("invalid_input", name)


@pytest.fixture
def deployd(tenant: Tenant, tmp_path: Any) -> Callable[..., Any]:
    """The `deployd` command line, run in this process, configured for the tenant's key as CI configures it."""
    from click.testing import CliRunner

    from deployd_cli.main import cli

    env = {
        "DEPLOYD_API_URL": tenant.stack.api_url,
        "DEPLOYD_TOKEN": tenant.headers["Authorization"].removeprefix("Bearer "),
        "XDG_CONFIG_HOME": str(tmp_path),
    }
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=True)

    return run


def test_the_cli_lists_and_shows_promotions_as_the_api_answers_them(
    tenant: Tenant, deployd: Callable[..., Any]
) -> None:
    from deployd_cli.errors import CliError

    # Given a refused production promotion and a preview's
    pid = tenant.project_id
    refused = record(
        pid,
        from_deployment_id=41,
        to_deployment_id=42,
        status=REJECTED,
        error_message="not promoted: GET /health answered 404 (3 attempts)",
        checks=[
            Check(
                target=CANDIDATE,
                url="http://d-42.example/health",
                attempts=3,
                status_code=404,
                served_by=42,
                ok=False,
                error="answered 404",
                checked_at=AT,
            )
        ],
    )
    preview = record(pid, "preview/feature", to_deployment_id=43)

    # When the promotions are listed (as JSON, of production; and as lines for a pipe), and one is shown
    as_json = deployd("promotions", "list", str(pid), "--environment", "production", "--json")
    lines = deployd("promotions", "list", str(pid))
    shown = deployd("promotions", "show", str(pid), str(refused.id))
    missing = deployd("promotions", "show", str(pid), str(preview.id + 10**6))

    # Then --json is the API's answer itself, a pipe gets one tab-separated line a promotion, newest first
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout) == tenant.get(f"/{pid}/promotions", environment="production").json()
    assert [line.split("\t")[:6] for line in lines.stdout.splitlines()] == [
        [str(preview.id), "preview/feature", "deploy", "succeeded", "1", "43"],
        [str(refused.id), "production", "deploy", "rejected", "41", "42"],
    ]
    # And `show` gives its fields and one line a check; an unknown id is the API's 404 in one line
    assert shown.exit_code == 0, shown.output
    assert ["status:", "rejected"] in [line.split() for line in shown.stdout.splitlines()]
    assert (
        "check candidate: GET http://d-42.example/health -> HTTP 404, served by deployment 42, 3 attempt(s), "
        "failed: answered 404"
    ) in shown.stdout
    assert isinstance(missing.exception, CliError)
    assert missing.exception.message == f"HTTP 404: promotion {preview.id + 10**6} not found in project {pid}"


def test_the_cli_creates_a_project_with_its_promotion_settings(deployd: Callable[..., Any], repo_factory: Any) -> None:
    # When a project is created with a health check path and without automatic rollback
    repo = repo_factory("checked").url
    options = "--health-check-path /healthz --no-auto-rollback --json".split()
    created = deployd("projects", "create", "checked", "--repo", repo, *options)

    # Then the project answers with both settings
    assert created.exit_code == 0, created.output
    project = json.loads(created.stdout)
    assert (project["health_check_path"], project["auto_rollback"]) == ("/healthz", False)
