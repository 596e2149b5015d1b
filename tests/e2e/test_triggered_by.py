"""`triggered_by`: the native API shows through what each deployment was triggered, whichever dialect made it."""

from __future__ import annotations

from collections.abc import Callable

from tests.e2e.conftest import Api
from tests.support.git import GitRepo


def test_each_dialect_records_itself_as_the_trigger(
    org_api: Callable[..., Api], git_repo: Callable[..., GitRepo]
) -> None:
    # Given a ledger project (no build command: deployments are recorded, nothing builds)
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "x"}, "v1")
    project = api.create_project(repo.path)
    pid = project["id"]

    # When a deployment is created through each API
    native = api.trigger(pid)["id"]
    github = api.github("POST", f"/repos/{api.org}/{project['slug']}/deployments", json={"ref": "main"}).json()["id"]
    body = {"environment": "production", "sha": sha, "ref": "main", "tag": False, "status": "running"}
    gitlab = api.gitlab("POST", f"/projects/{pid}/deployments", json=body).json()["id"]
    mintlify = api.session.post(f"{api.stack.api}/v1/project/update/{pid}", timeout=30).json()["statusId"]

    # Then the native API names each one's trigger
    triggered = {d: api.deployment(pid, int(d))["triggered_by"] for d in (native, github, gitlab, mintlify)}
    assert triggered == {native: "api", github: "github", gitlab: "gitlab", mintlify: "mintlify"}
