"""Builds on CodeBuild, on moto: the production state machine executing in-process, the SQS handlers fed as
Lambda feeds them, CodeBuild's StartBuild and StopBuild, and completion through "CodeBuild Build State
Change" events of the documented shape (moto's CodeBuild runs nothing, so the test plays the build).

moto ignores most StartBuild parameters, so the requests are captured with a botocore hook on the very
client the runner uses. The build's uploads are played through the presigned POST the build was given, as
the buildspec's upload script sends them (that script itself runs in tests/unit/test_build_upload.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
import requests
from botocore.exceptions import ClientError

from app import app
from chalicelib.adapters import codebuild, executions, sites
from chalicelib.aws import client
from chalicelib.infra.build_upload import FILES, MANIFEST
from chalicelib.infra.buildspec import BUILD_VARIABLES, BUILDSPEC
from chalicelib.infra.resources import BUILD_PROJECT, PIPELINE, SITES_BUCKET, STAGING_PREFIX
from chalicelib.local.moto_compat import serialize_dynamodb
from chalicelib.local.provision import provision, state_machine_arn
from chalicelib.models.deployment import Deployment, DeploymentRepository
from chalicelib.models.environment import PRODUCTION, EnvironmentRepository
from chalicelib.models.route import Route
from chalicelib.services import deployments, organizations, previews, projects
from chalicelib.services.inputs import ProjectCreate
from chalicelib.settings import get_settings
from chalicelib.workers import consumers
from chalicelib.workers.activation_worker import handle_activation
from chalicelib.workers.build_state import handle_build_state
from chalicelib.workers.build_worker import handle_build
from tests.support.aws import MOCK_AWS_ENV, forget_aws_state
from tests.support.polling import wait_until
from tests.support.promotions import run_promotions_inline

T = TypeVar("T")
LOG_GROUP = "/deployd/test/builds"
ACCOUNT = "123456789012"


def _sqs_record(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:queue",
        "awsRegion": "us-east-1",
    }


def phases(failed: str | None = None, status: str = "FAILED", context: str = "", build_seconds: int = 42) -> list[dict]:
    """CodeBuild's phase list as its events carry it; a build that fails stops at the failed phase."""
    listed = []
    for name in ("SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD", "BUILD"):
        phase = {
            "phase-context": [],
            "start-time": "Sep 1, 2017 4:12:29 PM",
            "end-time": "Sep 1, 2017 4:13:29 PM",
            "duration-in-seconds": build_seconds if name == "BUILD" else 1,
            "phase-type": name,
            "phase-status": "SUCCEEDED",
        }
        listed.append(phase)
        if name == failed:
            phase.update({"phase-status": status, "phase-context": [context] if context else []})
            break
    else:
        for name in ("POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING"):
            listed.append({**listed[-1], "phase-type": name, "duration-in-seconds": 1})
    listed.append({"start-time": "Sep 1, 2017 4:14:26 PM", "phase-type": "COMPLETED"})
    return listed


def post_file(url: str, fields: dict[str, str], key: str, body: bytes) -> None:
    response = requests.post(url, data={**fields, "key": key}, files={"file": ("upload", body)}, timeout=10)
    assert response.status_code == 204, response.text


def describe(files: dict[str, bytes]) -> dict[str, Any]:
    """The manifest the upload script writes for these files."""
    entries = [{"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest()} for p, b in files.items()]
    return {
        "version": 1,
        "file_count": len(entries),
        "total_bytes": sum(len(b) for b in files.values()),
        "files": entries,
    }


def bucket_keys(prefix: str) -> dict[str, bytes]:
    s3 = client("s3")
    bucket = get_settings().resource_name(SITES_BUCKET.logical)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix) :]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


SITE_FILES = {
    "index.html": b"<h1>hello</h1>\n",
    "assets/app.js": b"console.log('hi')\n",
    "docs/a file with spaces & ümlauts.txt": b"spaces\n",
}


@dataclass
class Cloud:
    """moto's AWS with the catalogue provisioned, a CodeBuild project, and a driver for the pipeline."""

    queue_urls: dict[str, str]
    start_requests: list[dict[str, Any]] = field(default_factory=list)
    started_builds: list[dict[str, Any]] = field(default_factory=list)
    stop_requests: list[str] = field(default_factory=list)
    build_messages: list[str] = field(default_factory=list)

    # ---- feeding the handlers, as Lambda's event source mappings and EventBridge do ----

    def _deliver(self, logical: str, consume: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        sqs = client("sqs")
        url = self.queue_urls[logical]
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            if logical == "builds":
                self.build_messages.append(message["Body"])
            result = consume({"Records": [_sqs_record(message)]})
            if not result.get("batchItemFailures"):
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def pump(self, until: Callable[[], T], what: str, timeout: float = 20.0) -> T:
        """Run the pipeline's queue consumers until `until()` is truthy; fail the test at the deadline."""

        def delivered() -> T:
            self._deliver("activations", lambda event: consumers.consume(event, None, handle_activation))
            self._deliver("builds", lambda event: consumers.consume(event, None, handle_build))
            return until()

        return wait_until(delivered, timeout, interval=0.05, what=what)

    def redeliver_build_message(self, body: str) -> None:
        client("sqs").send_message(QueueUrl=self.queue_urls["builds"], MessageBody=body)

    def event(self, deployment_id: int, status: str, **info: Any) -> dict[str, Any]:
        """A "CodeBuild Build State Change" event of the build started for the deployment (documented shape)."""
        request = self.request_for(deployment_id)
        build = self.build_for(deployment_id)
        group = request["logsConfigOverride"]["cloudWatchLogs"]["groupName"]
        stream = f"{request['logsConfigOverride']['cloudWatchLogs']['streamName']}/{build['id'].split(':')[-1]}"
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "CodeBuild Build State Change",
            "source": "aws.codebuild",
            "account": ACCOUNT,
            "time": "2017-09-01T16:14:28Z",
            "region": "us-east-1",
            "resources": [build["arn"]],
            "detail": {
                "build-status": status,
                "project-name": request["projectName"],
                "build-id": build["arn"],
                "additional-information": {
                    "environment": {
                        "image": "aws/codebuild/amazonlinux-x86_64-standard:5.0",
                        "privileged-mode": False,
                        "compute-type": "BUILD_GENERAL1_SMALL",
                        "type": "LINUX_CONTAINER",
                        "environment-variables": request["environmentVariablesOverride"],
                    },
                    "timeout-in-minutes": request["timeoutInMinutesOverride"],
                    "build-complete": status != "IN_PROGRESS",
                    "initiator": "deployd-build-worker",
                    "build-start-time": "Sep 1, 2017 4:12:29 PM",
                    "source": {"type": "NO_SOURCE"},
                    "logs": {
                        "group-name": group,
                        "stream-name": stream,
                        "deep-link": f"https://console.aws.amazon.com/cloudwatch/home#logEvent:group={group}",
                    },
                    "phases": info.get("phases", phases()[:3] if status == "IN_PROGRESS" else phases()),
                },
                "current-phase": "SUBMITTED" if status == "IN_PROGRESS" else "COMPLETED",
                "current-phase-context": "[]",
                "version": "1",
            },
        }

    def send(self, event: dict[str, Any]) -> None:
        handle_build_state(codebuild.BuildStateChange.from_event(event))

    # ---- what the build uploads, through the presigned POST it was given ----

    def upload_target(self, deployment_id: int) -> tuple[str, dict[str, str], str]:
        variables = self.request_for(deployment_id)["variables"]
        fields = json.loads(variables["DEPLOYD_UPLOAD_FIELDS"])
        return variables["DEPLOYD_UPLOAD_URL"], fields, variables["DEPLOYD_UPLOAD_PREFIX"]

    def stage(self, deployment_id: int, files: dict[str, bytes], manifest: Any = "describe") -> None:
        """Upload as the buildspec's script does: each file through the build's POST, then the manifest."""
        url, fields, prefix = self.upload_target(deployment_id)
        for path, body in files.items():
            post_file(url, fields, prefix + FILES + path, body)
        if manifest == "describe":
            manifest = describe(files)
        if manifest is not None:
            post_file(url, fields, prefix + MANIFEST, json.dumps(manifest).encode())

    # ---- what the runner asked CodeBuild for ----

    def request_for(self, deployment_id: int) -> dict[str, Any]:
        return next(r for r in self.start_requests if r["variables"]["DEPLOYD_DEPLOYMENT_ID"] == str(deployment_id))

    def build_for(self, deployment_id: int) -> dict[str, Any]:
        index = self.start_requests.index(self.request_for(deployment_id))
        return self.started_builds[index]

    def wait_build_started(self, deployment_id: int) -> Deployment:
        return self.pump(
            lambda: (d := DeploymentRepository.get(deployment_id)).build_id and d,
            what=f"deployment {deployment_id} to record its CodeBuild build",
        )

    def wait_status(self, deployment_id: int, status: str) -> Deployment:
        return self.pump(
            lambda: (d := DeploymentRepository.get(deployment_id)).status == status and d,
            what=f"deployment {deployment_id} to become {status}",
        )

    def execution_status(self, deployment_id: int) -> str:
        arn = DeploymentRepository.get(deployment_id).execution_arn
        return str(client("stepfunctions").describe_execution(executionArn=arn)["status"])

    def wait_execution_end(self, deployment_id: int) -> str:
        return self.pump(
            lambda: (s := self.execution_status(deployment_id)) != "RUNNING" and s,
            what=f"the execution of deployment {deployment_id} to end",
        )

    def wind_down(self) -> None:
        """Answer every task a test left waiting, so no execution outlives moto's mock."""
        sfn = client("stepfunctions")
        arn = get_settings().state_machine_arn
        for _ in range(100):
            running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]
            if not running:
                return
            tokens = [d.task_token for d in Deployment.scan() if d.task_token]
            for url in self.queue_urls.values():
                for message in client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                    tokens.append(json.loads(message["Body"]).get("task_token"))
            for token in filter(None, tokens):
                executions.fail(token, "TestOver")
            time.sleep(0.1)


@pytest.fixture
def cloud(settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    from moto import mock_aws

    # Going live is a promotion (issue 16): run in the handler's thread here, its sites answering healthy.
    run_promotions_inline(monkeypatch)

    settings_env(
        **MOCK_AWS_ENV,
        DEPLOYD_BUILD_RUNNER="codebuild",
        DEPLOYD_BUILD_LOG_GROUP=LOG_GROUP,
        DEPLOYD_SITES_URL_TEMPLATE="https://{label}.sites.example/",
        DEPLOYD_STATE_MACHINE_ARN=None,
    )
    settings_env(DEPLOYD_STATE_MACHINE_ARN=state_machine_arn(get_settings(), PIPELINE.logical))
    forget_aws_state()
    serialize_dynamodb()  # the state machine writes from moto's executor thread while the test writes
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            settings = get_settings()
            queue_urls = provision(
                {name: client(name) for name in ("dynamodb", "sqs", "s3", "stepfunctions", "kms")}, settings
            )
            build = client("codebuild")
            build.create_project(
                name=settings.resource_name(BUILD_PROJECT.logical),
                source={"type": "NO_SOURCE", "buildspec": BUILDSPEC, "location": "none"},  # moto insists on one
                artifacts={"type": "NO_ARTIFACTS"},
                environment={
                    "type": "LINUX_CONTAINER",
                    "image": BUILD_PROJECT.image,
                    "computeType": BUILD_PROJECT.compute_type,
                },
                serviceRole=f"arn:aws:iam::{ACCOUNT}:role/deployd-build",
            )
            client("logs").create_log_group(logGroupName=LOG_GROUP)
            harness = Cloud(queue_urls)

            def capture_start(params: dict[str, Any], **_: Any) -> None:
                variables = {v["name"]: v["value"] for v in params.get("environmentVariablesOverride", [])}
                harness.start_requests.append({**params, "variables": variables})

            def capture_started(parsed: dict[str, Any], **_: Any) -> None:
                harness.started_builds.append(parsed["build"])

            def capture_stop(params: dict[str, Any], **_: Any) -> None:
                harness.stop_requests.append(params["id"])

            build.meta.events.register("provide-client-params.codebuild.StartBuild", capture_start)
            build.meta.events.register("after-call.codebuild.StartBuild", capture_started)
            build.meta.events.register("provide-client-params.codebuild.StopBuild", capture_stop)
            try:
                yield harness
            finally:
                harness.wind_down()
    finally:
        forget_aws_state()


@dataclass
class Site:
    org: str
    project_id: int
    repo_url: str
    sha: str


@pytest.fixture
def site(cloud: Cloud, git_repo: Any) -> Callable[..., Site]:
    """An organization (pro plan: previews, three build slots) and a project of a real git repository."""

    def make(**fields: Any) -> Site:
        org = organizations.create(f"org-{uuid.uuid4().hex[:8]}", None, "pro")
        repo = git_repo({"index.html": "<h1>hello</h1>\n"})
        fields = {"build_command": "npm ci && npm run build", "output_dir": "dist", **fields}
        view = projects.create(org.slug, ProjectCreate(name="Site", repo_url=str(repo.path), **fields))
        return Site(org.slug, int(view.project.id), str(repo.path), repo.head)

    return make


def _deploy(site: Site) -> int:
    return int(deployments.trigger(site.org, site.project_id, None, "tester").deployment.id)


def _attributes(deployment_id: int) -> dict[str, Any]:
    return dict(DeploymentRepository.get(deployment_id).attribute_values)


def _failure_causes(text: str) -> list[str]:
    """The `cause` dimension of every DeploymentsFailed data point in the output (EMF lines)."""
    causes = []
    for line in text.splitlines():
        if line.startswith("{") and '"DeploymentsFailed"' in line:
            document = json.loads(line)
            assert [["service", "cause"]] == document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
            causes.append(document["cause"])
    return causes


def _emitted_metrics(text: str) -> list[str]:
    names = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            names += [m["Name"] for d in document["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
    return names


# ---- starting the build ----


def test_a_deployment_starts_one_build_of_its_exact_commit_with_the_projects_command_and_time_limit(
    cloud: Cloud, site: Callable[..., Site]
) -> None:
    # Given a project with a build command, an output directory and a time limit of 10 minutes and a second
    project = site(build_command="npm ci && npm run build", output_dir="dist", build_timeout_seconds=601)

    # When a deployment is triggered and the pipeline hands its build to the worker
    deployment_id = _deploy(project)
    deployment = cloud.wait_build_started(deployment_id)

    # Then exactly one CodeBuild build was started, in deployd's project
    assert len(cloud.start_requests) == 1
    request = cloud.request_for(deployment_id)
    assert request["projectName"] == get_settings().resource_name(BUILD_PROJECT.logical)
    # And it builds the exact commit with the project's command, and may upload only to its own staging prefix
    variables = dict(request["variables"])
    upload = {name: variables.pop(name) for name in list(variables) if name.startswith("DEPLOYD_UPLOAD_")}
    assert variables == {
        "CI": "true",
        "DEPLOYD": "1",
        "DEPLOYD_DEPLOYMENT_ID": str(deployment_id),
        "DEPLOYD_REPO_URL": project.repo_url,
        "DEPLOYD_COMMIT_SHA": project.sha,
        "DEPLOYD_BRANCH": "main",
        "DEPLOYD_BUILD_COMMAND": "npm ci && npm run build",
        "DEPLOYD_OUTPUT_DIR": "dist",
        "DEPLOYD_MAX_OUTPUT_FILES": str(get_settings().max_output_files),
        "DEPLOYD_MAX_OUTPUT_BYTES": str(get_settings().max_output_bytes),
    }
    nonce = DeploymentRepository.get(deployment_id).staging_nonce
    assert upload["DEPLOYD_UPLOAD_PREFIX"] == f"staging/{deployment_id}/{nonce}/"
    assert set(request["variables"]) <= set(BUILD_VARIABLES)
    assert {v["type"] for v in request["environmentVariablesOverride"]} == {"PLAINTEXT"}
    # And CodeBuild's limit is the project's, rounded up to whole minutes
    assert request["timeoutInMinutesOverride"] == 11
    # And its output goes to the build log group, in a stream named after the deployment
    assert request["logsConfigOverride"]["cloudWatchLogs"] == {
        "status": "ENABLED",
        "groupName": LOG_GROUP,
        "streamName": f"deployments/{deployment_id}",
    }
    assert str(deployment_id) in request["idempotencyToken"]
    # And the deployment records the build CodeBuild started, and waits for it in `cloning`
    assert deployment.build_id == cloud.build_for(deployment_id)["id"]
    assert deployment.status == "cloning"
    assert cloud.execution_status(deployment_id) == "RUNNING"
    # And its log says which build runs it
    log = deployments.logs(project.org, project.project_id, deployment_id).text
    assert f"CodeBuild build {deployment.build_id} started" in log


def test_the_build_may_upload_only_under_its_own_staging_prefix_until_the_pipeline_stops_waiting(
    cloud: Cloud, site: Callable[..., Site], settings_env: Callable[..., None]
) -> None:
    # Given outputs limited to 5 MB, and two deployments whose builds run for at most 10 minutes
    settings_env(DEPLOYD_MAX_OUTPUT_BYTES=str(5 * 1024 * 1024))
    project = site(build_timeout_seconds=600)
    first, second = _deploy(project), _deploy(project)

    # When their builds start
    cloud.wait_build_started(first)
    signed_at = datetime.now(UTC)
    cloud.wait_build_started(second)

    # Then each build's upload target is a POST signed for its own fresh staging prefix, and nothing else
    prefixes = []
    for deployment_id in (first, second):
        url, fields, prefix = cloud.upload_target(deployment_id)
        nonce = DeploymentRepository.get(deployment_id).staging_nonce
        assert nonce and len(nonce) >= 32
        assert prefix == f"{STAGING_PREFIX}{deployment_id}/{nonce}/"
        prefixes.append(prefix)
        assert get_settings().resource_name(SITES_BUCKET.logical) in url
        assert "key" not in fields  # the build names each file's key, within the signed prefix
        policy = json.loads(base64.b64decode(fields["policy"]))
        conditions = policy["conditions"]
        assert ["starts-with", "$key", prefix] in conditions
        assert not [c for c in conditions if isinstance(c, dict) and "key" in c]
        # each file at most the output limit
        assert ["content-length-range", 0, 5 * 1024 * 1024] in conditions
        assert {"bucket": get_settings().resource_name(SITES_BUCKET.logical)} in conditions
        # valid while the pipeline waits for the build: CodeBuild's 10 minutes plus the pipeline's margin
        expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        wanted = 600 + get_settings().pipeline_timeout_margin_seconds
        assert abs((expires - signed_at).total_seconds() - wanted) < 30
    # And the two deployments' prefixes differ beyond their ids: neither can be guessed from the other
    assert prefixes[0].split("/")[2] != prefixes[1].split("/")[2]


@pytest.mark.parametrize(
    ("limit_seconds", "minutes"),
    [(1, 5), (300, 5), (301, 6), (3600, 60), (10**6, 2160)],
)
def test_codebuild_gets_the_time_limit_in_whole_minutes_within_its_range(limit_seconds: int, minutes: int) -> None:
    # CodeBuild takes 5 to 2160 whole minutes: a limit is never cut short, and never refused
    assert codebuild.timeout_minutes(limit_seconds) == minutes


def test_a_redelivered_build_message_starts_no_second_build(cloud: Cloud, site: Callable[..., Site]) -> None:
    # Given a deployment whose build has started
    project = site()
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)
    before = _attributes(deployment_id)

    # When SQS delivers its build message again
    cloud.redeliver_build_message(cloud.build_messages[-1])
    cloud.pump(lambda: len(cloud.build_messages) == 2, what="the redelivered message to be handled")

    # Then no second build was started, the deployment is as it was, and the pipeline still waits for the build
    assert len(cloud.start_requests) == 1
    assert _attributes(deployment_id) == before
    assert cloud.execution_status(deployment_id) == "RUNNING"


def test_a_redelivered_build_slot_request_neither_blocks_the_line_nor_takes_a_second_slot(
    cloud: Cloud, site: Callable[..., Site]
) -> None:
    from chalicelib.models.slot_wait import SlotWait
    from chalicelib.services import build_slots

    # Given a deployment recorded while another waits in its organization's line (one cancelled while it waited,
    # not dropped yet), so that its pipeline asks for a build slot; and SQS delivers that request twice
    project = site()
    SlotWait(
        org_slug=project.org, position=f"{0:015d}#{0:015d}", deployment_id=0, project_id=0, task_token="gone"
    ).save()
    deployment_id = _deploy(project)
    sqs = client("sqs")
    url = cloud.queue_urls["activations"]
    received = wait_until(
        lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages"),
        timeout=20,
        interval=0.05,
        what="the pipeline to ask for a build slot",
    )
    request = received[0]
    assert json.loads(request["Body"])["event"] == "acquire_slot"
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=request["Body"])
    sqs.delete_message(QueueUrl=url, ReceiptHandle=request["ReceiptHandle"])

    # When the pipeline runs on
    cloud.wait_build_started(deployment_id)
    cloud.pump(lambda: not list(SlotWait.scan()), what="the duplicate request to leave the line")

    # Then the build runs once, holding one slot, and nobody is left waiting in the organization's line
    assert len(cloud.start_requests) == 1
    assert build_slots.running(project.org) == 1
    assert cloud.execution_status(deployment_id) == "RUNNING"


# ---- completion ----


def test_a_successful_build_goes_live_through_the_state_machine(
    cloud: Cloud, site: Callable[..., Site], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployment whose build has started
    project = site()
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)

    # When CodeBuild reports the build running, the build uploads its output through its POST, and CodeBuild
    # reports it succeeded after a 42 second build command
    cloud.send(cloud.event(deployment_id, "IN_PROGRESS"))
    assert DeploymentRepository.get(deployment_id).status == "building"
    cloud.stage(deployment_id, SITE_FILES)
    cloud.send(cloud.event(deployment_id, "SUCCEEDED", phases=phases(build_seconds=42)))

    # Then the deployment goes live: served at its own URL and as production, from what the build uploaded
    deployed = cloud.wait_status(deployment_id, "deployed")
    assert deployed.build_time_seconds == 42
    assert deployed.error_message is None
    label = sites.deployment_label(deployment_id, "site", project.org)
    assert deployed.deployment_url == f"https://{label}.sites.example/"
    assert Route.get(label).artifact_prefix == sites.artifact_prefix(deployment_id)
    environment = EnvironmentRepository.find(project.project_id, PRODUCTION)
    assert environment is not None and environment.active_deployment_id == deployment_id
    assert not environment.in_flight
    assert cloud.wait_execution_end(deployment_id) == "SUCCEEDED"
    # And the uploaded files were published under the deployment's prefix, each with its content type,
    # and nothing is left in staging
    assert bucket_keys(sites.artifact_prefix(deployment_id)) == SITE_FILES
    s3, bucket = client("s3"), get_settings().resource_name(SITES_BUCKET.logical)
    types = {
        p: s3.head_object(Bucket=bucket, Key=f"deployments/{deployment_id}/{p}")["ContentType"] for p in SITE_FILES
    }
    assert types == {
        "index.html": "text/html; charset=utf-8",
        "assets/app.js": "text/javascript; charset=utf-8",
        "docs/a file with spaces & ümlauts.txt": "text/plain; charset=utf-8",
    }
    assert bucket_keys(STAGING_PREFIX) == {}
    # And each metric of the flow was emitted once
    metrics = _emitted_metrics(capsys.readouterr().out)
    for name in ("DeploymentsStarted", "QueueWait", "BuildDuration", "DeploymentsSucceeded"):
        assert metrics.count(name) == 1, (name, metrics)
    assert "DeploymentsFailed" not in metrics


@pytest.mark.parametrize(
    ("status", "failed_phase", "context", "message", "cause"),
    [
        (
            "FAILED",
            "BUILD",
            "COMMAND_EXECUTION_ERROR: Error while executing command: /bin/sh -c ... Reason: exit status 3",
            "build command exited with status 3",
            "build",
        ),
        (
            "FAILED",
            "PRE_BUILD",
            "COMMAND_EXECUTION_ERROR: Error while executing command: git fetch. Reason: exit status 128",
            "could not check out {sha}: COMMAND_EXECUTION_ERROR",
            "build",
        ),
        ("FAULT", "PROVISIONING", "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE", "the build service failed", "platform"),
        ("FAILED", "DOWNLOAD_SOURCE", "CLIENT_ERROR: RequestError", "DOWNLOAD_SOURCE phase", "platform"),
    ],
    ids=["build-command", "checkout", "fault", "codebuilds-own-phase"],
)
def test_a_failed_build_fails_the_deployment_saying_why(
    status: str,
    failed_phase: str,
    context: str,
    message: str,
    cause: str,
    cloud: Cloud,
    site: Callable[..., Site],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a deployment whose build is running
    project = site()
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)
    cloud.send(cloud.event(deployment_id, "IN_PROGRESS"))

    # When CodeBuild reports it failed (after its upload step staged part of an output)
    cloud.stage(deployment_id, {"index.html": b"<h1>half</h1>"}, manifest=None)
    cloud.send(cloud.event(deployment_id, status, phases=phases(failed_phase, status, context, build_seconds=7)))

    # Then the deployment failed with a reason the user can act on, and its environment is free again
    failed = DeploymentRepository.get(deployment_id)
    assert failed.status == "failed"
    assert message.format(sha=project.sha) in (failed.error_message or "")
    assert failed.deployment_url is None
    assert not EnvironmentRepository.find(project.project_id, PRODUCTION).in_flight
    # And the pipeline ended, without ever reaching deploying
    assert cloud.wait_execution_end(deployment_id) == "FAILED"
    assert DeploymentRepository.get(deployment_id).status == "failed"
    # And the logs endpoint says why
    view = deployments.logs(project.org, project.project_id, deployment_id)
    assert view.deployment.error_message == failed.error_message
    # And nothing it staged was published or kept
    assert bucket_keys(sites.artifact_prefix(deployment_id)) == {}
    assert bucket_keys(STAGING_PREFIX) == {}
    # And the failure was counted once, though the state machine reported the end too, as the user's build's
    # failure or the platform's (only the platform's pages the operator)
    assert _failure_causes(capsys.readouterr().out) == [cause]


def _over_the_limits(manifest: dict[str, Any]) -> dict[str, Any]:
    """What the upload script writes for an output over the limits: the counts, and no file."""
    return {**manifest, "files": []}


def _sha_of_other_content(manifest: dict[str, Any]) -> dict[str, Any]:
    files = [{**manifest["files"][0], "sha256": hashlib.sha256(b"<h1>HELLO</h1>\n").hexdigest()}]
    return {**manifest, "files": files + manifest["files"][1:]}


@pytest.mark.parametrize(
    ("limits", "staged", "manifest", "message"),
    [
        (
            {"DEPLOYD_MAX_OUTPUT_FILES": "2"},
            SITE_FILES,
            "describe",
            "build output has more than 2 files; the limit is 2 files (DEPLOYD_MAX_OUTPUT_FILES)",
        ),
        (
            {"DEPLOYD_MAX_OUTPUT_FILES": "2"},
            {},
            _over_the_limits(describe(SITE_FILES)),
            "build output has more than 2 files; the limit is 2 files (DEPLOYD_MAX_OUTPUT_FILES)",
        ),
        (
            {"DEPLOYD_MAX_OUTPUT_BYTES": "39"},
            SITE_FILES,
            "describe",
            "build output is 40 bytes; the limit is 39 bytes (DEPLOYD_MAX_OUTPUT_BYTES)",
        ),
        ({}, SITE_FILES, None, "the build's output manifest is missing: its upload did not finish"),
        (
            {},
            {p: b for p, b in SITE_FILES.items() if p != "assets/app.js"},
            describe(SITE_FILES),
            "the uploaded output does not match the build's manifest: missing: assets/app.js",
        ),
        (
            {},
            {**SITE_FILES, "extra.html": b"<p>"},
            describe(SITE_FILES),
            "the uploaded output does not match the build's manifest: not in the manifest: extra.html",
        ),
        (
            {},
            SITE_FILES,
            _sha_of_other_content(describe(SITE_FILES)),
            "the uploaded output does not match the build's manifest: sha256 of index.html differs",
        ),
        ({}, SITE_FILES, {"files": "all of them"}, "the build's output manifest is not readable"),
        (
            {},
            {"../1/index.html": b"<h1>defaced</h1>"},
            "describe",
            "the build's output manifest lists an invalid entry: '../1/index.html'",
        ),
    ],
    ids=[
        "too-many-files",
        "too-many-files-declared",
        "too-large",
        "no-manifest",
        "missing",
        "extra",
        "sha",
        "unreadable",
        "dot-dot",
    ],
)
def test_an_output_over_a_limit_or_not_matching_its_manifest_fails_the_deployment_and_publishes_nothing(
    limits: dict[str, str],
    staged: dict[str, bytes],
    manifest: Any,
    message: str,
    cloud: Cloud,
    site: Callable[..., Site],
    settings_env: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given deployd's output limits, and a deployment whose build is running
    settings_env(**limits)
    project = site()
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)
    cloud.send(cloud.event(deployment_id, "IN_PROGRESS"))

    # When the build uploads its output (and its manifest, if it gets that far) and CodeBuild says it succeeded
    cloud.stage(deployment_id, staged, manifest)
    cloud.send(cloud.event(deployment_id, "SUCCEEDED"))

    # Then the deployment failed, saying why
    failed = DeploymentRepository.get(deployment_id)
    assert failed.status == "failed"
    assert failed.error_message == message
    assert failed.artifact_prefix is None and failed.deployment_url is None
    assert cloud.wait_execution_end(deployment_id) == "FAILED"
    assert deployments.logs(project.org, project.project_id, deployment_id).text.endswith(f"==> Failed: {message}\n")
    # And nothing was published, nothing routes to it, and the staged files are gone
    assert bucket_keys(sites.artifact_prefix(deployment_id)) == {}
    assert not EnvironmentRepository.find(project.project_id, PRODUCTION).active_deployment_id
    assert bucket_keys(STAGING_PREFIX) == {}
    # And it was counted once, as the user's build's failure (not the platform's: nobody is paged for it)
    assert _failure_causes(capsys.readouterr().out) == ["build"]


def test_files_planted_under_another_staging_prefix_of_the_deployment_are_never_published(
    cloud: Cloud, site: Callable[..., Site]
) -> None:
    # Given a deployment whose build is running, and files planted beside its own staging prefix: under the
    # deployment's id with another nonce, under its id alone, and a manifest that lists them
    project = site()
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)
    s3, bucket = client("s3"), get_settings().resource_name(SITES_BUCKET.logical)
    planted = {"index.html": b"<h1>defaced</h1>", "evil.js": b"steal()"}
    for prefix in (f"{STAGING_PREFIX}{deployment_id}/{'0' * 32}/", f"{STAGING_PREFIX}{deployment_id}/"):
        for path, body in planted.items():
            s3.put_object(Bucket=bucket, Key=prefix + FILES + path, Body=body)
        s3.put_object(Bucket=bucket, Key=prefix + MANIFEST, Body=json.dumps(describe(planted)).encode())

    # When its own build uploads its output and succeeds
    cloud.stage(deployment_id, SITE_FILES)
    cloud.send(cloud.event(deployment_id, "SUCCEEDED"))

    # Then exactly its own build's files are published
    cloud.wait_status(deployment_id, "deployed")
    assert bucket_keys(sites.artifact_prefix(deployment_id)) == SITE_FILES


def test_a_publication_cut_short_by_an_s3_error_completes_when_the_event_is_retried(
    cloud: Cloud, site: Callable[..., Site]
) -> None:
    # Given a deployment whose build staged its output, and S3 failing the first copy of it
    project = site()
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)
    cloud.stage(deployment_id, SITE_FILES)
    failures = iter([ClientError({"Error": {"Code": "InternalError", "Message": "try again"}}, "CopyObject")])

    def flaky(**_: Any) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure

    client("s3").meta.events.register("before-call.s3.CopyObject", flaky)
    succeeded = cloud.event(deployment_id, "SUCCEEDED")

    # When the build-events invocation for its success fails on it
    with pytest.raises(ClientError):
        cloud.send(succeeded)

    # Then the deployment waits in uploading, its output still staged
    assert DeploymentRepository.get(deployment_id).status == "uploading"
    assert len(bucket_keys(cloud.upload_target(deployment_id)[2])) == len(SITE_FILES) + 1

    # When EventBridge retries the invocation
    cloud.send(succeeded)

    # Then the deployment goes live with its whole output, and the staging is gone
    cloud.wait_status(deployment_id, "deployed")
    assert bucket_keys(sites.artifact_prefix(deployment_id)) == SITE_FILES
    assert bucket_keys(STAGING_PREFIX) == {}
    assert cloud.wait_execution_end(deployment_id) == "SUCCEEDED"


def test_a_build_over_its_time_limit_fails_naming_the_limit(
    cloud: Cloud, site: Callable[..., Site], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a project whose builds may run 10 minutes, and a deployment whose build is running
    project = site(build_timeout_seconds=600)
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)
    cloud.send(cloud.event(deployment_id, "IN_PROGRESS"))

    # When CodeBuild stops it at its time limit
    cloud.send(cloud.event(deployment_id, "TIMED_OUT", phases=phases("BUILD", "TIMED_OUT", build_seconds=600)))

    # Then the deployment failed, saying the build exceeded its limit
    failed = DeploymentRepository.get(deployment_id)
    assert failed.status == "failed"
    assert failed.error_message == "build exceeded its time limit of 600 seconds"
    assert cloud.wait_execution_end(deployment_id) == "FAILED"
    # And that is the user's build's failure, not the platform's
    assert _failure_causes(capsys.readouterr().out) == ["build"]


def test_a_build_codebuild_would_not_start_is_the_platforms_failure(
    cloud: Cloud, site: Callable[..., Site], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given CodeBuild refusing to start builds (an account limit reached, say)
    def refuse(**_: Any) -> None:
        error = {"Error": {"Code": "AccountLimitExceededException", "Message": "Cannot have more than 1 builds"}}
        raise ClientError(error, "StartBuild")

    client("codebuild").meta.events.register("before-call.codebuild.StartBuild", refuse)

    # When a deployment is triggered
    project = site()
    deployment_id = _deploy(project)

    # Then it fails saying so, and the failure is counted as the platform's, not the user's build's
    failed = cloud.wait_status(deployment_id, "failed")
    assert "could not start the build on CodeBuild" in (failed.error_message or "")
    assert cloud.wait_execution_end(deployment_id) == "FAILED"
    assert _failure_causes(capsys.readouterr().out) == ["platform"]


def test_the_pipeline_gives_a_codebuild_build_its_whole_time_limit_without_heartbeats(
    cloud: Cloud, site: Callable[..., Site]
) -> None:
    # Given a project whose builds may run 10 minutes
    project = site(build_timeout_seconds=600)

    # When a deployment starts
    deployment_id = _deploy(project)

    # Then its Build task waits out CodeBuild's limit plus the margin, and is not failed for silence before that
    arn = DeploymentRepository.get(deployment_id).execution_arn
    given = json.loads(client("stepfunctions").describe_execution(executionArn=arn)["input"])
    assert given["timeout_seconds"] == 600 + get_settings().pipeline_timeout_margin_seconds
    assert given["timeout_seconds"] - 60 < given["heartbeat_seconds"] < given["timeout_seconds"]


# ---- cancel ----


def test_cancelling_a_running_build_stops_it_and_its_stopped_event_changes_nothing(
    cloud: Cloud, site: Callable[..., Site], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployment whose build is running
    project = site()
    deployment_id = _deploy(project)
    build_id = cloud.wait_build_started(deployment_id).build_id
    cloud.send(cloud.event(deployment_id, "IN_PROGRESS"))

    # When the user cancels it
    view = deployments.cancel(project.org, project.project_id, deployment_id)

    # Then it is cancelled at once, and its CodeBuild build is told to stop
    assert view.deployment.status == "cancelled"
    assert cloud.stop_requests == [build_id]
    cancelled = _attributes(deployment_id)

    # When CodeBuild reports the build stopped, its upload step having staged what it had
    cloud.stage(deployment_id, SITE_FILES)
    cloud.send(cloud.event(deployment_id, "STOPPED", phases=phases("BUILD", "STOPPED")))

    # Then the deployment is still cancelled and nothing about it changed, and nothing it staged is published
    assert _attributes(deployment_id) == cancelled
    assert bucket_keys(sites.artifact_prefix(deployment_id)) == {}
    assert bucket_keys(STAGING_PREFIX) == {}
    assert cancelled["status"] == "cancelled" and "error_message" not in cancelled
    assert not EnvironmentRepository.find(project.project_id, PRODUCTION).in_flight
    # And its pipeline ended without deploying
    assert cloud.wait_execution_end(deployment_id) in ("FAILED", "ABORTED")
    assert DeploymentRepository.get(deployment_id).status == "cancelled"
    metrics = _emitted_metrics(capsys.readouterr().out)
    assert metrics.count("DeploymentsCancelled") == 1 and "DeploymentsFailed" not in metrics


def test_a_cancel_succeeds_when_codebuild_refuses_to_stop_a_build_that_already_finished(
    cloud: Cloud, site: Callable[..., Site]
) -> None:
    # Given a deployment whose build CodeBuild will not stop (it finished a moment ago)
    project = site()
    deployment_id = _deploy(project)
    build_id = cloud.wait_build_started(deployment_id).build_id

    def refuse(**_: Any) -> None:
        error = {"Code": "InvalidInputException", "Message": f"Build {build_id} is not in progress"}
        raise ClientError({"Error": error}, "StopBuild")

    client("codebuild").meta.events.register("before-call.codebuild.StopBuild", refuse)

    # When the user cancels it
    view = deployments.cancel(project.org, project.project_id, deployment_id)

    # Then the cancel succeeds although CodeBuild refused to stop the build
    assert view.deployment.status == "cancelled"
    assert cloud.stop_requests == [build_id]


def test_a_build_stopped_outside_deployd_fails_the_deployment(cloud: Cloud, site: Callable[..., Site]) -> None:
    # Given a deployment whose build is running
    project = site()
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)

    # When someone stops the build in CodeBuild itself
    cloud.send(cloud.event(deployment_id, "STOPPED", phases=phases("BUILD", "STOPPED")))

    # Then the deployment failed, saying so (it was not cancelled through deployd)
    failed = DeploymentRepository.get(deployment_id)
    assert failed.status == "failed"
    assert "stopped outside deployd" in (failed.error_message or "")
    assert cloud.wait_execution_end(deployment_id) == "FAILED"


def test_a_superseded_preview_build_is_stopped_and_gives_the_preview_builder_place_to_the_new_one(
    cloud: Cloud, site: Callable[..., Site]
) -> None:
    # Given a preview of a branch whose build is running on CodeBuild, holding the preview's builder place
    project = site()
    first = int(previews.trigger(project.org, project.project_id, "main", "tester").deployment.id)
    first_build = cloud.wait_build_started(first).build_id
    environment = sites.preview_environment("main")
    assert EnvironmentRepository.find(project.project_id, environment).builder == first

    # When the branch is pushed again: the new preview build supersedes the running one
    second = int(previews.trigger(project.org, project.project_id, "main", "tester").deployment.id)

    # Then the first build is cancelled and told to stop, and keeps the place until CodeBuild says it stopped
    assert DeploymentRepository.get(first).status == "cancelled"
    assert cloud.stop_requests == [first_build]
    assert EnvironmentRepository.find(project.project_id, environment).builder == first
    cloud.send(cloud.event(first, "STOPPED", phases=phases("BUILD", "STOPPED")))
    # And then the new build starts, in the place the stopped one gave back
    second_build = cloud.wait_build_started(second).build_id
    assert second_build != first_build
    assert EnvironmentRepository.find(project.project_id, environment).builder == second
    assert DeploymentRepository.get(first).status == "cancelled"


def test_a_build_the_state_machine_gave_up_on_is_stopped(
    cloud: Cloud, site: Callable[..., Site], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a pipeline whose Build task gives up after 3 seconds (2 without news), and a deployment whose build runs
    monkeypatch.setattr(executions, "build_task_limits", lambda _build_timeout_seconds: (3, 2))
    project = site()
    deployment_id = _deploy(project)
    build_id = cloud.wait_build_started(deployment_id).build_id

    # When the state machine's limit passes before CodeBuild reports anything
    failed = cloud.wait_status(deployment_id, "failed")

    # Then the deployment failed for it, and its CodeBuild build is stopped rather than left running
    assert "time limit of 3s" in (failed.error_message or "")
    cloud.pump(lambda: build_id in cloud.stop_requests, what="the build to be stopped")
    assert cloud.wait_execution_end(deployment_id) == "FAILED"
    # And a pipeline that heard nothing of its build is the platform's failure
    assert _failure_causes(capsys.readouterr().out) == ["platform"]


# ---- repeated, late and foreign events ----


def test_repeated_and_late_events_change_nothing(
    cloud: Cloud, site: Callable[..., Site], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a deployment that went live after its build succeeded
    project = site()
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)
    cloud.send(cloud.event(deployment_id, "IN_PROGRESS"))
    cloud.stage(deployment_id, SITE_FILES)
    cloud.send(cloud.event(deployment_id, "SUCCEEDED"))
    cloud.wait_status(deployment_id, "deployed")
    assert cloud.wait_execution_end(deployment_id) == "SUCCEEDED"
    before = _attributes(deployment_id)
    capsys.readouterr()

    # When EventBridge delivers the success again, a late "in progress", and a contradicting failure
    cloud.send(cloud.event(deployment_id, "SUCCEEDED"))
    cloud.send(cloud.event(deployment_id, "IN_PROGRESS"))
    cloud.send(cloud.event(deployment_id, "FAILED", phases=phases("BUILD", context="exit status 1")))

    # Then the deployment is exactly as it was, nothing was stopped and nothing was counted
    assert _attributes(deployment_id) == before
    assert cloud.stop_requests == []
    assert _emitted_metrics(capsys.readouterr().out) == []


def test_an_event_of_another_build_of_the_deployment_is_ignored(cloud: Cloud, site: Callable[..., Site]) -> None:
    # Given a deployment whose build is running
    project = site()
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)
    before = _attributes(deployment_id)

    # When an event arrives naming the deployment but a build that is not its own
    event = cloud.event(deployment_id, "FAILED", phases=phases("BUILD", context="exit status 1"))
    foreign = event["detail"]["build-id"].rsplit(":", 1)[0] + ":" + str(uuid.uuid4())
    event["detail"]["build-id"] = foreign
    cloud.send(event)

    # Then the deployment is untouched and still waits for its own build
    assert _attributes(deployment_id) == before
    assert cloud.execution_status(deployment_id) == "RUNNING"


def test_the_app_receives_the_projects_build_state_changes_and_no_others(
    cloud: Cloud, site: Callable[..., Site]
) -> None:
    # Given the event pattern the app subscribes `build_events` with, and a documented-shape event of our project
    pattern = next(s.event_pattern for s in app.event_sources if s.name == "build_events")
    project = site()
    deployment_id = _deploy(project)
    cloud.wait_build_started(deployment_id)
    event = cloud.event(deployment_id, "SUCCEEDED")

    def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
        return all(
            matches(want, event.get(key) or {}) if isinstance(want, dict) else event.get(key) in want
            for key, want in pattern.items()
        )

    # Then the pattern matches our project's events, and not another project's
    assert matches(pattern, event)
    other = {**event, "detail": {**event["detail"], "project-name": "someone-elses-project"}}
    assert not matches(pattern, other)


# ---- logs ----


def test_the_logs_endpoint_shows_the_builds_output_from_cloudwatch_after_deployds_own_lines(
    cloud: Cloud, site: Callable[..., Site]
) -> None:
    # Given a deployment whose build printed lines to its CloudWatch Logs stream, then failed
    project = site()
    deployment_id = _deploy(project)
    build_id = cloud.wait_build_started(deployment_id).build_id
    assert build_id
    stream = cloud.event(deployment_id, "IN_PROGRESS")["detail"]["additional-information"]["logs"]["stream-name"]
    logs = client("logs")
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
    now = int(time.time() * 1000)
    printed = ["==> Cloning the repository\n", "npm ERR! missing script: build\n", "done"]
    logs.put_log_events(
        logGroupName=LOG_GROUP,
        logStreamName=stream,
        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(printed)],
    )
    cloud.send(cloud.event(deployment_id, "FAILED", phases=phases("BUILD", context="Reason: exit status 1")))

    # When the user reads the deployment's log
    text = deployments.logs(project.org, project.project_id, deployment_id).text

    # Then deployd's own lines come first, then everything the build printed, in order, then why it failed
    started = text.index(f"CodeBuild build {build_id} started")
    output = text.index("==> Cloning the repository\nnpm ERR! missing script: build\ndone\n")
    assert text.index("Status: cloning") < started < output
    assert text.endswith("==> Failed: build command exited with status 1\n")


def test_the_log_of_a_build_that_has_not_started_writing_is_deployds_own_lines(
    cloud: Cloud, site: Callable[..., Site]
) -> None:
    # Given a deployment whose build was started but has no log stream yet (CodeBuild is provisioning)
    project = site()
    deployment_id = _deploy(project)
    build_id = cloud.wait_build_started(deployment_id).build_id

    # When the user reads its log
    text = deployments.logs(project.org, project.project_id, deployment_id).text

    # Then it shows what deployd did so far, and no error
    assert f"CodeBuild build {build_id} started" in text
