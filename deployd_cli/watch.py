"""Following a deployment: the logs endpoint polled from the offset last reached (so no line shows twice and none
is lost), shown as a live status line with a spinner on a terminal, or as plain timestamped lines elsewhere (CI).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import click
from rich.console import Console, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from deployd_cli.client import ApiClient
from deployd_cli.errors import CANCELLED, FAILED

STAGES = ("queued", "cloning", "building", "uploading", "deploying")
TERMINAL = frozenset({"deployed", "failed", "cancelled"})
POLL_SECONDS = 1.0
TAIL_LINES = 20


def exit_code(status: str) -> int:
    return {"deployed": 0, "failed": FAILED, "cancelled": CANCELLED}.get(status, 0)


@dataclass
class LogPoll:
    """One answer of the logs endpoint: the deployment's status and the log written since the last one."""

    status: str
    text: str
    error_message: str | None
    data: dict[str, Any]


@dataclass
class LogFollower:
    """Reads a deployment's log from `offset` on, moving the offset to where each answer ends."""

    client: ApiClient
    project_id: int
    deployment_id: int
    offset: int = 0
    sleep: Callable[[float], None] = time.sleep
    tail: list[str] = field(default_factory=list)

    def poll(self) -> LogPoll:
        path = f"/projects/{self.project_id}/deployments/{self.deployment_id}/logs"
        data = self.client.get(path, offset=self.offset)
        self.offset = int(data["next_offset"])
        text = str(data.get("build_logs") or "")
        self.tail = (self.tail + text.splitlines())[-TAIL_LINES:]
        return LogPoll(str(data["status"]), text, data.get("error_message"), data)

    def follow(self) -> Iterator[LogPoll]:
        """Every answer until the deployment ends. The status is read before the log, so the answer that shows a
        final status holds every line written before it."""
        while True:
            answer = self.poll()
            yield answer
            if answer.status in TERMINAL:
                return
            self.sleep(POLL_SECONDS)


class Display(Protocol):
    def status(self, status: str) -> None: ...
    def log(self, text: str) -> None: ...
    def close(self) -> None: ...


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PlainDisplay:
    """For CI and pipes: one line per event, each with its UTC time, no spinner and no colour."""

    def __init__(self) -> None:
        self._status: str | None = None

    def status(self, status: str) -> None:
        if status != self._status:
            self._status = status
            click.echo(f"{stamp()} status: {status}")

    def log(self, text: str) -> None:
        for line in text.splitlines():
            click.echo(f"{stamp()} {line}")

    def close(self) -> None:
        pass


class _StatusLine:
    """The live line: spinner, the stages with the current one highlighted, the time since watching began."""

    def __init__(self, label: str, started: float) -> None:
        self.label = label
        self.current = "queued"
        self.started = started
        self.spinner = Spinner("dots", style="cyan")

    def __rich__(self) -> RenderableType:
        line = Text()
        line.append(f"{self.label}  ")
        reached = STAGES.index(self.current) if self.current in STAGES else len(STAGES)
        for index, stage in enumerate(STAGES):
            if index:
                line.append(" → ", style="dim")
            style = "green" if index < reached else "bold cyan" if index == reached else "dim"
            line.append(stage, style=style)
        line.append(f"  {int(time.monotonic() - self.started)}s", style="bold")
        self.spinner.update(text=line)
        return self.spinner


class LiveDisplay:
    """For a terminal: the status line stays at the bottom while the build log scrolls above it."""

    def __init__(self, console: Console, label: str, started: float) -> None:
        self._line = _StatusLine(label, started)
        self._live = Live(self._line, console=console, refresh_per_second=8, transient=True)
        self._live.start()

    def status(self, status: str) -> None:
        self._line.current = status

    def log(self, text: str) -> None:
        for line in text.splitlines():
            self._live.console.print(Text(line), highlight=False, markup=False, soft_wrap=True)

    def close(self) -> None:
        self._live.stop()


def watch(follower: LogFollower, display: Display) -> LogPoll:
    """Shows the deployment until it ends and returns its last answer. KeyboardInterrupt goes to the caller
    (which asks whether to cancel) with the display closed."""
    try:
        last: LogPoll | None = None
        for answer in follower.follow():
            # A final status was read before the log that came with it: its lines come first.
            if answer.status not in TERMINAL:
                display.status(answer.status)
            if answer.text:
                display.log(answer.text)
            if answer.status in TERMINAL:
                display.status(answer.status)
            last = answer
        assert last is not None
        return last
    finally:
        display.close()
