"""Build logs: combined build output, kept in S3 per deployment and readable while the build runs.

A build that runs on CodeBuild writes its output to CloudWatch Logs instead; its log reads as deployd's own
lines (S3) followed by the build's stream, so the logs endpoints show one text whichever runner built it.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import deque

from chalicelib.aws import client
from chalicelib.infra.resources import BUILD_LOGS_BUCKET
from chalicelib.models.deployment import DeploymentRepository
from chalicelib.observability import logger
from chalicelib.pipeline import codebuild
from chalicelib.settings import get_settings

MAX_LOG_BYTES = 2 * 1024 * 1024
# GetLogEvents pages (up to 1 MB each) read for one log at most; the newest MAX_LOG_BYTES are kept.
MAX_LOG_PAGES = 100


def _location(deployment_id: int) -> tuple[str, str]:
    return get_settings().resource_name(BUILD_LOGS_BUCKET.logical), f"deployments/{deployment_id}.log"


def read(deployment_id: int) -> str:
    text = _read_platform_lines(deployment_id)
    if not get_settings().build_log_group:
        return text  # no CodeBuild here (the embedded stack): the worker wrote the whole log to S3
    deployment = DeploymentRepository.find(deployment_id)
    if deployment is None or not deployment.build_id:
        return text
    text += read_build_output(get_settings().build_log_group, codebuild.log_stream(deployment_id, deployment.build_id))
    if deployment.status == "failed" and deployment.error_message:
        text += f"==> Failed: {deployment.error_message}\n"  # as the worker ends a local build's log
    return text


def _read_platform_lines(deployment_id: int) -> str:
    bucket, key = _location(deployment_id)
    s3 = client("s3")
    try:
        return str(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace"))
    except s3.exceptions.NoSuchKey:
        return ""


def read_build_output(group: str, stream: str) -> str:
    """A CloudWatch Logs stream from its start, newest MAX_LOG_BYTES kept; empty until the build creates it."""
    logs = client("logs")
    kept: deque[str] = deque()
    size = dropped = 0
    token: str | None = None
    for _page in range(MAX_LOG_PAGES):
        request = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
        try:
            page = logs.get_log_events(**request, **({"nextToken": token} if token else {}))
        except logs.exceptions.ResourceNotFoundException:
            break
        for event in page.get("events", []):
            message = str(event.get("message", ""))
            kept.append(message if message.endswith("\n") else message + "\n")
            size += len(kept[-1].encode("utf-8"))
            while size > MAX_LOG_BYTES and len(kept) > 1:
                removed = len(kept.popleft().encode("utf-8"))
                size -= removed
                dropped += removed
        # At the end of the stream GetLogEvents hands back the token it was given (pages may be empty before).
        if page.get("nextForwardToken") in (None, token):
            break
        token = page["nextForwardToken"]
    head = f"[{dropped} earlier bytes of build output dropped]\n" if dropped else ""
    return head + "".join(kept)


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
