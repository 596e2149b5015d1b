"""One settings object for the whole platform, read from the environment once, on first use.

Resource names are derived from a stage prefix and the logical names in chalicelib.infra;
on AWS the template passes the real names in as environment variables.

Its annotations are evaluated, not postponed (no `from __future__ import annotations`): a NamedTuple field
annotated by a string compiles that string when the class is made, which every cold start would pay for 30 fields.
"""

import functools
import os
from typing import NamedTuple

# Svix's schedule: the delays before each retry of a failed webhook message (so 9 attempts in all).
WEBHOOK_RETRY_SECONDS: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)


class Settings(NamedTuple):
    stage: str
    resource_prefix: str
    region: str
    admin_token: str
    sites_url_template: str
    api_url: str
    allow_local_repositories: bool
    default_build_timeout_seconds: int
    heartbeat_seconds: int
    heartbeat_interval_seconds: float
    pipeline_timeout_margin_seconds: int
    state_machine_arn: str
    resource_names: dict[str, str]
    # How long a removed preview's build artifacts are kept before the scheduled handler deletes them.
    artifact_retention_hours: float = 24.0
    # "local" (a process next to the worker: the embedded stack) or "codebuild" (AWS).
    build_runner: str = "local"
    # CloudWatch Logs group the CodeBuild project writes build output to (AWS only).
    build_log_group: str = ""
    # ARN of the CloudFront KeyValueStore that mirrors the routes table (AWS only; empty locally).
    sites_kvs_arn: str = ""
    # True when DEPLOYD_API_URL is set; otherwise the API function links to the URL a request came in on.
    api_url_configured: bool = False
    # What one build may produce: the published output (bytes, files) and its build log (bytes; the tail is kept).
    max_output_bytes: int = 250 * 1024 * 1024
    max_output_files: int = 20_000
    max_build_log_bytes: int = 2 * 1024 * 1024
    # Time limits of the network steps: resolving a ref at trigger time, and the clone inside a build.
    # Ref resolution runs inside a trigger request: 10 s keeps even GitLab's two steps under API Gateway's 29 s.
    git_timeout_seconds: float = 10.0
    clone_timeout_seconds: float = 300.0
    # Whether repository URLs (and later webhook URLs) may name loopback, private, link-local or metadata
    # addresses: true in the embedded stack, which builds from repositories on this machine; never on AWS.
    allow_private_addresses: bool = False
    # On AWS the admin token is a Secrets Manager secret, read by the API on first use (chalicelib.aws.admin_token);
    # only the API function gets its ARN. Empty: the token is `admin_token` (the embedded stack, the tests).
    admin_token_secret_arn: str = ""
    # Where local builds make their workspaces: the embedded stack's own directory (empty: the system's temp dir).
    build_workspace_root: str = ""
    # Delays before each retry of a failed webhook message (DEPLOYD_WEBHOOK_RETRY_SECONDS, comma-separated).
    webhook_retry_seconds: tuple[float, ...] = WEBHOOK_RETRY_SECONDS
    # Deliver to loopback, private and link-local targets (make run: local receivers are the point there).
    webhook_allow_private_targets: bool = False
    # The Slack app (docs/slack.md); without a signing secret the /slack routes answer 404. On AWS the signing
    # and client secrets are Secrets Manager secrets named by the *_ARN settings, read on first use.
    slack_signing_secret: str = ""
    slack_client_id: str = ""
    slack_client_secret: str = ""
    slack_api_url: str = "https://slack.com/api/"
    slack_signing_secret_arn: str = ""
    slack_client_secret_arn: str = ""
    # The promotions' state machine (docs/promotions.md): every change of what an environment serves runs in it.
    promotion_state_machine_arn: str = ""

    def resource_name(self, logical: str) -> str:
        """Physical name of a resource: an explicit override from the environment, else prefix-logical."""
        return self.resource_names.get(logical) or f"{self.resource_prefix}-{logical}"

    def site_url(self, label: str) -> str:
        return self.sites_url_template.format(label=label)


def _seconds_list(raw: str | None, default: tuple[float, ...]) -> tuple[float, ...]:
    """ "0,1,2.5" -> (0.0, 1.0, 2.5); unset or empty -> `default`."""
    if not raw or not raw.strip():
        return default
    return tuple(float(part) for part in raw.split(",") if part.strip())


def _env_resource_overrides() -> dict[str, str]:
    # DEPLOYD_RESOURCE_<LOGICAL>=physical-name, e.g. DEPLOYD_RESOURCE_DEPLOYMENTS=prod-deployments-abc
    prefix = "DEPLOYD_RESOURCE_"
    return {
        key[len(prefix) :].lower().replace("_", "-"): value
        for key, value in os.environ.items()
        if key.startswith(prefix) and key != "DEPLOYD_RESOURCE_PREFIX"
    }


@functools.cache
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        stage=env.get("DEPLOYD_STAGE", "local"),
        resource_prefix=env.get("DEPLOYD_RESOURCE_PREFIX", "deployd-local"),
        region=env.get("AWS_DEFAULT_REGION", env.get("AWS_REGION", "us-east-1")),
        admin_token=env.get("DEPLOYD_ADMIN_TOKEN", ""),
        sites_url_template=env.get("DEPLOYD_SITES_URL_TEMPLATE", "http://127.0.0.1:8001/{label}/"),
        api_url=env.get("DEPLOYD_API_URL", "http://127.0.0.1:8000").rstrip("/"),
        allow_local_repositories=env.get("DEPLOYD_ALLOW_LOCAL_REPOSITORIES", "true").lower() == "true",
        default_build_timeout_seconds=int(env.get("DEPLOYD_DEFAULT_BUILD_TIMEOUT_SECONDS", "900")),
        heartbeat_seconds=int(env.get("DEPLOYD_HEARTBEAT_SECONDS", "60")),
        heartbeat_interval_seconds=float(env.get("DEPLOYD_HEARTBEAT_INTERVAL_SECONDS", "5")),
        pipeline_timeout_margin_seconds=int(env.get("DEPLOYD_PIPELINE_TIMEOUT_MARGIN_SECONDS", "300")),
        state_machine_arn=env.get("DEPLOYD_STATE_MACHINE_ARN", ""),
        resource_names=_env_resource_overrides(),
        artifact_retention_hours=float(env.get("DEPLOYD_ARTIFACT_RETENTION_HOURS", "24")),
        build_runner=env.get("DEPLOYD_BUILD_RUNNER", "local"),
        build_log_group=env.get("DEPLOYD_BUILD_LOG_GROUP", ""),
        sites_kvs_arn=env.get("DEPLOYD_SITES_KVS_ARN", ""),
        api_url_configured=bool(env.get("DEPLOYD_API_URL")),
        max_output_bytes=int(env.get("DEPLOYD_MAX_OUTPUT_BYTES", str(250 * 1024 * 1024))),
        max_output_files=int(env.get("DEPLOYD_MAX_OUTPUT_FILES", "20000")),
        max_build_log_bytes=int(env.get("DEPLOYD_MAX_BUILD_LOG_BYTES", str(2 * 1024 * 1024))),
        git_timeout_seconds=float(env.get("DEPLOYD_GIT_TIMEOUT_SECONDS", "10")),
        clone_timeout_seconds=float(env.get("DEPLOYD_CLONE_TIMEOUT_SECONDS", "300")),
        allow_private_addresses=env.get("DEPLOYD_ALLOW_PRIVATE_ADDRESSES", "false").lower() == "true",
        admin_token_secret_arn=env.get("DEPLOYD_ADMIN_TOKEN_SECRET_ARN", ""),
        build_workspace_root=env.get("DEPLOYD_BUILD_WORKSPACE_ROOT", ""),
        webhook_retry_seconds=_seconds_list(env.get("DEPLOYD_WEBHOOK_RETRY_SECONDS"), WEBHOOK_RETRY_SECONDS),
        webhook_allow_private_targets=env.get("DEPLOYD_WEBHOOK_ALLOW_PRIVATE_TARGETS", "false").lower() == "true",
        slack_signing_secret=env.get("DEPLOYD_SLACK_SIGNING_SECRET", ""),
        slack_client_id=env.get("DEPLOYD_SLACK_CLIENT_ID", ""),
        slack_client_secret=env.get("DEPLOYD_SLACK_CLIENT_SECRET", ""),
        slack_api_url=env.get("DEPLOYD_SLACK_API_URL", "https://slack.com/api/"),
        slack_signing_secret_arn=env.get("DEPLOYD_SLACK_SIGNING_SECRET_ARN", ""),
        slack_client_secret_arn=env.get("DEPLOYD_SLACK_CLIENT_SECRET_ARN", ""),
        promotion_state_machine_arn=env.get("DEPLOYD_PROMOTION_STATE_MACHINE_ARN", ""),
    )
