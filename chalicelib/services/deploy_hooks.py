"""Deploy hooks (Vercel's deploy hooks, Netlify's build hooks): a secret URL that CMSs and cron jobs call, without
any other credential, to deploy the head of one branch of a project.

The URL's secret (`dh_` + 256 random bits) is shown once, when the hook is made; only its SHA-256 is stored, and a
call finds its hook by that digest alone, one read whether or not a hook has it. Calls made while the hook's last
deployment has not started building collapse into it: one deployment, the same job. The first call to start a job
claims it with a conditional write on the hook; a call that finds a job being started waits for its deployment.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.adapters import git
from chalicelib.errors import Conflict, NotFound, Unprocessable
from chalicelib.models.attributes import utc_now
from chalicelib.models.deploy_hook import DeployHook, DeployHookRepository
from chalicelib.models.deployment import DeploymentRepository
from chalicelib.models.project import ProjectRepository
from chalicelib.services import deployments
from chalicelib.services.deployments import DeploymentSpec, DeploymentView
from chalicelib.services.deployments.queries import active_id
from chalicelib.vocabulary import Status

if TYPE_CHECKING:
    from chalicelib.services.inputs import DeployHookCreate

SECRET_PREFIX = "dh_"
HOOK_PATH = "/api/v1/hooks/deploy/"
MASK = "*" * 16
TRIGGERED_BY_PREFIX = "deploy_hook:"
# How long a call waits for another call of the same hook to record the deployment it is starting, and after how
# long such a start counts as abandoned (its caller crashed between the claim and the deployment).
WAIT_FOR_JOB = timedelta(seconds=30)
ABANDONED_AFTER = timedelta(seconds=60)
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class IssuedHook:
    """A hook and its secret in the clear: only the answer that creates it shows it."""

    hook: DeployHook
    secret: str


@dataclass(frozen=True)
class HookRun:
    """What a call of a hook did: started a job (`started`) or joined the current one; the job's deployment."""

    job_id: str
    job_created_at: datetime
    deployment: DeploymentView
    started: bool


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def hook_url(api_url: str, secret: str | None) -> str:
    """The hook's URL under the API's base URL; masked when the secret is not known (every answer but the first)."""
    return f"{api_url.rstrip('/')}{HOOK_PATH}{secret if secret is not None else MASK}"


def create(org_slug: str, project_id: int, body: DeployHookCreate) -> IssuedHook:
    """A hook deploying `body.branch` (the project's default branch when absent), which must exist now."""
    project = ProjectRepository.get(org_slug, project_id)
    branch = body.branch or project.default_branch
    commit = git.resolve(project.repo_url, branch)
    if commit.ref_type != "branch":
        raise Unprocessable(f"'{branch}' is not a branch of {git.display_url(project.repo_url)}", field="branch")
    secret = new_secret()
    hook = DeployHook(digest=digest(secret), org_slug=org_slug, project_id=project.id, name=body.name, branch=branch)
    return IssuedHook(DeployHookRepository.create(hook), secret)


def list_all(org_slug: str, project_id: int) -> list[DeployHook]:
    project = ProjectRepository.get(org_slug, project_id)
    return [h for h in DeployHookRepository.of_project(project.id) if h.org_slug == org_slug]


def delete(org_slug: str, project_id: int, hook_id: int) -> None:
    """Remove the hook: its URL answers 404 from the next call on."""
    for hook in list_all(org_slug, project_id):
        if hook.id == hook_id:
            DeployHookRepository.delete(hook)
            return
    raise NotFound(f"deploy hook {hook_id} not found in project {project_id}")


def _unknown() -> NotFound:
    # One answer for a secret no hook has, a deleted hook and a hook whose project is gone.
    return NotFound("deploy hook not found")


def find(secret: str) -> DeployHook:
    """The live hook of a URL's secret. The secret is only ever hashed and looked up by its digest, so the
    work done (one consistent GetItem) is the same whether a hook has it or not."""
    hook = DeployHookRepository.find(digest(secret))
    if hook is None:
        raise _unknown()
    return hook


def _joined(hook: DeployHook, waited_for: str | None) -> HookRun | None:
    """The hook's current job, if this call joins it: its deployment has not started building, or this call
    waited while another call was starting it."""
    if hook.job_id is None or hook.job_created_at is None or hook.job_deployment_id is None:
        return None
    deployment = DeploymentRepository.find(hook.job_deployment_id)
    if deployment is None or (hook.job_id != waited_for and deployment.status != Status.QUEUED):
        return None
    view = DeploymentView(deployment, active_id(deployment.project_id, deployment.environment) == deployment.id)
    return HookRun(hook.job_id, hook.job_created_at, view, started=False)


def _being_started(hook: DeployHook, now: datetime) -> bool:
    """Another call claimed the hook's job and is creating its deployment (and has not been at it too long)."""
    claimed_at = hook.job_created_at
    return (
        hook.job_id is not None
        and hook.job_deployment_id is None
        and claimed_at is not None
        and (now - claimed_at < ABANDONED_AFTER)
    )


def call(hook: DeployHook, title: str | None = None) -> HookRun:
    """Deploy the hook's branch head now, or join its current job while that job's deployment has not started
    building (still queued). `title` (Netlify's trigger_title) becomes the new deployment's description."""
    deadline = time.monotonic() + WAIT_FOR_JOB.total_seconds()
    waited_for: str | None = None
    while True:
        current = DeployHookRepository.find(hook.digest)
        if current is None or current.id != hook.id:
            raise _unknown()
        now = utc_now()
        if _being_started(current, now):
            # This call joins that job once its deployment is recorded, whatever the deployment's state by then.
            if time.monotonic() > deadline:
                raise Conflict("another call of this deploy hook is still starting its deployment; retry shortly")
            waited_for = current.job_id
            time.sleep(POLL_SECONDS)
            continue
        joined = _joined(current, waited_for)
        if joined is not None:
            return joined
        job_id = secrets.token_urlsafe(15)
        if not DeployHookRepository.claim_job(current, job_id, now):
            continue  # another call claimed first: read what it started
        return _start(current, job_id, now, title)


def _start(hook: DeployHook, job_id: str, now: datetime, title: str | None) -> HookRun:
    spec = DeploymentSpec(
        triggered_by=f"{TRIGGERED_BY_PREFIX}{hook.name}",
        ref=hook.branch,
        creator=f"deploy-hook:{hook.id}",
        description=title,
    )
    try:
        view = deployments.create(hook.org_slug, hook.project_id, spec)
    except NotFound as exc:  # the project is gone: the hook is gone with it
        DeployHookRepository.abandon_job(hook.digest, job_id)
        raise _unknown() from exc
    except BaseException:
        DeployHookRepository.abandon_job(hook.digest, job_id)
        raise
    DeployHookRepository.record_job_deployment(hook.digest, job_id, view.deployment.id)
    return HookRun(job_id, now, view, started=True)
