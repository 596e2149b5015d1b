"""Build logs: combined build output, kept in S3 per deployment and readable while the build runs."""

from __future__ import annotations

import contextvars
import threading
import time

from chalicelib.aws import client
from chalicelib.infra.resources import BUILD_LOGS_BUCKET
from chalicelib.observability import logger
from chalicelib.settings import get_settings

MAX_LOG_BYTES = 2 * 1024 * 1024


def _location(deployment_id: int) -> tuple[str, str]:
    return get_settings().resource_name(BUILD_LOGS_BUCKET.logical), f"deployments/{deployment_id}.log"


def read(deployment_id: int) -> str:
    bucket, key = _location(deployment_id)
    s3 = client("s3")
    try:
        return str(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace"))
    except s3.exceptions.NoSuchKey:
        return ""


class BuildLog:
    """Accumulates output and writes the whole log back at most every `flush_interval` seconds.

    Used as a context manager, a background thread also flushes pending output every interval, so a
    build that prints once and then works quietly is visible in the log while it runs. Logs past
    MAX_LOG_BYTES keep their newest part, with a line saying how much was dropped.
    """

    def __init__(self, deployment_id: int, flush_interval: float = 1.0) -> None:
        self._deployment_id = deployment_id
        self._flush_interval = flush_interval
        self._parts: list[tuple[str, int]] = []  # (text, its size in UTF-8 bytes)
        self._size = 0
        self._dropped = 0
        self._lock = threading.Lock()
        self._last_flush = float("-inf")
        self._dirty = False
        self._closed = threading.Event()
        self._flusher = threading.Thread(
            target=contextvars.copy_context().run,  # keeps the deployment's logging keys
            args=(self._flush_periodically,),
            name=f"log-{deployment_id}",
            daemon=True,
        )

    def __enter__(self) -> BuildLog:
        self._flusher.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._flusher.join(timeout=10)
        self.flush()

    def _flush_periodically(self) -> None:
        while not self._closed.wait(self._flush_interval):
            try:
                self.flush()
            except Exception:  # the next tick, or the final flush, writes it
                logger.exception("could not write the build log")

    def write(self, text: str) -> None:
        data = text.encode("utf-8")
        with self._lock:
            if len(data) > MAX_LOG_BYTES:  # one huge chunk: keep its tail
                tail = data[-MAX_LOG_BYTES:].decode("utf-8", "ignore")
                self._dropped += len(data) - len(tail.encode("utf-8"))
                text, data = tail, tail.encode("utf-8")
            self._parts.append((text, len(data)))
            self._size += len(data)
            self._dirty = True
            while self._size > MAX_LOG_BYTES and len(self._parts) > 1:
                _, dropped = self._parts.pop(0)
                self._size -= dropped
                self._dropped += dropped
        if time.monotonic() - self._last_flush >= self._flush_interval:
            self.flush()

    def line(self, text: str) -> None:
        self.write(f"==> {text}\n")

    def text(self) -> str:
        with self._lock:
            head = f"[{self._dropped} earlier bytes of output dropped]\n" if self._dropped else ""
            return head + "".join(text for text, _ in self._parts)

    def flush(self) -> None:
        with self._lock:
            if not self._dirty:
                return
            self._dirty = False
            self._last_flush = time.monotonic()
        bucket, key = _location(self._deployment_id)
        client("s3").put_object(
            Bucket=bucket, Key=key, Body=self.text().encode("utf-8"), ContentType="text/plain; charset=utf-8"
        )
