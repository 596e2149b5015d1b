"""Reading one deployment, a page or a log (services/deployments/queries.py) reads the project, the deployment and
production together (models/project_reads.py): each deployment still says whether its own environment serves it,
and the project still decides who may see it."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.errors import NotFound
from chalicelib.models.api_key import ApiKeyRepository
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import PRODUCTION, Environment
from chalicelib.models.project import Project
from chalicelib.services import auth, deployments
from chalicelib.vocabulary import Status

PREVIEW = "preview/feature-x"


def _project(project_id: int, org_slug: str, deployment_count: int) -> None:
    Project(
        id=project_id,
        org_slug=org_slug,
        slug=f"site-{project_id}",
        name=f"site {project_id}",
        repo_url="https://example.com/site.git",
        default_branch="main",
        output_dir="dist",
        build_timeout_seconds=600,
        deployment_seq=deployment_count,
        deployment_count=deployment_count,
    ).save()


def _deployment(deployment_id: int, project_id: int, seq: int, environment: str, org_slug: str = "acme") -> None:
    Deployment(
        id=deployment_id,
        project_id=project_id,
        seq=seq,
        org_slug=org_slug,
        environment=environment,
        branch="main",
        commit_sha="0" * 40,
        status=Status.DEPLOYED,
    ).save()


@pytest.fixture
def site(tables: None) -> None:
    """Project 1 of acme: deployments 10 (production, served), 11 (production, superseded) and 12 (a preview,
    served by its branch's environment); project 2 of globex with deployment 20."""
    _project(1, "acme", 3)
    _project(2, "globex", 1)
    for seq, (deployment_id, environment) in enumerate(((10, PRODUCTION), (11, PRODUCTION), (12, PREVIEW)), 1):
        _deployment(deployment_id, 1, seq, environment)
    _deployment(20, 2, 1, PRODUCTION, "globex")
    Environment(project_id=1, name=PRODUCTION, active_deployment_id=10).save()
    Environment(project_id=1, name=PREVIEW, active_deployment_id=12).save()


def test_each_deployment_says_whether_its_own_environment_serves_it(site: None) -> None:
    # When each deployment of the project is read, alone and in a page
    alone = {d: deployments.view("acme", 1, d).is_active for d in (10, 11, 12)}
    page = deployments.list_page("acme", 1, 1, 10)

    # Then production's served one and the preview's served one are active, the superseded one is not
    assert alone == {10: True, 11: False, 12: True}
    # And a page marks what production serves
    assert {v.deployment.id: v.is_active for v in page.items} == {10: True, 11: False, 12: False}


def test_a_project_without_a_production_environment_serves_nothing(tables: None) -> None:
    # Given a project whose only deployment has never been activated
    _project(3, "acme", 1)
    _deployment(30, 3, 1, PRODUCTION)

    # Then reading it finds it, inactive
    assert deployments.view("acme", 3, 30).is_active is False
    assert [v.is_active for v in deployments.list_page("acme", 3, 1, 10).items] == [False]


@pytest.mark.parametrize(
    "org_slug, project_id, deployment_id",
    [
        ("globex", 1, 10),  # another organization's project
        ("acme", 2, 20),  # acme asks for globex's project by id
        ("acme", 1, 20),  # a deployment of another project, under acme's project
        ("acme", 1, 99),  # no such deployment
        ("acme", 9, 10),  # no such project
    ],
)
def test_what_the_caller_may_not_see_is_not_found(
    site: None, org_slug: str, project_id: int, deployment_id: int
) -> None:
    with pytest.raises(NotFound):
        deployments.view(org_slug, project_id, deployment_id)
    with pytest.raises(NotFound):
        deployments.logs(org_slug, project_id, deployment_id)


def test_a_deleted_projects_kept_deployments_are_not_found(site: None) -> None:
    # Given the project is deleted while its deployments' records are kept
    Project.get(1).delete()

    # Then none of them is shown, nor a page of them
    for deployment_id in (10, 11, 12):
        with pytest.raises(NotFound):
            deployments.view("acme", 1, deployment_id)
    with pytest.raises(NotFound):
        deployments.list_page("acme", 1, 1, 10)


# Over HTTP: GET deployment, a page and a log declare their reads (api/native.py), and admission reads them in the
# same BatchGetItem as the caller's key. The key still decides first: nothing read beside it is shown to a caller
# whose key is revoked, tampered with, of another organization or without the scope.

READING_PATHS = (
    "/api/v1/public/projects/1/deployments/10",
    "/api/v1/public/projects/1/deployments?page=1",
    "/api/v1/public/projects/1/deployments/10/logs",
)


def _get(path: str, token: str) -> Any:
    from chalice.test import Client

    from app import app

    with Client(app) as api:
        return api.http.get(path, headers={"Authorization": f"Bearer {token}"})


def _key(org_slug: str = "acme", scopes: list[str] | None = None) -> auth.IssuedKey:
    return auth.issue_key(org_slug, "ci", list(auth.SCOPES) if scopes is None else scopes, "pro")


def test_a_deployment_is_read_with_the_callers_key_in_one_round_trip_and_counted_after(site: None) -> None:
    from bench.api_calls import counted

    token = _key().token

    # When acme's key reads its production deployment
    with counted() as calls:
        response = _get(READING_PATHS[0], token)

    # Then it is shown as production's served deployment, after one read and the count
    assert response.status_code == 200, response.body
    assert response.json_body["data"]["id"] == 10
    assert [name for name, _ in calls] == ["dynamodb.BatchGetItem", "dynamodb.UpdateItem"]
    assert response.headers["x-ratelimit-used"] == "1"


@pytest.mark.parametrize("path", READING_PATHS)
def test_a_revoked_or_tampered_key_reads_nothing(site: None, path: str) -> None:
    revoked, tampered = _key(), _key()
    ApiKeyRepository.revoke("acme", revoked.key.key_id)
    forged = tampered.token[:-1] + ("y" if not tampered.token.endswith("y") else "z")

    for token in (revoked.token, forged):
        response = _get(path, token)
        assert response.status_code == 401, response.body
        assert response.json_body["error"]["code"] == "unauthenticated"
        assert "site" not in response.body.decode()


@pytest.mark.parametrize("path", READING_PATHS)
def test_another_organizations_key_finds_nothing(site: None, path: str) -> None:
    response = _get(path, _key("globex").token)

    assert response.status_code == 404, response.body
    assert response.json_body["error"]["code"] == "not_found"


@pytest.mark.parametrize("path", READING_PATHS)
def test_a_key_without_the_scope_is_refused_before_it_is_counted(site: None, path: str) -> None:
    refused = _get(path, _key(scopes=["projects:read"]).token)

    assert refused.status_code == 403, refused.body
    # The organization's next request is its first counted
    assert _get(path, _key().token).headers["x-ratelimit-used"] == "1"


def test_over_the_limit_is_the_answer_before_not_found(site: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.services import rate_limits

    monkeypatch.setitem(rate_limits.LIMITS["pro"], "api", 1)
    token = _key().token
    assert _get(READING_PATHS[0], token).status_code == 200

    # When the next request asks for a deployment that is not there
    response = _get("/api/v1/public/projects/1/deployments/99", token)

    # Then it is refused for the limit, counted
    assert response.status_code == 429, response.body
    assert response.headers["x-ratelimit-used"] == "1" and response.headers["x-ratelimit-remaining"] == "0"


def test_a_path_that_names_no_id_is_not_found_once_the_key_is_admitted(site: None) -> None:
    token = _key().token
    revoked = _key()
    ApiKeyRepository.revoke("acme", revoked.key.key_id)

    for path in ("/api/v1/public/projects/x/deployments/10", "/api/v1/public/projects/1/deployments/ten/logs"):
        assert _get(path, revoked.token).status_code == 401
        assert _get(path, token).status_code == 404
