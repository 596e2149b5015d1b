"""Integration tests run against an in-process embedded stack: moto's server as AWS, the real pipeline
(state machine, SQS worker threads calling the Lambda handlers), and the Chalice API on loopback.
Tests call services directly or speak HTTP to it."""
from __future__ import annotations

import uuid
from typing import Any, Callable, Iterator

import pytest

from chalicelib.local.stack import EmbeddedStack, StackConfig, free_port


@pytest.fixture(scope="session")
def stack() -> Iterator[EmbeddedStack]:
    embedded = EmbeddedStack(
        StackConfig(
            api_port=free_port(),
            sites_port=free_port(),
            admin_token="test-admin-token",
            build_workers=2,
            extra_env={"DEPLOYD_HEARTBEAT_INTERVAL_SECONDS": "0.5"},
        )
    )
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture
def org_factory(stack: EmbeddedStack) -> Callable[..., Any]:
    """Creates an organization (unique slug) and returns it; services are called directly."""
    from chalicelib.services import organizations

    def make(plan: str = "pro") -> Any:
        return organizations.create(f"org-{uuid.uuid4().hex[:8]}", None, plan)

    return make
