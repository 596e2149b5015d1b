"""What a test that runs moto's in-process AWS sets and forgets, so no client or connection outlives its mock."""

from __future__ import annotations

from chalicelib.aws import reset_clients
from chalicelib.models import reset_connections
from chalicelib.settings import get_settings

# AWS's own endpoint and fake credentials: an earlier suite's embedded stack may have left its endpoint behind.
MOCK_AWS_ENV: dict[str, str | None] = {
    "AWS_ENDPOINT_URL": None,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "DEPLOYD_RESOURCE_PREFIX": "deployd-test",
}


def forget_aws_state() -> None:
    """Drops the cached settings, boto3 clients and PynamoDB connections: the next use builds them anew."""
    get_settings.cache_clear()
    reset_clients()
    reset_connections()
