"""The embedded stack: the whole of deployd on one machine, on the production code path.

moto's server runs in-process as the local AWS (DynamoDB, SQS, S3, Step Functions, with state machine
execution switched on); every resource is provisioned from the catalogue; worker threads feed the SQS
handlers Lambda would run; Chalice's local server serves the API; a small server plays CloudFront.
Only endpoints differ from AWS: AWS_ENDPOINT_URL points every SDK client at moto, which accepts only
requests signed with a key the stack makes for itself at start-up (docs/build-sandbox.md).
With a data directory (the default for `make run`), the tables and buckets are restored from it at start-up and
written back to it every few seconds and when the stack stops (chalicelib.local.snapshots, docs/durability.md).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import socket
import subprocess
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.infra.resources import (
    ACTIVATION_QUEUE,
    BUILD_QUEUE,
    PIPELINE,
    PREVIEW_SCHEDULE,
    PROMOTION_FLOW,
    PROMOTION_QUEUE,
    SLACK_COMMAND_QUEUE,
)
from chalicelib.local import heap
from chalicelib.local.snapshots import (
    DataDirectory,
    PeriodicSnapshots,
    Snapshots,
    SnapshotUnreadable,
    data_directory,
)

# How long the event functions' process may take to import the app and take the stream's position.
EVENT_FUNCTIONS_START_SECONDS = 60.0
CHECKOUT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class StackConfig:
    api_port: int = 8000
    sites_port: int = 8001
    moto_port: int = 0
    host: str = "127.0.0.1"
    admin_token: str = ""
    build_workers: int = 16
    # How often the scheduled handler runs (EventBridge's every minute on AWS); 0 turns the timer off.
    schedule_interval_seconds: float = PREVIEW_SCHEDULE.every_minutes * 60.0
    extra_env: dict[str, str] = field(default_factory=dict)
    # Where tables and buckets are kept across restarts (chalicelib.local.snapshots); None keeps nothing.
    data_dir: Path | None = None

    @classmethod
    def from_environment(cls) -> StackConfig:
        env = os.environ
        return cls(
            api_port=int(env.get("PORT", "8000")),
            sites_port=int(env.get("DEPLOYD_SITES_PORT", "0") or 0) or int(env.get("PORT", "8000")) + 1,
            moto_port=int(env.get("DEPLOYD_MOTO_PORT", "0") or 0),
            admin_token=env.get("DEPLOYD_ADMIN_TOKEN", ""),
            build_workers=int(env.get("DEPLOYD_BUILD_WORKERS", "16")),
            schedule_interval_seconds=float(
                env.get("DEPLOYD_SCHEDULE_INTERVAL_SECONDS", str(PREVIEW_SCHEDULE.every_minutes * 60))
            ),
            data_dir=data_directory(env.get("DEPLOYD_DATA_DIR"), CHECKOUT),
        )


class ScheduleTimer(threading.Thread):
    """Plays EventBridge's scheduled rule: calls the scheduled Lambda handler with a Scheduled Event."""

    def __init__(self, handler: Any, interval_seconds: float, region: str) -> None:
        super().__init__(name="schedule-timer", daemon=True)
        self._handler = handler
        self._interval = interval_seconds
        self._region = region
        self._stopped = threading.Event()

    def event(self, now: datetime) -> dict[str, Any]:
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self._region,
            "resources": [],
            "detail": {},
        }

    def run(self) -> None:
        while not self._stopped.wait(self._interval):
            try:
                self._handler(self.event(datetime.now(UTC)), None)
            except Exception:  # as on AWS, a failed invocation does not stop the next one
                logging.getLogger(__name__).exception("scheduled handler failed")

    def stop(self) -> None:
        self._stopped.set()


class EmbeddedStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.admin_token = config.admin_token or f"adm_{secrets.token_urlsafe(24)}"
        self.moto_port = config.moto_port or free_port()
        self._moto: Any = None
        self._workers: list[Any] = []
        self._events: subprocess.Popen[bytes] | None = None
        self._sites: Any = None
        self._api: Any = None
        self._api_thread: threading.Thread | None = None
        self._settled = False  # the process's garbage collector settled for it (chalicelib.local.heap)
        self._timer: ScheduleTimer | None = None
        self._build_directory: Path | None = None
        self._data: DataDirectory | None = None
        self._snapshots: Snapshots | None = None
        self._periodic: PeriodicSnapshots | None = None
        # The local AWS endpoint's only key, made at start-up: builds never see it.
        self.aws_access_key_id = ""
        self.aws_secret_access_key = ""

    @property
    def api_url(self) -> str:
        return f"http://{self.config.host}:{self.config.api_port}"

    @property
    def sites(self) -> Any:
        """The site server (chalicelib.local.sites.SiteServer) once started, else None."""
        return self._sites

    @property
    def sites_url(self) -> str:
        return f"http://{self.config.host}:{self.config.sites_port}"

    def _configure_environment(self) -> None:
        endpoint = f"http://127.0.0.1:{self.moto_port}"
        os.environ.update(
            {
                "AWS_ACCESS_KEY_ID": "embedded",
                "AWS_SECRET_ACCESS_KEY": "embedded",
                "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
                "AWS_ENDPOINT_URL": endpoint,
                "MOTO_PORT": str(self.moto_port),  # moto's Step Functions executor calls services here
                "DEPLOYD_STAGE": "local",
                "DEPLOYD_ADMIN_TOKEN": self.admin_token,
                "DEPLOYD_SITES_URL_TEMPLATE": f"{self.sites_url}/{{label}}/",
                "DEPLOYD_API_URL": self.api_url,
                "DEPLOYD_ALLOW_PRIVATE_ADDRESSES": os.environ.get("DEPLOYD_ALLOW_PRIVATE_ADDRESSES", "true"),
                # Local receivers are the point of webhooks on a laptop; the AWS template leaves this false.
                "DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS": os.environ.get(
                    "DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS", "true"
                ),
                **self.config.extra_env,
            }
        )
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        from chalicelib.settings import get_settings

        get_settings.cache_clear()
        from chalicelib.local.provision import state_machine_arn

        os.environ["DEPLOYD_STATE_MACHINE_ARN"] = state_machine_arn(get_settings(), PIPELINE.logical)
        os.environ["DEPLOYD_PROMOTION_STATE_MACHINE_ARN"] = state_machine_arn(get_settings(), PROMOTION_FLOW.logical)
        get_settings.cache_clear()

    def start(self) -> None:
        """Start every part. With a data directory another stack holds, or whose snapshot cannot be read, raise
        DataDirectoryInUse or SnapshotUnreadable before starting any; with one that reads whole but that the tables
        refuse, SnapshotUnreadable once the local AWS runs (`stop` then ends it, writing no snapshot)."""
        from chalicelib.adapters import sandbox
        from chalicelib.local import moto_quick
        from chalicelib.local.moto_compat import (
            LocalAwsServer,
            answer_dynamodb_in_plain_json,
            check_update_structure_once,
            convert_names_once,
            convert_results_in_one_walk,
            copy_update_trees_from_pickles,
            list_handler_methods_once,
            parse_definitions_once,
            parse_json_paths_once,
            parse_update_expressions_once,
            read_moto_modules_once,
            record_changes,
            serialize_dynamodb,
            snapshot_streams_cheaply,
            snapshot_touched_items_only,
            take_changes,
        )
        from chalicelib.local.signing import sign_sigv4_as_on_lambda

        manifest = None
        if self.config.data_dir is not None:
            self._data = DataDirectory(self.config.data_dir)
            manifest = self._data.open()
            if not self.config.admin_token:
                self.admin_token = self._data.admin_token()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request access log
        sign_sigv4_as_on_lambda()
        serialize_dynamodb()
        snapshot_streams_cheaply()
        snapshot_touched_items_only()
        read_moto_modules_once()
        list_handler_methods_once()
        answer_dynamodb_in_plain_json()
        convert_results_in_one_walk()
        convert_names_once()
        parse_definitions_once()
        parse_json_paths_once()
        parse_update_expressions_once()
        check_update_structure_once()
        copy_update_trees_from_pickles()
        moto_quick.apply_all()
        warning = sandbox.isolation().warning
        if warning:
            logging.getLogger(__name__).warning(warning)
        sandbox.remove_stale_stack_directories()
        self._build_directory = sandbox.claim_stack_directory()
        os.environ["DEPLOYD_BUILD_WORKSPACE_ROOT"] = str(self._build_directory)

        self._configure_environment()
        self._moto = LocalAwsServer("127.0.0.1", self.moto_port)
        self._moto.start()
        self._use_own_aws_key()
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.set_config({"stepfunctions": {"execute_state_machine": True}})

        from chalicelib.aws import client, reset_clients
        from chalicelib.local.provision import provision
        from chalicelib.models import reset_connections
        from chalicelib.settings import get_settings

        reset_clients()
        reset_connections()
        settings = get_settings()
        clients = {name: client(name) for name in ("dynamodb", "sqs", "s3", "stepfunctions", "kms")}
        queue_urls = provision(clients, settings)
        if self._data is not None and manifest is not None:
            record_changes()
            snapshots = Snapshots(self._data, manifest, clients, settings, take_changes)
            self._restore(snapshots)
            self._snapshots = snapshots  # only now may the stack write snapshots: never a half-restored one

        import app as app_module  # imported only now: models read table names from the environment set above

        self._start_workers(app_module, clients["sqs"], queue_urls, settings.region)
        if self._snapshots is not None:
            from chalicelib.services import restart

            restart.resume_webhook_deliveries()  # before the event functions make new ones
        self._start_event_functions()  # before in-flight work is ended, so its events reach subscribers
        if self._snapshots is not None:
            ended = restart.end_interrupted_work()
            if ended:
                logging.getLogger(__name__).warning("%d deployments in flight at the last stop ended failed", ended)
            self._periodic = PeriodicSnapshots(self._snapshots)
            self._periodic.start()
        if self.config.schedule_interval_seconds > 0:
            self._timer = ScheduleTimer(
                app_module.app.handler_map["preview_scheduler"], self.config.schedule_interval_seconds, settings.region
            )
            self._timer.start()
        self._start_sites()
        self._start_api(app_module.app)
        heap.settle()
        self._settled = True

    def _restore(self, snapshots: Snapshots) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            snapshots.restore()
        except (ClientError, BotoCoreError) as exc:  # read whole, but refused: a shape this version cannot import
            raise SnapshotUnreadable(
                snapshots.directory.manifest_path, f"it cannot be restored: {exc}", snapshots.directory.path
            ) from exc

    def _use_own_aws_key(self) -> None:
        """Make an IAM user allowed everything and a key for it (the last unauthenticated calls the endpoint
        answers), point the stack's own clients at that key, then demand it on every request."""
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=os.environ["AWS_ENDPOINT_URL"],
            region_name=os.environ["AWS_DEFAULT_REGION"],
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        user = f"deployd-stack-{uuid.uuid4().hex[:12]}"
        iam.create_user(UserName=user)
        everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName=user, PolicyName="stack", PolicyDocument=json.dumps(everything))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        self.aws_access_key_id, self.aws_secret_access_key = key["AccessKeyId"], key["SecretAccessKey"]
        # moto's Step Functions executor, too, signs its calls with these (chalicelib.local.moto_compat).
        os.environ["AWS_ACCESS_KEY_ID"] = self.aws_access_key_id
        os.environ["AWS_SECRET_ACCESS_KEY"] = self.aws_secret_access_key
        for stray in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):  # would make the key look like a role's
            os.environ.pop(stray, None)
        self._moto.authenticate = True

    def _start_workers(self, app_module: Any, sqs: Any, queue_urls: dict[str, str], region: str) -> None:
        from chalicelib.local.workers import sqs_worker

        plan = [
            (BUILD_QUEUE.logical, "build_worker", self.config.build_workers),
            (ACTIVATION_QUEUE.logical, "activation_worker", 4),
            (PROMOTION_QUEUE.logical, "promotion_worker", 4),
            (SLACK_COMMAND_QUEUE.logical, "slack_command_worker", 4),
        ]
        for logical, name, concurrency in plan:
            if concurrency < 1:
                continue  # no consumer at all: used to show what happens when workers never answer
            worker = sqs_worker(app_module, sqs, queue_urls[logical], name, concurrency, region)
            worker.start()
            self._workers.append(worker)

    def _start_event_functions(self) -> None:
        """The deployments stream's consumer and the webhook deliveries, in a process of their own
        (chalicelib/local/event_functions.py), started and ready before the stack answers."""
        import select
        import sys

        read_end, write_end = os.pipe()
        env = {**os.environ, "DEPLOYD_READY_FD": str(write_end)}
        self._events = subprocess.Popen(
            [sys.executable, "-m", "chalicelib.local.event_functions"],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdin=subprocess.PIPE,
            pass_fds=(write_end,),
        )
        os.close(write_end)
        try:
            readable, _, _ = select.select([read_end], [], [], EVENT_FUNCTIONS_START_SECONDS)
            said = os.read(read_end, 16) if readable else b""
        finally:
            os.close(read_end)
        if said != b"ready\n":
            self._stop_event_functions()
            raise RuntimeError("the embedded stack's event functions process did not start")

    def _stop_event_functions(self) -> None:
        events, self._events = self._events, None
        if events is None:
            return
        if events.stdin is not None:
            events.stdin.close()
        try:
            events.wait(timeout=10)
        except subprocess.TimeoutExpired:
            events.kill()
            events.wait()

    def _start_sites(self) -> None:
        from chalicelib.local.sites import SiteServer

        self._sites = SiteServer(self.config.host, self.config.sites_port)
        self._sites.start()

    def _start_api(self, chalice_app: Any) -> None:
        from chalice.config import Config

        from chalicelib.local.api import create_api_server

        config = Config(chalice_stage="local", config_from_disk={"app_name": "deployd", "stages": {"local": {}}})
        self._api = create_api_server(chalice_app, config, self.config.host, self.config.api_port)
        self._api_thread = threading.Thread(target=self._api.server.serve_forever, name="api", daemon=True)
        self._api_thread.start()

    def stop(self) -> None:
        """Stop every part. With a data directory, nothing is lost: work in flight is ended first (as a restart
        would end it: before its builds are killed, which would otherwise fail them as builds), and the last
        snapshot is written once nothing else can change."""
        from chalicelib.adapters import sandbox

        if self._timer is not None:
            self._timer.stop()
        for worker in self._workers:
            worker.stop()
        if self._api is not None:
            self._api.shutdown()
            self._api = None
        if self._snapshots is not None:
            self._end_interrupted_work()
        # Every build this stack started ends now, with every process in it; then their workspaces go.
        sandbox.running_builds.kill_all()
        if self._build_directory is not None:
            shutil.rmtree(self._build_directory, ignore_errors=True)
            os.environ.pop("DEPLOYD_BUILD_WORKSPACE_ROOT", None)
            from chalicelib.settings import get_settings

            get_settings.cache_clear()
        if self._api is not None:
            self._api.shutdown()
        if self._sites is not None:
            self._sites.stop()
        for worker in self._workers:
            worker.join(timeout=5)
        self._stop_event_functions()
        if self._periodic is not None:
            self._periodic.stop()
        if self._snapshots is not None:
            try:
                self._snapshots.snapshot()
            except Exception:  # the one before it stays whole on disk
                logging.getLogger(__name__).exception("the last snapshot could not be written")
        if self._data is not None:
            from chalicelib.local.moto_compat import stop_recording

            stop_recording()
            self._data.close()
        if self._moto is not None:
            self._moto.stop()
        if self._settled:
            heap.restore()
            self._settled = False

    @staticmethod
    def _end_interrupted_work() -> None:
        from chalicelib.services import restart

        try:
            restart.end_interrupted_work()
        except Exception:  # the start-up after this one ends it instead
            logging.getLogger(__name__).exception("ending the work in flight failed")
