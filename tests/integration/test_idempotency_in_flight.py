"""A retry that arrives while the first request with its Idempotency-Key is still executing, over HTTP against the
in-process embedded stack: the first request's service is held until the test lets it finish."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests


def test_a_retry_while_the_first_executes_gets_409_then_the_replay(
    stack: Any, api_key: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.services import webhooks

    _, headers = api_key
    url = f"{stack.api_url}/api/v1/public/webhooks"
    keyed = {**headers, "Idempotency-Key": "create-hook-1"}
    body = {"url": "https://hooks.example.com/in-flight"}

    # Given a first request still creating its webhook
    executing, finish = threading.Event(), threading.Event()
    create = webhooks.create

    def held(*args: Any, **kwargs: Any) -> Any:
        executing.set()
        assert finish.wait(20)
        return create(*args, **kwargs)

    monkeypatch.setattr(webhooks, "create", held)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(requests.post, url, json=body, headers=keyed, timeout=30)
        try:
            assert executing.wait(20)

            # When the client retries meanwhile
            retry = requests.post(url, json=body, headers=keyed, timeout=30)
        finally:
            finish.set()
        created = first.result()

    # Then the retry is told the key is in use and to come back in a second, in the native error format
    assert retry.status_code == 409, retry.text
    assert retry.json()["error"]["code"] == "idempotency_key_in_use"
    assert retry.headers["Retry-After"] == "1"
    # And once the first finished, a retry gets its answer (the one-time secret included), not a second webhook
    assert created.status_code == 201, created.text
    replayed = requests.post(url, json=body, headers=keyed, timeout=30)
    # the same answer, its one-time secret masked (a secret is stored only as a hash, never for a replay)
    first = created.json()["data"]
    assert first["secret"].startswith("whsec_")
    assert (replayed.status_code, replayed.json()) == (201, {"data": {**first, "secret": "****************"}})
    assert replayed.headers["Idempotent-Replayed"] == "true"
    listed = requests.get(url, headers=headers, timeout=10).json()
    assert [hook["id"] for hook in listed["data"]] == [created.json()["data"]["id"]]
