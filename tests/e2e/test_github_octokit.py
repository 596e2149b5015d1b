"""octokit (@octokit/rest, pinned in tests/e2e/octokit, installed by npm ci into a temporary directory)
against the GitHub dialect."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.e2e.conftest import Api, RunningStack
from tests.support.git import GitRepo

OCTOKIT_PACKAGE = Path(__file__).parent / "octokit"

SCRIPT = """
import { Octokit } from "@octokit/rest";
const [baseUrl, token, owner, repo] = process.argv.slice(2);
const octokit = new Octokit({ baseUrl, auth: token });
const created = await octokit.rest.repos.createDeployment({
  owner, repo, ref: "main", environment: "staging", payload: { from: "octokit" }, required_contexts: [],
});
const status = await octokit.rest.repos.createDeploymentStatus({
  owner, repo, deployment_id: created.data.id, state: "success", log_url: "https://ci.example/octokit",
});
const listed = await octokit.rest.repos.listDeployments({ owner, repo, environment: "staging" });
let refused = null;
try {
  await octokit.rest.repos.createDeploymentStatus({ owner, repo, deployment_id: created.data.id, state: "bogus" });
} catch (error) {
  refused = { status: error.status, body: error.response.data };
}
console.log(JSON.stringify({
  created: created.status, sha: created.data.sha, payload: created.data.payload,
  status: status.data.state, target_url: status.data.target_url,
  listed: listed.data.map((d) => d.id), limit: listed.headers["x-ratelimit-limit"], refused,
}));
"""


def test_octokit_creates_and_lists_deployments(
    stack: RunningStack, org_api: Callable[..., Api], git_repo: Callable[..., GitRepo], tmp_path: Path
) -> None:
    # Given octokit in a scratch directory and a ledger project
    npm = shutil.which("npm")
    assert npm, "npm is needed for the octokit test"
    for name in ("package.json", "package-lock.json"):  # pinned, so every run installs the same octokit
        shutil.copy(OCTOKIT_PACKAGE / name, tmp_path / name)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=tmp_path, check=True, timeout=120)
    (tmp_path / "client.mjs").write_text(SCRIPT)
    api = org_api()
    repo = git_repo()
    sha = repo.commit({"index.html": "one"}, "v1")
    project = api.create_project(repo.path)

    # When octokit creates a deployment and a status, lists, and posts a bad state
    run = subprocess.run(
        ["node", "client.mjs", f"{stack.api}/api/v3", api.token, api.org, project["slug"]],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)

    # Then it sees GitHub's behaviour
    assert result["created"] == 201 and result["sha"] == sha and result["payload"] == {"from": "octokit"}
    assert result["status"] == "success" and result["target_url"] == "https://ci.example/octokit"
    assert len(result["listed"]) == 1 and result["limit"] == "5000"
    assert result["refused"]["status"] == 422
    assert result["refused"]["body"]["errors"][0]["field"] == "state"
