"""The one error the CLI shows: a single line on stderr and an exit code, never a traceback."""

from __future__ import annotations

# Exit codes (docs/cli.md): a deployment that failed, or any error, is 1 (click's usage errors are 2).
FAILED = 1
CANCELLED = 3
INTERRUPTED = 130  # Ctrl-C and "stop watching": the deployment goes on


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
