"""One HTTP POST to a webhook receiver, to an address checked at the moment of connecting.

The target's name is resolved on every attempt and the connection goes to the address that was checked (a
name that resolved to a public address at registration may resolve to 127.0.0.1 now). Redirects are never
followed: the answer, whatever it is, is the outcome.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from email.utils import parsedate_to_datetime
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from chalicelib.adapters.addresses import IPAddress, refusal_reason, resolve

# What deployd reads of an answer: the status is all that matters; the body only shows up in a log line.
_MAX_ANSWER_BYTES = 64 * 1024


class Outcome(NamedTuple):
    status_code: int | None  # None: no HTTP answer
    duration_ms: int
    error: str | None = None
    retry_after_seconds: float | None = None  # the answer's Retry-After, in seconds from now


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


def _target(host: str, allow_private: bool) -> IPAddress:
    """The address to connect to: the first one `host` resolves to, if every one of them is allowed."""
    addresses = resolve(host)
    if not addresses:
        raise OSError(f"{host} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refusal_reason(address)
            if reason is not None:
                raise PermissionError(f"{host} is or resolves to a {reason} address; deployd does not deliver there")
    return addresses[0]


def _tls(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:  # the hook's owner turned certificate checks off (GitLab's enable_ssl_verification: false)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connection(
    url: str, timeout: float, allow_private: bool, verify_tls: bool = True
) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    address = _target(host, allow_private)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    connection: http.client.HTTPConnection = (
        http.client.HTTPSConnection(host, port, timeout=timeout, context=_tls(verify_tls))
        if secure
        else http.client.HTTPConnection(host, port, timeout=timeout)
    )

    def connect_to_checked(_: Any, connect_timeout: Any = None, source: Any = None) -> socket.socket:
        # The Host header and TLS (SNI, certificate name) keep the name; the socket goes to the checked address.
        return socket.create_connection((str(address), port), connect_timeout, source)

    connection._create_connection = connect_to_checked  # type: ignore[attr-defined]
    path = parts.path or "/"
    return connection, f"{path}?{parts.query}" if parts.query else path


def post(
    url: str, body: str, headers: dict[str, str], *, timeout: float, allow_private: bool, verify_tls: bool = True
) -> Outcome:
    """POST `body` to `url`; never raises for what the network or the receiver does. `verify_tls` False accepts
    any certificate from an https receiver."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        connection, target = _connection(url, timeout, allow_private, verify_tls)
    except PermissionError as exc:
        return Outcome(None, elapsed(), str(exc))
    except (OSError, ValueError) as exc:
        return Outcome(None, elapsed(), f"could not resolve the target: {exc}")
    # The timeout bounds the whole attempt, not each read: a receiver dripping bytes is cut off all the same.
    deadline = threading.Timer(timeout, _cut, args=(connection,))
    deadline.daemon = True
    deadline.start()
    try:
        connection.request("POST", target, body=body.encode(), headers=headers)
        answer = connection.getresponse()
        answer.read(_MAX_ANSWER_BYTES)
        status = answer.status
        error = None
        if not 200 <= status < 300:
            location = answer.getheader("location")
            error = f"HTTP {status}" + (f" (redirect to {location} not followed)" if 300 <= status < 400 else "")
        return Outcome(status, elapsed(), error, _retry_after(answer.getheader("retry-after"), time.time()))
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, TimeoutError) or elapsed() >= timeout * 1000:
            return Outcome(None, elapsed(), f"no answer within {timeout:g} s")
        return Outcome(None, elapsed(), f"connection failed: {exc.__class__.__name__}: {exc}")
    finally:
        deadline.cancel()
        connection.close()


def _cut(connection: http.client.HTTPConnection) -> None:
    """End an attempt that outlived its timeout: the blocked read returns at once."""
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
