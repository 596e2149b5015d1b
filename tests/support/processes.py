"""Finding a build's processes from the test: builds run in a PID namespace of their own, so the pids a build
command prints (`$$`, `$!`) mean nothing outside it; a unique marker in the processes' arguments finds them."""

from __future__ import annotations

import os
from pathlib import Path


def processes_with(marker: str) -> list[int]:
    """Pids (as this test sees them) of the live processes whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if marker.encode() in cmdline and state not in ("Z", "X"):  # a zombie has exited already
            found.append(int(entry.name))
    return found


def marked_sleep(marker: str, seconds: int = 300) -> str:
    """A shell command running `sleep` under a shell whose $0 is `marker`, so both carry it in their arguments."""
    return f"sh -c 'sleep {seconds}; true' {marker}"
