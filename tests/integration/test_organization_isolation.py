"""Tenancy: an organization can neither see nor touch another organization's projects and deployments."""

from __future__ import annotations

import threading

import pytest
import requests

from chalicelib.errors import AlreadyExists, NotFound
from chalicelib.models.project import ProjectRepository
from chalicelib.services import deployments, organizations, projects
from chalicelib.services.inputs import ProjectCreate, ProjectUpdate


def test_another_organizations_project_is_indistinguishable_from_none(
    stack, org_factory, repo_factory, project_factory, pipeline
):
    # Given organization A with a live deployment, and organization B with a project of its own
    owner, intruder = org_factory(), org_factory()
    repo = repo_factory()
    theirs = int(project_factory(owner.slug, repo).project.id)
    live = int(pipeline.deploy(owner.slug, theirs).id)
    ours = int(project_factory(intruder.slug, repo).project.id)

    # When B addresses A's project and deployment by id, through B's slug
    attempts = {
        "get project": lambda: ProjectRepository.get(intruder.slug, theirs),
        "view project": lambda: projects.get(intruder.slug, theirs),
        "update project": lambda: projects.update(intruder.slug, theirs, ProjectUpdate(name="mine now")),
        "delete project": lambda: projects.delete(intruder.slug, theirs),
        "list deployments": lambda: deployments.list_page(intruder.slug, theirs, 1, 10),
        "trigger": lambda: deployments.trigger(intruder.slug, theirs, None, "intruder"),
        "view": lambda: deployments.view(intruder.slug, theirs, live),
        "view through own project": lambda: deployments.view(intruder.slug, ours, live),
        "cancel": lambda: deployments.cancel(intruder.slug, theirs, live),
        "cancel through own project": lambda: deployments.cancel(intruder.slug, ours, live),
        "rollback": lambda: deployments.rollback(intruder.slug, theirs, live),
        "rollback through own project": lambda: deployments.rollback(intruder.slug, ours, live),
        "logs": lambda: deployments.logs(intruder.slug, theirs, live),
        "logs through own project": lambda: deployments.logs(intruder.slug, ours, live),
    }

    # Then every call is NotFound, worded as for an id that does not exist at all
    for name, attempt in attempts.items():
        with pytest.raises(NotFound) as caught:
            attempt()
        assert str(theirs) in caught.value.message or str(live) in caught.value.message, name
    with pytest.raises(NotFound) as missing:
        projects.get(intruder.slug, 10**9)
    with pytest.raises(NotFound) as foreign:
        projects.get(intruder.slug, theirs)
    assert foreign.value.message == missing.value.message.replace(str(10**9), str(theirs))

    # And A's project and deployment are untouched
    view = projects.get(owner.slug, theirs)
    assert view.project.name != "mine now" and view.active_deployment_id == live
    assert deployments.view(owner.slug, theirs, live).deployment.status == "deployed"
    assert [int(v.deployment.id) for v in deployments.list_page(owner.slug, theirs, 1, 10).items] == [live]

    # And over HTTP, B's key gets the same 404 for A's project as for a missing one
    token = organizations.create_key(intruder.slug, "ci", None).token
    headers = {"Authorization": f"Bearer {token}"}
    for path in (f"/projects/{theirs}", f"/projects/{theirs}/deployments", f"/projects/{ours}/deployments/{live}"):
        response = requests.get(f"{stack.api_url}/api/v1/public{path}", headers=headers, timeout=10)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_only_one_of_many_concurrent_creates_gets_a_slug(org_factory, repo_factory):
    # Given an organization, and eight clients about to register the same slug at once
    org, other = org_factory(), org_factory()
    repo = repo_factory()
    barrier = threading.Barrier(8)
    outcomes: list[object] = []

    def create() -> None:
        barrier.wait()
        try:
            outcomes.append(projects.create(org.slug, ProjectCreate(name="Docs", slug="docs", repo_url=repo.url)))
        except Exception as exc:  # judged below
            outcomes.append(exc)

    # When they all try
    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then exactly one succeeds, and the other seven are told the slug is taken
    created = [o for o in outcomes if isinstance(o, projects.ProjectView)]
    refused = [o for o in outcomes if isinstance(o, AlreadyExists)]
    assert (len(created), len(refused)) == (1, 7), outcomes
    assert all(e.field == "slug" for e in refused)
    assert [(p.project.slug, p.project.id) for p in projects.list_all(org.slug)] == [("docs", created[0].project.id)]

    # And the same slug is free in another organization
    elsewhere = projects.create(other.slug, ProjectCreate(name="Docs", slug="docs", repo_url=repo.url))
    assert elsewhere.project.slug == "docs" and elsewhere.project.id != created[0].project.id
