"""Build logs: combined build output, kept in S3 per deployment and readable while the build runs.

A build that runs on CodeBuild writes its output to CloudWatch Logs instead; its log reads as deployd's own
lines (S3) followed by the build's stream, so the logs endpoints show one text whichever runner built it.
"""

from __future__ import annotations

import contextvars
import re
import threading
import time
from collections import deque
from typing import NamedTuple

from chalicelib.adapters import codebuild
from chalicelib.aws import client
from chalicelib.infra.resources import BUILD_LOGS_BUCKET
from chalicelib.observability import logger
from chalicelib.settings import get_settings

# GetLogEvents pages (up to 1 MB each) read for one log at most; the newest settings.max_build_log_bytes are kept.
MAX_LOG_PAGES = 100


def truncation_note(dropped: int, limit: int) -> str:
    """The first line of a log that outgrew its limit: what happened, how much, and which setting decides."""
    return (
        f"[log truncated: its first {dropped} bytes were dropped; the last {limit} bytes follow "
        "(limit DEPLOYD_MAX_BUILD_LOG_BYTES)]\n"
    )


_NOTE = re.compile(r"\[log truncated: its first (\d+) bytes were dropped; the last (\d+) bytes follow [^\n]*\]\n")


class LogPiece(NamedTuple):
    """Kept text of a log, starting `start` bytes into everything the build wrote to it (dropped bytes included)."""

    start: int
    data: bytes

    @property
    def end(self) -> int:
        return self.start + len(self.data)


class LogText(NamedTuple):
    """A build log as offsets into all its output: the kept pieces in order, a gap before a piece being what the
    size limit dropped. Offsets only grow while the build writes, so a reader that asks for the bytes from the
    offset it last reached sees each byte once (the logs endpoint's `offset`)."""

    pieces: tuple[LogPiece, ...]
    limit: int

    @property
    def end(self) -> int:
        return self.pieces[-1].end if self.pieces else 0

    def since(self, offset: int) -> str:
        """The log from byte `offset` on, with a truncation note for every dropped stretch it spans."""
        out: list[str] = []
        position = offset
        for piece in self.pieces:
            if piece.end <= position:
                continue
            if piece.start > position:
                out.append(truncation_note(piece.start - position, self.limit))
                position = piece.start
            out.append(piece.data[position - piece.start :].decode("utf-8", "replace"))
            position = piece.end
        return "".join(out)

    def text(self) -> str:
        return self.since(0)

    def followed_by(self, text: str) -> LogText:
        return LogText((*self.pieces, LogPiece(self.end, text.encode("utf-8"))), self.limit)


def _piece(text: str, start: int) -> LogPiece:
    """A stored log's text (after its truncation note, if it has one) placed after `start` bytes of earlier output."""
    note = _NOTE.match(text)
    dropped = int(note.group(1)) if note else 0
    return LogPiece(start + dropped, text[note.end() if note else 0 :].encode("utf-8"))


def _tail(data: bytes, limit: int) -> bytes:
    """The last `limit` bytes, not starting inside a UTF-8 character."""
    return data[-limit:].decode("utf-8", "ignore").encode("utf-8") if len(data) > limit else data


def _location(deployment_id: int) -> tuple[str, str]:
    return get_settings().resource_name(BUILD_LOGS_BUCKET.logical), f"deployments/{deployment_id}.log"


def read(deployment_id: int, build_id: str | None = None) -> str:
    """deployd's own lines (S3), followed by the CloudWatch stream of CodeBuild build `build_id` when the
    deployment was built there (settings.build_log_group names its log group)."""
    return read_log(deployment_id, build_id).text()


def read_log(deployment_id: int, build_id: str | None = None) -> LogText:
    """The log `read` gives, as offsets into all the output. On CodeBuild deployd's own lines are all written
    before the build starts, so the build's stream follows them and the offsets only grow."""
    platform = _piece(_read_platform_lines(deployment_id), 0)
    pieces = [platform]
    group = get_settings().build_log_group
    if group and build_id:
        pieces.append(_piece(read_build_output(group, codebuild.log_stream(deployment_id, build_id)), platform.end))
    return LogText(tuple(pieces), get_settings().max_build_log_bytes)


def _read_platform_lines(deployment_id: int) -> str:
    bucket, key = _location(deployment_id)
    s3 = client("s3")
    try:
        return str(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8", "replace"))
    except s3.exceptions.NoSuchKey:
        return ""


def read_build_output(group: str, stream: str) -> str:
    """A CloudWatch Logs stream from its start, newest settings.max_build_log_bytes kept; empty until the build
    creates it."""
    limit = get_settings().max_build_log_bytes
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
            while size > limit and len(kept) > 1:
                removed = len(kept.popleft().encode("utf-8"))
                size -= removed
                dropped += removed
        # At the end of the stream GetLogEvents hands back the token it was given (pages may be empty before).
        if page.get("nextForwardToken") in (None, token):
            break
        token = page["nextForwardToken"]
    text = "".join(kept).encode("utf-8")
    tail = _tail(text, limit)  # one event may be longer than the limit on its own
    dropped += len(text) - len(tail)
    return (truncation_note(dropped, limit) if dropped else "") + tail.decode("utf-8")


class BuildLog:
    """Accumulates output and writes the whole log back at most every `flush_interval` seconds, the first time
    one interval after it was opened: a build that ends within its first interval writes its log once.

    Used as a context manager, a background thread also flushes pending output every interval, so a
    build that prints once and then works quietly is visible in the log while it runs. Logs past
    settings.max_build_log_bytes keep their newest part, after a line saying how much was dropped.
    """

    def __init__(self, deployment_id: int, flush_interval: float = 1.0) -> None:
        self._deployment_id = deployment_id
        self._limit = get_settings().max_build_log_bytes
        self._flush_interval = flush_interval
        self._parts: list[tuple[str, int]] = []  # (text, its size in UTF-8 bytes)
        self._size = 0
        self._dropped = 0
        self._lock = threading.Lock()
        self._last_flush = time.monotonic()
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
            if len(data) > self._limit:  # one huge chunk: keep its tail
                tail = _tail(data, self._limit)
                self._dropped += len(data) - len(tail)
                text, data = tail.decode("utf-8"), tail
            self._parts.append((text, len(data)))
            self._size += len(data)
            self._dirty = True
            while self._size > self._limit:
                oldest, oldest_size = self._parts[0]
                excess = self._size - self._limit
                if oldest_size <= excess:
                    self._parts.pop(0)
                    dropped = oldest_size
                else:  # only the head of the oldest chunk is over: keep the rest of it
                    kept = _tail(oldest.encode("utf-8"), oldest_size - excess)
                    self._parts[0] = (kept.decode("utf-8"), len(kept))
                    dropped = oldest_size - len(kept)
                self._size -= dropped
                self._dropped += dropped
        if time.monotonic() - self._last_flush >= self._flush_interval:
            self.flush()

    def line(self, text: str) -> None:
        self.write(f"==> {text}\n")

    def text(self) -> str:
        with self._lock:
            head = truncation_note(self._dropped, self._limit) if self._dropped else ""
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
