"""The single definition of every AWS resource deployd uses.

The embedded stack provisions from these objects (chalicelib.local.provision), and the AWS template
is generated from them too, so the two cannot drift. Logic never spells a physical name: it asks
Settings.resource_name(logical) for it.

Every function's cold start reads this catalogue (the models name their tables from it), so its types are
NamedTuples: a frozen dataclass compiles six methods when its class is made, about 0.6 ms each time a Lambda
function starts; a NamedTuple is made from one template. deployd's other immutable value types on a cold start's
path (settings, the HTTP edge's, the build's) are NamedTuples for the same reason. The module's annotations are
evaluated, not postponed (no `from __future__ import annotations`): a NamedTuple field annotated by a string
compiles that string when its class is made, about 0.1 ms a class here.
"""

from typing import Literal, NamedTuple

AttributeType = Literal["S", "N"]


class Key(NamedTuple):
    name: str
    type: AttributeType


class Index(NamedTuple):
    name: str
    hash_key: Key
    range_key: Key | None = None


class Table(NamedTuple):
    logical: str
    hash_key: Key
    range_key: Key | None = None
    indexes: tuple[Index, ...] = ()
    ttl_attribute: str | None = None  # items whose epoch-seconds value here has passed are deleted by DynamoDB
    stream_view: Literal["KEYS_ONLY", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES"] | None = None

    def attribute_definitions(self) -> list[Key]:
        keys = [self.hash_key, self.range_key] + [k for i in self.indexes for k in (i.hash_key, i.range_key)]
        seen: dict[str, Key] = {}
        for key in keys:
            if key is not None:
                seen.setdefault(key.name, key)
        return list(seen.values())


class Queue(NamedTuple):
    logical: str
    visibility_timeout_seconds: int
    max_receive_count: int = 3
    message_retention_seconds: int = 4 * 24 * 3600
    # SQS keeps a message's original enqueue time when it moves it to the dead-letter queue, so the DLQ
    # must retain longer than the queue itself or failed messages expire before anyone looks at them.
    dead_letter_retention_seconds: int = 14 * 24 * 3600

    @property
    def dead_letter_logical(self) -> str:
        return f"{self.logical}-dlq"


class Expiry(NamedTuple):
    """S3 deletes the objects under `prefix` `days` after they were written (a lifecycle rule)."""

    prefix: str
    days: int

    @property
    def rule_id(self) -> str:
        return "expire-" + self.prefix.strip("/").replace("/", "-")


class Bucket(NamedTuple):
    logical: str
    expiries: tuple[Expiry, ...] = ()


class StateMachine(NamedTuple):
    logical: str


class BuildProject(NamedTuple):
    """The CodeBuild project builds run in on AWS (the embedded stack runs them as local processes)."""

    logical: str
    image: str = "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    compute_type: str = "BUILD_GENERAL1_SMALL"
    log_retention_days: int = 30


class Schedule(NamedTuple):
    """A scheduled handler: EventBridge's rule on AWS, the embedded stack's timer locally."""

    logical: str
    every_minutes: int

    @property
    def expression(self) -> str:
        return f"rate({self.every_minutes} minute{'s' if self.every_minutes != 1 else ''})"


class EncryptionKey(NamedTuple):
    """A KMS key (with the alias `alias/<physical name>`) that encrypts secrets deployd keeps in its tables."""

    logical: str
    description: str

    @staticmethod
    def alias(physical_name: str) -> str:
        """The alias code names the key by (KMS accepts it wherever a key id goes)."""
        return f"alias/{physical_name}"


class SiteDistribution(NamedTuple):
    """CloudFront in front of a bucket: a CloudFront Function maps the request's host label to the artifact
    prefix its KeyValueStore holds for it (a mirror of the routes table), so a rollback is a pointer switch."""

    logical: str
    origin: Bucket
    routes: Table


ORGANIZATIONS = Table("orgs", Key("slug", "S"))
API_KEYS = Table("api-keys", Key("key_id", "S"))
# Atomic counters (numeric ids) and uniqueness claims (project slugs) share one small table.
# Rate-limit counters live here too, and expire through the TTL attribute.
REGISTRY = Table("registry", Key("name", "S"), ttl_attribute="expires_at")
PROJECTS = Table(
    "projects",
    Key("id", "N"),
    indexes=(
        Index("by-org", Key("org_slug", "S"), Key("slug", "S")),
        Index("by-schedule", Key("schedule_bucket", "S"), Key("id", "N")),
    ),
)
# Its stream (old and new images) is the event stream webhooks are delivered from (workers.deployment_stream).
DEPLOYMENTS = Table(
    "deployments",
    Key("id", "N"),
    indexes=(Index("by-project", Key("project_id", "N"), Key("seq", "N")),),
    stream_view="NEW_AND_OLD_IMAGES",
)
# GitHub-style deployment statuses, newest last by id (ids come from one global sequence).
DEPLOYMENT_STATUSES = Table("deployment-statuses", Key("deployment_id", "N"), Key("id", "N"))
ENVIRONMENTS = Table("environments", Key("project_id", "N"), Key("name", "S"))
# Deployments waiting for one of their organization's build slots, oldest first ("<enqueued ms>#<id>").
SLOT_WAITS = Table("slot-waits", Key("org_slug", "S"), Key("position", "S"))
# Host label -> artifact prefix: what CloudFront's KeyValueStore holds on AWS. Its stream feeds the
# function that mirrors every change into the KeyValueStore (keys only: the mirror reads the current row).
ROUTES = Table("routes", Key("host", "S"), stream_view="KEYS_ONLY")
# Outbound webhook subscriptions, whichever dialect registered them (native, GitHub, GitLab).
WEBHOOKS = Table("webhooks", Key("id", "N"), indexes=(Index("by-org", Key("org_slug", "S"), Key("id", "N")),))
# One item per message to one webhook (its webhook-id), with every attempt; kept 30 days (TTL).
WEBHOOK_DELIVERIES = Table("webhook-deliveries", Key("webhook_id", "N"), Key("id", "S"), ttl_attribute="expires_at")
# The Slack workspace each organization connected (at most one), found by the workspace's team id too.
SLACK_INSTALLATIONS = Table(
    "slack-installations", Key("org_slug", "S"), indexes=(Index("by-team", Key("team_id", "S")),)
)
# Slack channels that get the live message of every deployment of a project (or of all), per organization.
SLACK_SUBSCRIPTIONS = Table("slack-subscriptions", Key("org_slug", "S"), Key("target", "S"))
# The one live message of a deployment in a Slack channel ("<team>:<channel>"): its ts, the last event sequence it
# shows, and the lease of whoever is posting or editing it; kept 30 days (TTL).
SLACK_LIVE_MESSAGES = Table(
    "slack-live-messages", Key("deployment_id", "N"), Key("channel", "S"), ttl_attribute="expires_at"
)
# Idempotency-Key records of the API's POSTs (Powertools' idempotency utility: partition key `id`, the stored
# response, its status); DynamoDB deletes each one after 24 hours through the TTL on `expiration`.
IDEMPOTENCY = Table("idempotency", Key("id", "S"), ttl_attribute="expiration")

# Deploy hooks: a secret URL that triggers a build of a project's branch. Keyed by the SHA-256 of the URL's secret
# (the secret itself is never stored), so a call finds its hook with one consistent read; listed by project.
DEPLOY_HOOKS = Table(
    "deploy-hooks", Key("digest", "S"), indexes=(Index("by-project", Key("project_id", "N"), Key("id", "N")),)
)

# Every change of what an environment serves (models.promotion), by project and id (newest last); the
# by-environment index lists one environment's ("<project_id>#<environment>").
PROMOTIONS = Table(
    "promotions",
    Key("project_id", "N"),
    Key("id", "N"),
    indexes=(Index("by-environment", Key("environment_key", "S"), Key("id", "N")),),
)

TABLES: tuple[Table, ...] = (
    ORGANIZATIONS,
    API_KEYS,
    REGISTRY,
    PROJECTS,
    DEPLOYMENTS,
    DEPLOYMENT_STATUSES,
    ENVIRONMENTS,
    SLOT_WAITS,
    ROUTES,
    WEBHOOKS,
    WEBHOOK_DELIVERIES,
    SLACK_INSTALLATIONS,
    SLACK_SUBSCRIPTIONS,
    SLACK_LIVE_MESSAGES,
    DEPLOY_HOOKS,
    IDEMPOTENCY,
    PROMOTIONS,
)

# A build message is the state machine's Build task waiting for its token. Redelivered (its worker crashed or
# timed out before the claim), it is only of use while that task still waits, so the message comes back no
# later than the shortest Build task times out on AWS: CodeBuild's 5-minute minimum plus the pipeline margin
# (tests/unit/test_package.py). That is still twice the worker function's timeout, which it must exceed. A
# local build running longer than this in the embedded stack sees its message redelivered once; the claim
# (queued -> cloning) makes that delivery a no-op that only deletes the message.
BUILD_QUEUE = Queue("builds", visibility_timeout_seconds=600)
ACTIVATION_QUEUE = Queue("activations", visibility_timeout_seconds=60)
# One message per delivery attempt due ({"webhook_id", "delivery_id"}); retries come back with a delay. An
# attempt takes at most 15 s, so a message a crashed worker held is visible again well within a minute.
WEBHOOK_QUEUE = Queue("webhook-deliveries", visibility_timeout_seconds=60, max_receive_count=5)
# The slow half of a Slack slash command or button: acknowledged within Slack's 3 seconds by the API, done by
# its worker, which answers through the request's response_url (valid 30 minutes; a retry well within that).
SLACK_COMMAND_QUEUE = Queue("slack-commands", visibility_timeout_seconds=60, max_receive_count=3)
# One message per live Slack message to post or edit ({"org_slug", "deployment_id", "team_id", "channel_id",
# "sequence", "attempt"}); a Slack call takes at most 10 s, retries come back with a delay (Retry-After).
SLACK_NOTIFY_QUEUE = Queue("slack-notifications", visibility_timeout_seconds=60, max_receive_count=5)
# The promotions' steps (verify the candidate, switch, verify the live URL, revert), each a task token of the
# promotion flow; a step takes at most a few seconds (three health-check attempts of at most 2 s each).
PROMOTION_QUEUE = Queue("promotions", visibility_timeout_seconds=60)
QUEUES: tuple[Queue, ...] = (
    BUILD_QUEUE,
    ACTIVATION_QUEUE,
    WEBHOOK_QUEUE,
    SLACK_COMMAND_QUEUE,
    SLACK_NOTIFY_QUEUE,
    PROMOTION_QUEUE,
)

# What a CodeBuild build uploads waits under the sites bucket's staging prefix until the build-events handler
# promotes it into the deployment's artifact prefix (chalicelib.adapters.build_output). CloudFront reads
# only `deployments/`, so staged files are never served; what is left behind expires after a day.
STAGING_PREFIX = "staging/"
SITES_BUCKET = Bucket("sites", expiries=(Expiry(STAGING_PREFIX, days=1),))
BUILD_LOGS_BUCKET = Bucket("build-logs")
BUCKETS: tuple[Bucket, ...] = (SITES_BUCKET, BUILD_LOGS_BUCKET)

PIPELINE = StateMachine("deployment-pipeline")
# One execution per promotion: verify the candidate -> switch -> verify the live URL -> done, rejected or reverted.
PROMOTION_FLOW = StateMachine("promotion-flow")
STATE_MACHINES: tuple[StateMachine, ...] = (PIPELINE, PROMOTION_FLOW)

BUILD_PROJECT = BuildProject("build-project")
BUILD_PROJECTS: tuple[BuildProject, ...] = (BUILD_PROJECT,)

# Scheduled rebuilds, retention and other periodic upkeep (chalicelib.services.schedules).
PREVIEW_SCHEDULE = Schedule("preview-scheduler", every_minutes=1)
SCHEDULES: tuple[Schedule, ...] = (PREVIEW_SCHEDULE,)

# Encrypts the bot token of every Slack installation (services.slack_installations).
SLACK_TOKEN_KEY = EncryptionKey("slack-tokens", "deployd: encrypts Slack bot tokens at rest")
ENCRYPTION_KEYS: tuple[EncryptionKey, ...] = (SLACK_TOKEN_KEY,)

SITES_CDN = SiteDistribution("sites-cdn", origin=SITES_BUCKET, routes=ROUTES)
DISTRIBUTIONS: tuple[SiteDistribution, ...] = (SITES_CDN,)


class Catalogue(NamedTuple):
    tables: tuple[Table, ...] = TABLES
    queues: tuple[Queue, ...] = QUEUES
    buckets: tuple[Bucket, ...] = BUCKETS
    state_machines: tuple[StateMachine, ...] = STATE_MACHINES
    build_projects: tuple[BuildProject, ...] = BUILD_PROJECTS
    schedules: tuple[Schedule, ...] = SCHEDULES
    distributions: tuple[SiteDistribution, ...] = DISTRIBUTIONS
    encryption_keys: tuple[EncryptionKey, ...] = ENCRYPTION_KEYS


CATALOGUE = Catalogue()
