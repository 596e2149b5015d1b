"""Cached boto3 clients, created on first use so that importing the app makes no client and no call.

Endpoints are the SDK's own business: on AWS the defaults, in the embedded stack AWS_ENDPOINT_URL
points every client (boto3 and PynamoDB alike) at the in-process moto server.
"""

from __future__ import annotations

import functools
from typing import Any

from chalicelib.settings import get_settings


@functools.cache
def _loader() -> Any:
    """botocore's reader of its service models and endpoint rules, shared by every session made here: it
    caches what it parsed, so a second service's client (or a session made anew after reset_clients) does not
    parse botocore's endpoint and partition files again (about 0.1 s a session)."""
    from botocore.loaders import create_loader

    return create_loader()


def botocore_session() -> Any:
    """A new botocore session (credentials and endpoints resolved afresh) reading through the shared loader;
    PynamoDB makes its sessions here too (chalicelib.models.base).

    Its clients send a fixed User-Agent (botocore's `user_agent` setting): botocore otherwise builds the header
    anew twice for every request, sanitizing each of a dozen components character by character, about a twentieth
    of a request's CPU on the client side (yappi on `bench.pipeline throughput`)."""
    import botocore
    import botocore.session
    from botocore.config import Config

    session = botocore.session.get_session()
    session.register_component("data_loader", _loader())
    session.set_default_client_config(Config(user_agent=f"deployd botocore/{botocore.__version__}"))
    return session


def _session() -> Any:
    import boto3  # deferred: boto3 costs ~100 ms to import on a cold start

    return boto3.session.Session(botocore_session=botocore_session())


@functools.cache
def client(service: str) -> Any:
    return _session().client(service, region_name=get_settings().region)


@functools.cache
def s3_signer() -> Any:
    """An S3 client that presigns with SigV4 (botocore may otherwise sign a POST policy with SigV2, which newer
    regions refuse)."""
    from botocore.config import Config

    return _session().client("s3", region_name=get_settings().region, config=Config(signature_version="s3v4"))


def reset_clients() -> None:
    client.cache_clear()
    s3_signer.cache_clear()
    _secret_string.cache_clear()
    queue_url.cache_clear()


@functools.cache
def _secret_string(arn: str) -> str:
    return str(client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])


def admin_token() -> str:
    """The platform admin's token: on AWS the secret's value, read once per container (a rotated token reaches
    a container when Lambda starts a new one, e.g. after any update of the function); else the setting."""
    settings = get_settings()
    if settings.admin_token_secret_arn:
        return _secret_string(settings.admin_token_secret_arn)
    return settings.admin_token


def slack_signing_secret() -> str:
    """The Slack app's signing secret: on AWS its Secrets Manager secret, else the setting ("": Slack is off)."""
    settings = get_settings()
    if settings.slack_signing_secret_arn:
        return _secret_string(settings.slack_signing_secret_arn)
    return settings.slack_signing_secret


def slack_client_secret() -> str:
    """The Slack app's OAuth client secret: on AWS its Secrets Manager secret, else the setting."""
    settings = get_settings()
    if settings.slack_client_secret_arn:
        return _secret_string(settings.slack_client_secret_arn)
    return settings.slack_client_secret


@functools.cache
def queue_url(logical: str) -> str:
    """The URL of the stack's queue `logical`, asked once per container: it does not change while the queue lives."""
    return str(client("sqs").get_queue_url(QueueName=get_settings().resource_name(logical))["QueueUrl"])
