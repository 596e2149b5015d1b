"""Reading one deployment, a page or a log (services/deployments/queries.py) reads the project, the deployment and
production together (models/project_reads.py): each deployment still says whether its own environment serves it,
and the project still decides who may see it."""

from __future__ import annotations

import pytest

from chalicelib.errors import NotFound
from chalicelib.models.deployment import Deployment
from chalicelib.models.environment import PRODUCTION, Environment
from chalicelib.models.project import Project
from chalicelib.services import deployments
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
