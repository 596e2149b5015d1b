"""A fake Slack Web API on loopback, for tests: what deployd calls (oauth.v2.access, chat.postMessage,
chat.update) and the response_url posts of slash commands and buttons, answered as Slack answers them and
recorded for assertions.

Point deployd at it with DEPLOYD_SLACK_API_URL=fake.api_url; hand out response URLs with fake.response_url().
Scripted failures: fake.fail("chat.update", error="ratelimited", status=429, retry_after=1) answers the next
call of that method so; fake.revoke(token) answers every later call made with that token `token_revoked`.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

TEAM_ID = "T0FAKE0001"
TEAM_NAME = "Fake Workspace"
BOT_USER_ID = "U0FAKEBOT1"


@dataclass(frozen=True)
class Call:
    """One request the fake got: the Web API method (or "response_url"), the bearer token, the parameters."""

    method: str
    token: str | None
    params: dict[str, Any]
    path: str = ""
    at: float = field(default_factory=time.monotonic)  # when it arrived (time.monotonic)


@dataclass
class Failure:
    error: str
    status: int = 200
    retry_after: int | None = None


@dataclass
class Message:
    """A message as the fake channel holds it: edited in place by chat.update."""

    channel: str
    ts: str
    text: str
    blocks: list[Any] = field(default_factory=list)
    edits: int = 0


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self.codes: dict[str, tuple[str, str, str]] = {}  # OAuth code -> (bot token, team id, team name)
        self.client_id = "1234.5678"
        self.client_secret = "fake-client-secret"
        self._failures: dict[str, list[Failure]] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._response_ids = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                status, headers, body = fake._answer(self.path, dict(self.headers.items()), raw)
                payload = json.dumps(body).encode() if body is not None else b"ok"
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if body is not None else "text/plain")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]

    # --- for tests ---
    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/response/{next(self._response_ids)}"

    def grant(
        self, code: str, bot_token: str = "xoxb-fake-token", team_id: str = TEAM_ID, team_name: str = TEAM_NAME
    ) -> None:
        """The next oauth.v2.access with `code` succeeds and hands out `bot_token` for that workspace."""
        self.codes[code] = (bot_token, team_id, team_name)

    def fail(self, method: str, error: str, status: int = 200, retry_after: int | None = None) -> None:
        with self._lock:
            self._failures.setdefault(method, []).append(Failure(error, status, retry_after))

    def revoke(self, token: str) -> None:
        with self._lock:
            self._revoked.add(token)

    def calls_of(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def responses_to(self, response_url: str) -> list[dict[str, Any]]:
        path = urlparse(response_url).path
        with self._lock:
            return [call.params for call in self.calls if call.method == "response_url" and call.path == path]

    def wait_for(self, predicate: Any, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"fake Slack never saw what the test waited for; calls: {self.calls[-10:]}")
            time.sleep(0.02)

    # --- the server ---
    def _answer(self, path: str, headers: dict[str, str], raw: str) -> tuple[int, dict[str, str], Any]:
        lowered = {name.lower(): value for name, value in headers.items()}
        params = _params(lowered.get("content-type", ""), raw)
        if path.startswith("/response/"):
            with self._lock:
                self.calls.append(Call("response_url", None, params, path))
            return 200, {}, None
        method = path.removeprefix("/api/").strip("/")
        authorization = lowered.get("authorization", "")
        token = authorization.removeprefix("Bearer ") if authorization.startswith("Bearer ") else None
        with self._lock:
            self.calls.append(Call(method, token, params, path))
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
            revoked = token is not None and token in self._revoked
        if failure is not None:
            extra = {"Retry-After": str(failure.retry_after)} if failure.retry_after is not None else {}
            return failure.status, extra, {"ok": False, "error": failure.error}
        if revoked:
            return 200, {}, {"ok": False, "error": "token_revoked"}
        if method == "oauth.v2.access":
            return 200, {}, self._oauth(authorization, params)
        if token is None:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if method == "chat.postMessage":
            return 200, {}, self._post(params)
        if method == "chat.update":
            return 200, {}, self._update(params)
        return 200, {}, {"ok": False, "error": "unknown_method"}

    def _oauth(self, authorization: str, params: dict[str, Any]) -> dict[str, Any]:
        client_id, client_secret = params.get("client_id"), params.get("client_secret")
        if authorization.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
        if (client_id, client_secret) != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        with self._lock:
            granted = self.codes.pop(str(params.get("code")), None)
        if granted is None:
            return {"ok": False, "error": "invalid_code"}
        token, team_id, team_name = granted
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": "commands,chat:write",
            "bot_user_id": BOT_USER_ID,
            "app_id": "A0FAKEAPP1",
            "team": {"id": team_id, "name": team_name},
            "enterprise": None,
            "authed_user": {"id": "U0INSTALLER"},
        }

    def _post(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = Message(channel, ts, str(params.get("text") or ""), list(params.get("blocks") or []))
        with self._lock:
            self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": message.text, "ts": ts}}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        key = (str(params.get("channel") or ""), str(params.get("ts") or ""))
        with self._lock:
            message = self.messages.get(key)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message.text = str(params.get("text") or message.text)
            message.blocks = list(params.get("blocks") or message.blocks)
            message.edits += 1
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message.text}

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _params(content_type: str, raw: str) -> dict[str, Any]:
    if "json" in content_type:
        return dict(json.loads(raw or "{}"))
    parsed = {key: values[0] if len(values) == 1 else values for key, values in parse_qs(raw).items()}
    for key in ("blocks", "attachments"):  # form posts carry these as JSON text
        if isinstance(parsed.get(key), str):
            parsed[key] = json.loads(parsed[key])
    return parsed


@contextmanager
def running() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
