"""Idempotency-Key: the rules of a key, what makes a retry the same request, and the records Powertools keeps
(on moto's DynamoDB, in the catalogue's table), down to a route declared through an idempotent dialect."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chalice import Chalice, Response
from chalice.app import Request
from chalice.test import Client

from chalicelib.api.dialect import KEYED, Caller, Dialect
from chalicelib.api.http import json_response
from chalicelib.api.metering import Meter
from chalicelib.api.renderers import NATIVE
from chalicelib.errors import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidInput, NotFound
from chalicelib.services import idempotency
from chalicelib.services.auth import Principal

# ---- the key's rules ----


@pytest.mark.parametrize("key", ["k", "x" * 255, "order 42/retry:#1", "550e8400-e29b-41d4-a716-446655440000", "~!"])
def test_a_key_of_1_to_255_printable_ascii_characters_is_accepted(key: str) -> None:
    assert idempotency.valid_key(key) == key


@pytest.mark.parametrize("key", ["", "x" * 256, "clé", "tab\there", "bell\x07", "del\x7f", "emoji-🔑"])
def test_any_other_key_is_invalid_input_naming_the_header(key: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        idempotency.valid_key(key)
    assert refused.value.field == "Idempotency-Key"
    assert "1 to 255 printable ASCII" in refused.value.message


def test_a_retry_is_the_same_method_path_query_and_json_content() -> None:
    path = "/api/v1/public/projects/7/deployments"
    # Given a request
    first = idempotency.fingerprint("POST", path, {}, b'{"branch": "main", "a": 1}')

    # Then the same JSON written another way is the same request
    assert idempotency.fingerprint("post", path, None, '{"a":1,"branch":"main"}') == first
    # And another body, path, method or query is another request
    others = [
        idempotency.fingerprint("POST", path, {}, b'{"branch": "dev", "a": 1}'),
        idempotency.fingerprint("POST", path.replace("7", "8"), {}, b'{"branch": "main", "a": 1}'),
        idempotency.fingerprint("PUT", path, {}, b'{"branch": "main", "a": 1}'),
        idempotency.fingerprint("POST", path, {"x": "1"}, b'{"branch": "main", "a": 1}'),
        idempotency.fingerprint("POST", path, {}, b""),
    ]
    assert first not in others and len(set(others)) == len(others)


# ---- the records (Powertools' DynamoDB persistence layer on moto) ----


class Invocation:
    """A Lambda context with `remaining_ms` left before the invocation times out."""

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def once(org: str, key: str, fp: str, work: Callable[[], dict[str, Any]], context: Any = None) -> Any:
    return idempotency.once(org, key, fp, work, context or Invocation())


class Work:
    """A unit of work that counts its executions and answers with the count."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self) -> dict[str, Any]:
        self.runs += 1
        return {"status": 201, "run": self.runs}


def test_a_retry_gets_the_first_result_without_executing_again(tables: None) -> None:
    # Given work done once under a key
    work = Work()
    first = once("acme", "key-1", "fp", work)

    # When it is retried with the same key and request
    retry = once("acme", "key-1", "fp", work)

    # Then the first result is replayed and the work ran once
    assert (first.result, first.replayed) == ({"status": 201, "run": 1}, False)
    assert (retry.result, retry.replayed) == ({"status": 201, "run": 1}, True)
    assert work.runs == 1


def test_keys_are_scoped_to_the_organization(tables: None) -> None:
    work = Work()
    once("acme", "shared-key", "fp", work)

    # When another organization sends the same key (for another request, even)
    other = once("globex", "shared-key", "another fp", work)

    # Then it is a first request of its own
    assert (other.result, other.replayed) == ({"status": 201, "run": 2}, False)


def test_the_same_key_with_another_request_is_refused(tables: None) -> None:
    work = Work()
    once("acme", "key-1", "fp", work)

    with pytest.raises(IdempotencyKeyReused) as refused:
        once("acme", "key-1", "another fp", work)

    assert refused.value.code == "idempotency_key_reused"
    assert work.runs == 1


def test_work_that_fails_stores_nothing(tables: None) -> None:
    # Given a first attempt refused with a domain error
    def refuse() -> dict[str, Any]:
        raise NotFound("project 7 not found")

    with pytest.raises(NotFound):
        once("acme", "key-1", "fp", refuse)

    # When the same key comes back, with the same request or a corrected one
    work = Work()
    retried = once("acme", "key-1", "corrected fp", work)

    # Then it executes: nothing was kept of the refusal
    assert (retried.result, retried.replayed) == ({"status": 201, "run": 1}, False)


def test_a_retry_while_the_first_still_executes_is_told_the_key_is_in_use(tables: None) -> None:
    # Given a first request whose work is still running
    running, release = threading.Event(), threading.Event()
    results: list[Any] = []

    def slow() -> dict[str, Any]:
        running.set()
        assert release.wait(10)
        return {"status": 201}

    first = threading.Thread(target=lambda: results.append(once("acme", "key-1", "fp", slow)))
    first.start()
    try:
        assert running.wait(10)

        # When a retry arrives meanwhile
        with pytest.raises(IdempotencyKeyInUse) as refused:
            once("acme", "key-1", "fp", Work())
    finally:
        release.set()
        first.join(10)

    # Then it is told to come back in a second, and once the first finished, it gets the first's answer
    assert (refused.value.code, refused.value.retry_after) == ("idempotency_key_in_use", 1)
    assert results[0].replayed is False
    assert once("acme", "key-1", "fp", Work()).result == {"status": 201}


def test_a_first_request_that_died_mid_execution_holds_its_key_only_until_its_invocation_timed_out(
    tables: None,
) -> None:
    # Given a first request whose Lambda invocation timed out while it executed (its claim is left in progress)
    def dies() -> dict[str, Any]:
        raise SystemExit("the invocation timed out")

    with pytest.raises(SystemExit):
        once("acme", "key-1", "fp", dies, Invocation(remaining_ms=0))

    # When the client retries with the same key
    work = Work()
    retried = once("acme", "key-1", "fp", work)

    # Then the retry executes instead of being told the key is in use for a day
    assert (retried.result, retried.replayed) == ({"status": 201, "run": 1}, False)


# ---- the HTTP edge: any POST route declared through an idempotent dialect ----


def _admit_org(request: Request, meter: Meter, scope: str | None) -> Principal:
    return Principal("acme", "key-1", frozenset())


def _admit_anyone(request: Request, meter: Meter, scope: str | None) -> None:
    return None


@pytest.fixture
def probe(tables: None) -> Iterator[tuple[Client, Callable[[], int]]]:
    """A new dialect and routes that count their executions, as a route another change adds would be."""
    runs = {"count": 0}
    keyed = Dialect("probe", "/probe", NATIVE, _admit_org, bucket=None, idempotent=True)
    public = Dialect("public", "/public", NATIVE, _admit_anyone, bucket=None, idempotent=True)

    def created(caller: Caller) -> Response:
        runs["count"] += 1
        return json_response(201, {"data": {"run": runs["count"]}}, {"Location": f"/things/{runs['count']}"})

    def invalid(caller: Caller) -> Response:
        runs["count"] += 1
        raise InvalidInput("name: required", field="name")

    keyed.route("/things", methods=["POST"], scope=None)(created)

    def issued(caller: Caller) -> Response:
        runs["count"] += 1
        return json_response(201, {"data": {"id": runs["count"], "token": f"secret-{runs['count']}"}})

    keyed.route("/tokens", methods=["POST"], scope=None, one_time=("token",))(issued)
    keyed.route("/invalid", methods=["POST"], scope=None)(invalid)
    public.route("/hooks", methods=["POST"], scope=None)(created)
    app = Chalice(app_name="probe")
    keyed.mount(app)
    public.mount(app)
    with Client(app) as client:
        yield client, lambda: runs["count"]


def _post(client: Client, path: str, key: str | None, body: Any = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.http.post(path, headers=headers, body=json.dumps(body or {"name": "x"}))


def test_a_new_route_of_an_idempotent_dialect_replays_a_retry(probe: tuple[Client, Callable[[], int]]) -> None:
    client, runs = probe

    # When a POST is sent twice with one key
    first = _post(client, "/probe/things", "k-1")
    retry = _post(client, "/probe/things", "k-1")

    # Then the view ran once; the retry has the first's status, body and Location, marked as replayed
    assert runs() == 1
    assert (retry.status_code, retry.body, retry.headers["Location"]) == (201, first.body, "/things/1")
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    # And without a key, every request executes
    _post(client, "/probe/things", None)
    assert runs() == 2


def test_the_edge_answers_a_bad_key_and_a_reused_key_in_the_dialects_format(
    probe: tuple[Client, Callable[[], int]],
) -> None:
    client, runs = probe

    bad = _post(client, "/probe/things", "é")
    _post(client, "/probe/things", "k-1", {"name": "first"})
    reused = _post(client, "/probe/things", "k-1", {"name": "second"})

    assert bad.status_code == 400 and json.loads(bad.body)["error"]["field"] == "Idempotency-Key"
    assert reused.status_code == 422 and json.loads(reused.body)["error"]["code"] == "idempotency_key_reused"
    assert runs() == 1


def test_a_refused_request_keeps_nothing_of_its_key(probe: tuple[Client, Callable[[], int]]) -> None:
    client, runs = probe

    # Given a request refused as invalid under a key
    refused = _post(client, "/probe/invalid", "k-1")

    # When the key is used again for the corrected request
    corrected = _post(client, "/probe/things", "k-1")

    # Then the refusal was not replayed, and the corrected request executed
    assert refused.status_code == 400 and corrected.status_code == 201
    assert "Idempotent-Replayed" not in corrected.headers
    assert runs() == 2


def test_a_route_that_admits_no_organization_is_not_covered(probe: tuple[Client, Callable[[], int]]) -> None:
    client, runs = probe

    # When a public URL (a deploy hook's) is called twice with one key
    first, second = _post(client, "/public/hooks", "k-1"), _post(client, "/public/hooks", "k-1")

    # Then each call executes: keys are an organization's, and a public URL has none
    assert (first.status_code, second.status_code, runs()) == (201, 201, 2)
    assert "Idempotent-Replayed" not in second.headers


def test_every_post_of_the_native_api_and_mintlify_honours_idempotency_keys() -> None:
    from app import app

    # When the app's routes are walked
    posts = {
        path: getattr(entry.view_function, KEYED)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if method == "POST" and (path.startswith("/api/v1/public/") or path.startswith("/v1/"))
    }

    # Then every POST of the two dialects is covered, the triggers and the webhooks among them
    assert {
        "/api/v1/public/projects",
        "/api/v1/public/projects/{project_id}/deployments",
        "/api/v1/public/projects/{project_id}/deployments/{deployment_id}/cancel",
        "/api/v1/public/projects/{project_id}/deployments/{deployment_id}/rollback",
        "/api/v1/public/projects/{project_id}/previews",
        "/api/v1/public/webhooks",
        "/v1/project/preview/{project_id}",
        "/v1/project/update/{project_id}",
    } <= set(posts)
    assert [path for path, keyed in posts.items() if not keyed] == []


def test_a_secret_shown_once_is_not_stored_and_a_replay_shows_it_masked(
    probe: tuple[Client, Callable[[], int]],
) -> None:
    from chalicelib.api.idempotency import MASKED
    from chalicelib.aws import client as aws_client
    from chalicelib.infra.resources import IDEMPOTENCY
    from chalicelib.settings import get_settings

    client, runs = probe

    # When a request whose answer shows a secret once is retried with its key
    first = _post(client, "/probe/tokens", "k-secret")
    retry = _post(client, "/probe/tokens", "k-secret")

    # Then the first answer has the secret, the replay the same answer with the secret masked, and no record
    # holds the secret
    assert json.loads(first.body)["data"] == {"id": 1, "token": "secret-1"} and runs() == 1
    assert json.loads(retry.body)["data"] == {"id": 1, "token": MASKED}
    assert retry.headers["Idempotent-Replayed"] == "true"
    table = get_settings().resource_name(IDEMPOTENCY.logical)
    assert "secret-1" not in json.dumps(aws_client("dynamodb").scan(TableName=table)["Items"])
