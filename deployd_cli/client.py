"""The native API over HTTP: every answer's `data`, or a CliError whose one line says what went wrong and what to
do (the HTTP status and the API's own message; connection, URL, key and rate-limit failures each their own)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

from deployd_cli.config import Credentials
from deployd_cli.errors import CliError

PREFIX = "/api/v1/public"
TIMEOUT_SECONDS = 30
USER_AGENT = "deployd-cli/0.1.0"


def segment(value: str | int) -> str:
    """A path segment: a branch such as feature/login stays one segment."""
    return quote(str(value), safe="")


def _connection_problem(exc: requests.ConnectionError) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "resolve" in text or "Name or service not known" in text or "nodename nor servname" in text:
        return "host not found"
    return "connection failed"


class ApiClient:
    """One organization's native API. `wait_on_limit`: a 429 waits for its Retry-After and retries, telling
    `notice` so, instead of failing."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        wait_on_limit: bool = False,
        notice: Callable[[str], None] = lambda _: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base = credentials.api_url
        self.wait_on_limit = wait_on_limit
        self._notice = notice
        self._sleep = sleep
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"Bearer {credentials.token}", "User-Agent": USER_AGENT})

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body=body or {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        """The answer's `data` (None for 204); the whole answer for lists (`data` and `meta`) is `request_page`."""
        answer = self.request_page(method, path, body=body, params=params)
        return None if answer is None else answer["data"]

    def request_page(
        self, method: str, path: str, *, body: Any = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        url = f"{self.base}{PREFIX}{path}"
        while True:
            response = self._send(method, url, body, params)
            if response.status_code == 429 and self.wait_on_limit:
                wait = _retry_after(response)
                self._notice(f"rate limited ({_error_message(response)}); waiting {wait} s as Retry-After asks")
                self._sleep(wait)
                continue
            return _answer(response)

    def _send(self, method: str, url: str, body: Any, params: dict[str, Any] | None) -> requests.Response:
        try:
            return self._session.request(method, url, json=body, params=params, timeout=TIMEOUT_SECONDS)
        except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema) as exc:
            raise CliError(f"invalid API URL {self.base!r}: it must start with http:// or https://") from exc
        except (requests.exceptions.InvalidURL, ValueError) as exc:
            raise CliError(f"invalid API URL {self.base!r}: {exc}") from exc
        except requests.Timeout as exc:
            raise CliError(f"the deployd API at {self.base} did not answer within {TIMEOUT_SECONDS} s") from exc
        except requests.ConnectionError as exc:
            raise CliError(f"cannot reach the deployd API at {self.base}: {_connection_problem(exc)}") from exc


def _retry_after(response: requests.Response) -> int:
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else 1


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _error_message(response: requests.Response) -> str:
    body = _body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return ""
    field = error.get("field")
    return f"{error['message']} (field {field})" if field else str(error["message"])


def _answer(response: requests.Response) -> dict[str, Any] | None:
    status = response.status_code
    if status == 204:
        return None
    body = _body(response)
    if 200 <= status < 300:
        if isinstance(body, dict) and "data" in body:
            return body
        raise CliError(f"HTTP {status} from {response.url} is not a deployd API answer; is the API URL right?")
    message = _error_message(response)
    if not message:
        raise CliError(f"HTTP {status} from {response.url} is not a deployd API answer; is the API URL right?")
    if status == 401:
        raise CliError(
            f"HTTP 401: {message}; the key was refused (revoked, expired or mistyped): "
            "run `deployd login` or check DEPLOYD_TOKEN"
        )
    if status == 429:
        raise CliError(
            f"HTTP 429: rate limited: {message}; retry in {_retry_after(response)} s, or pass --wait-on-limit"
        )
    raise CliError(f"HTTP {status}: {message}")
